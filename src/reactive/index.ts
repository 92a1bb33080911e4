export { createDeclarativeQuery } from './declarative.js';
export { type ReadableBucket, TrackingContext } from './query-context.js';
export { QueryManager } from './query-manager.js';
