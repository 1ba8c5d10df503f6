// The analyzer's public surface. Ingest: OTLP decoding, the OTLP/HTTP receiver, span files.
export {
  ANY_VALUE_DEPTH_MAX,
  decodeContentEncoding,
  decodeOtlpJson,
  decodeOtlpJsonValue,
  decodeOtlpProtobuf,
  decodeOtlpRequest,
  OTLP_CONTENT_TYPE,
  OtlpDecodeError,
  otlpEncodingOf,
} from './otlp-decode.js';
export type {
  Attributes,
  AttrValue,
  DecodeOtlpRequestOptions,
  OtlpEncoding,
  SpanEvent,
  SpanLink,
  SpanRecord,
  SpanStatus,
} from './otlp-decode.js';
export {
  decodeOtlpStatus,
  encodeOtlpJson,
  encodeOtlpProtobuf,
  encodeOtlpResponse,
  encodeOtlpStatus,
} from './otlp-encode.js';
export type {
  OtlpJsonAnyValue,
  OtlpJsonKeyValue,
  OtlpJsonRequest,
  OtlpJsonSpan,
} from './otlp-encode.js';
export { otlpProtoDir, otlpSchema } from './otlp-schema.js';
export type { OtlpSchema } from './otlp-schema.js';
export { OTLP_TRACES_PATH, startOtlpReceiver } from './otlp-receiver.js';
export type {
  OtlpReceiverOptions,
  OtlpReceiverStats,
  StartedOtlpReceiver,
} from './otlp-receiver.js';
export { readSpanFile, writeSpanFileLine } from './span-file.js';
export type { ReadSpanFileOptions, SpanFileResult } from './span-file.js';
export { benchIngest } from './bench-ingest.js';
export type { BenchIngestOptions, BenchIngestResult } from './bench-ingest.js';
