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
export { judgeSpans, rebuildEvents, machineEventOf, versionOfStore } from './ipi-judge.js';
export type { IpiRecord, Judged, JudgeOptions, Judgement, SpanMachineEvent } from './ipi-judge.js';
export { Explainer, explainIgnored } from './explain.js';
export type { Explanation } from './explain.js';
export { analyzeSpans, formatAnalysis, LiveAnalyzer } from './analyze.js';
export type { Analysis, AnalyzeOptions, AnalyzeSummary, AnalyzeSummaryIpi } from './analyze.js';
export { renderReportHtml } from './report-html.js';
export type { ReportOptions } from './report-html.js';
export { runSimTraced } from './sim-trace.js';
export type { TracedSimOptions } from './sim-trace.js';
