/** Public surface of the content store. */
export * from './digest.js';
export * from './errors.js';
export * from './store.js';
export { FsContentStore } from './fs-store.js';
