/**
 * Loads cri-api's api.proto at runtime with the same options the build used to generate
 * the TypeScript types, so the wire format and the types agree (snake_case fields, int64 as
 * numbers, enums as their names, defaults filled in, oneofs named).
 */
import * as grpc from '@grpc/grpc-js';
import { loadSync, type Options } from '@grpc/proto-loader';
import { FailedPreconditionError } from '../common/errors.js';
import type { ProtoGrpcType } from './generated/api.js';
import { CRI_PROTO_PATH } from './generated/proto-path.js';

export const CRI_LOADER_OPTIONS: Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
};

let cached: ProtoGrpcType | undefined;

/** The loaded `runtime.v1` package: service definitions for servers and client constructors for tests. */
export function loadCriProto(protoPath: string = CRI_PROTO_PATH): ProtoGrpcType {
  if (cached && protoPath === CRI_PROTO_PATH) return cached;
  let loaded: ProtoGrpcType;
  try {
    const definition = loadSync(protoPath, CRI_LOADER_OPTIONS);
    loaded = grpc.loadPackageDefinition(definition) as unknown as ProtoGrpcType;
  } catch (err) {
    throw new FailedPreconditionError(
      `cannot load the CRI api.proto at ${protoPath} (run the setup script, then npm run build): ${String(err)}`,
      { cause: err },
    );
  }
  if (protoPath === CRI_PROTO_PATH) cached = loaded;
  return loaded;
}
