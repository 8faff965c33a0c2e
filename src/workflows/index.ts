/** The workflow bundle's entry point: every workflow berthd runs is exported from here. */
export { nodeInfo } from './node-info.js';
export { demoTransition } from './demo.js';
export { noopTransition } from './noop.js';
export { createSandbox, stopSandbox, removeSandbox } from './sandboxes.js';
export { pullImage } from './pull-image.js';
export { importImage, removeImage, tagImage } from './image-admin.js';
export { createContainer, startContainer, stopContainer, removeContainer } from './containers.js';
