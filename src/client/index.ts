// `quiredb/client` in Node: typed JSON-RPC clients for a Quire server over
// HTTP, WebSocket (with automatic reconnect) and a child process's stdio.
// Browsers get browser.ts instead (package.json's "browser" condition): the
// same API over fetch and the browser's WebSocket, without stdio.
export * from './common.js';
export { connectHttp, HttpClient, type HttpClientOptions } from './http.js';
export { StdioClient, type StdioClientOptions, spawnStdio } from './stdio.js';
export { connectWebSocket, WebSocketClient } from './websocket.js';
