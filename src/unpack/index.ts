export { applyLayer, type ApplyOptions, type ApplyResult } from './apply.js';
export {
  unpackLayers,
  removeStaleExtractions,
  DIFF_ID_LABEL,
  EXTRACT_PREFIX,
  type LayerSource,
  type UnpackedLayer,
} from './unpacker.js';
export { compressionOf, type Compression } from './decompress.js';
export { prestartLayerDecoder } from './decode.js';
export { SysOps } from './sysops.js';
export type { DevicePolicy, SkippedDevice } from './writer.js';
export type { ApplyMode } from './view.js';
export * from './errors.js';
