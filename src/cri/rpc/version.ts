/** Version: names the runtime and the CRI API it speaks; needs nothing from the backend. */
import type { VersionRequest__Output } from '../generated/runtime/v1/VersionRequest.js';
import type { VersionResponse } from '../generated/runtime/v1/VersionResponse.js';
import type { UnaryRpc } from './context.js';

/** The kubelet-facing API version string every CRI runtime reports (containerd and CRI-O alike). */
const KUBE_RUNTIME_API_VERSION = '0.1.0';

export const version: UnaryRpc<VersionRequest__Output, VersionResponse> = async (_request, ctx) => ({
  version: KUBE_RUNTIME_API_VERSION,
  runtime_name: 'berth',
  runtime_version: ctx.runtimeVersion,
  runtime_api_version: 'v1',
});
