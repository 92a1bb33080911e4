// Error classes shared by every folder (a leaf module: it imports nothing).
export * from './errors.js';
