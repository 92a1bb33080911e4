export { parseDuration } from './duration.js';
export { TtlManager } from './ttl-manager.js';
