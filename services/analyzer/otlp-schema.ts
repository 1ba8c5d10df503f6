// Loads the OTLP trace schema (proto/opentelemetry/...) into protobufjs at run time. The proto
// directory is found by walking up from this module, so the same code works from the sources
// (services/analyzer/) and from the build (dist/services/analyzer/).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

const TRACE_SERVICE_PROTO = 'opentelemetry/proto/collector/trace/v1/trace_service.proto';
const PARENT_DIRS_MAX = 6;

/** The protobufjs types the analyzer uses, all from the upstream OTLP packages. */
export interface OtlpSchema {
  readonly ExportTraceServiceRequest: protobuf.Type;
  readonly ExportTraceServiceResponse: protobuf.Type;
  /** `google.rpc.Status` (code, message), the body of OTLP/HTTP error responses. */
  readonly Status: protobuf.Type;
}

let schema: OtlpSchema | undefined;

/** Directory holding `opentelemetry/proto/...`, i.e. the repository's `proto/`. */
export function otlpProtoDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i <= PARENT_DIRS_MAX; i++) {
    const candidate = join(dir, 'proto');
    if (existsSync(join(candidate, TRACE_SERVICE_PROTO))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new Error(
    `cannot find proto/${TRACE_SERVICE_PROTO} above ${fileURLToPath(import.meta.url)}; ` +
      'the OTLP schema ships in the repository proto/ directory, keep it next to dist/',
  );
}

/** The OTLP schema, loaded once. */
export function otlpSchema(): OtlpSchema {
  if (schema !== undefined) return schema;
  const protoDir = otlpProtoDir();
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => join(protoDir, target);
  root.loadSync(TRACE_SERVICE_PROTO);
  root.resolveAll();
  // google.rpc.Status without google.protobuf.Any details: we never send details, and a
  // reader skips the absent field 3 anyway.
  const rpc = protobuf.Root.fromJSON({
    nested: {
      google: {
        nested: {
          rpc: {
            nested: {
              Status: {
                fields: { code: { type: 'int32', id: 1 }, message: { type: 'string', id: 2 } },
              },
            },
          },
        },
      },
    },
  });
  schema = {
    ExportTraceServiceRequest: root.lookupType(
      'opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest',
    ),
    ExportTraceServiceResponse: root.lookupType(
      'opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse',
    ),
    Status: rpc.lookupType('google.rpc.Status'),
  };
  return schema;
}
