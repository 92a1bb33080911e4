// `quiredb/client` in a browser (chosen by package.json's "browser" export
// condition): the Node client's API over `fetch` and the browser's
// WebSocket, with no Node module. No stdio client: a page spawns no process.

export { connectWebSocket, WebSocketClient } from './browser-websocket.js';
export * from './common.js';
export { connectHttp, HttpClient, type HttpClientOptions } from './fetch-http.js';
