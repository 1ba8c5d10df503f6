// Tracing: machine events to OpenTelemetry spans (one trace per IPI), the NATS header carrier,
// seeded ids for sim, and the trace-file exporter. Wired only by entry points.
export { createTracing, SimSpanProcessor, SIM_EPOCH_S } from './create-tracing.js';
export type { Tracing, TracingOptions, TracingStats } from './create-tracing.js';
export { IpiTraceObserver, TRACED_IPIS_MAX } from './ipi-observer.js';
export type { IpiTraceObserverOptions } from './ipi-observer.js';
export {
  extractTraceContext,
  injectTraceContext,
  installW3cPropagator,
  mapCarrier,
  natsHeaderGetter,
  natsHeaderSetter,
  spanContextOf,
  traceparentOf,
} from './nats-carrier.js';
export type { HeaderCarrier } from './nats-carrier.js';
export { SeededIdGenerator } from './seeded-ids.js';
export { otlpJsonLine, SpanFileExporter, spanRecordOf } from './span-file-exporter.js';
export {
  ATTR,
  SPAN,
  IPI_OUTCOMES,
  MSG_NAMES,
  msgName,
  doorbellSubject,
  SERVICE_NAME,
  SCOPE_NAME,
} from './semconv.js';
export type { IpiOutcome } from './semconv.js';
