// The store folder's face: the public facade (Store, BucketHandle) on top of
// the engine, whose face it passes on so code above needs one import
// (src/index.ts picks what is public).
export * from '../engine/index.js';
export type { BackupFileInfo, BackupToOptions, StorePersistenceConfig } from '../persistence/index.js';
// Comparing definitions, as a restore does (the CLI's `migrate` reports and checks changes with them).
export {
  type DefinitionDiff,
  diffDefinitions,
  sameDefinition,
  serializeDefinition,
  stableJson,
} from '../persistence/index.js';
export { BucketHandle } from './bucket-handle.js';
export { type AnyStore, type BucketDefinitions, defineSchema, Store, type StoreOptions } from './store.js';
