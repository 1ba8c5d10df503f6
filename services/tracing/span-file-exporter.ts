/**
 * `--trace-file FILE`: every exported batch becomes one OTLP/JSON export request on one line of
 * FILE (the span-file format `ipiscope analyze FILE` reads). Writes are synchronous so that a
 * `sim` run, which never yields to the event loop, still writes as it goes and loses nothing.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import type { HrTime } from '@opentelemetry/api';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import type { ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { encodeOtlpJson, writeSpanFileLine } from '../analyzer/index.js';
import type { Attributes, SpanRecord } from '../analyzer/index.js';
import { UserError } from '../stdx/index.js';

function hrNs(t: HrTime): bigint {
  return BigInt(t[0]) * 1_000_000_000n + BigInt(t[1]);
}

// OTLP's SpanKind is the API's plus one (0 is UNSPECIFIED on the wire).
const OTLP_KIND: Record<SpanKind, number> = {
  [SpanKind.INTERNAL]: 1,
  [SpanKind.SERVER]: 2,
  [SpanKind.CLIENT]: 3,
  [SpanKind.PRODUCER]: 4,
  [SpanKind.CONSUMER]: 5,
};

/** An SDK span as the analyzer's SpanRecord (what the OTLP encoders take). */
export function spanRecordOf(s: ReadableSpan): SpanRecord {
  const sc = s.spanContext();
  const r: SpanRecord = {
    traceId: sc.traceId,
    spanId: sc.spanId,
    name: s.name,
    kind: OTLP_KIND[s.kind],
    startNs: hrNs(s.startTime),
    endNs: hrNs(s.endTime),
    attributes: { ...(s.attributes as Attributes) },
    events: s.events.map((e) => ({ name: e.name, timeNs: hrNs(e.time), attributes: { ...((e.attributes ?? {}) as Attributes) } })),
    links: s.links.map((l) => ({
      traceId: l.context.traceId,
      spanId: l.context.spanId,
      attributes: { ...((l.attributes ?? {}) as Attributes) },
    })),
    status: s.status.code === SpanStatusCode.UNSET ? { code: 0 } : { code: s.status.code, ...(s.status.message ? { message: s.status.message } : {}) },
    resource: s.resource.attributes as Attributes,
    scope: { name: s.instrumentationScope.name, ...(s.instrumentationScope.version ? { version: s.instrumentationScope.version } : {}) },
  };
  const parent = s.parentSpanContext;
  if (parent !== undefined) r.parentSpanId = parent.spanId;
  return r;
}

export class SpanFileExporter implements SpanExporter {
  private fd: number | null;
  spanCount = 0;
  lineCount = 0;

  constructor(readonly path: string) {
    try {
      this.fd = openSync(path, 'w');
    } catch (e) {
      throw new UserError(`cannot open trace file ${path} for writing (${(e as Error).message}); check the directory exists and is writable`);
    }
  }

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    if (this.fd === null) {
      resultCallback({ code: ExportResultCode.FAILED, error: new Error(`trace file ${this.path} is closed`) });
      return;
    }
    if (spans.length > 0) {
      writeSync(this.fd, writeSpanFileLine(encodeOtlpJson(spans.map(spanRecordOf))));
      this.spanCount += spans.length;
      this.lineCount++;
    }
    resultCallback({ code: ExportResultCode.SUCCESS });
  }

  async forceFlush(): Promise<void> {}

  async shutdown(): Promise<void> {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}
