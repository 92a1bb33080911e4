// The error classes live in src/errors (a leaf, so any folder can extend them without import cycles).
export * from '../errors/index.js';
