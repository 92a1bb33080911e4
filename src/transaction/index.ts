export { TransactionBucketHandle, TransactionContext } from './transaction.js';
