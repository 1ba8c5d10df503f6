// Span builders shared by the analyzer ingest tests.
import type { SpanRecord } from '../../../services/analyzer/index.js';

export const TRACE_A = '0af7651916cd43dd8448eb211c80319c';
export const TRACE_B = '4bf92f3577b34da6a3ce929d0e0e4736';

export const RESOURCE_CORE_0 = { 'service.name': 'ipiscope-core', 'emu.core': 0 };
export const RESOURCE_CORE_1 = { 'service.name': 'ipiscope-core', 'emu.core': 1 };

/** A span id that is never all zero: `i` in hex, offset so that i = 0 is valid. */
export function spanIdOf(i: number): string {
  return (i + 1).toString(16).padStart(16, '0');
}

/** A span exercising every SpanRecord field and every AttrValue kind. */
export function richSpan(): SpanRecord {
  return {
    traceId: TRACE_A,
    spanId: spanIdOf(1),
    parentSpanId: spanIdOf(0),
    name: 'msgsnd doorbell',
    kind: 4,
    startNs: 1_700_000_000_123_456_789n,
    endNs: (1n << 64n) - 1n,
    attributes: {
      'emu.ipi.kind': 'doorbell',
      'emu.ipi.sync': true,
      'emu.core': 3,
      'emu.seq.big': -(1n << 62n),
      'emu.ratio': 0.25,
      'emu.raw': new Uint8Array([0, 1, 254, 255]),
      'emu.path': ['smp_muxed_ipi_message_pass', 7, null, [false]],
      'emu.store': { location: 'paca.host_ipi', version: 12, nested: { deep: 'yes' } },
      'emu.empty': null,
    },
    events: [
      { name: 'store', timeNs: 10n, attributes: { 'emu.coherence.version': 4 } },
      { name: 'msgsync', timeNs: 0n, attributes: {} },
    ],
    links: [{ traceId: TRACE_B, spanId: spanIdOf(9), attributes: { 'messaging.system': 'nats' } }],
    status: { code: 2, message: 'IPI ignored' },
    resource: RESOURCE_CORE_0,
    scope: { name: 'ipiscope.tracing', version: '0.1.0' },
  };
}

/** A small span; `parent` names the parent span index, if any. */
export function plainSpan(
  i: number,
  opts: { parent?: number; traceId?: string; resource?: SpanRecord['resource'] } = {},
): SpanRecord {
  const span: SpanRecord = {
    traceId: opts.traceId ?? TRACE_A,
    spanId: spanIdOf(i),
    name: `span-${i}`,
    kind: 1,
    startNs: BigInt(1000 * i),
    endNs: BigInt(1000 * i + 500),
    attributes: { 'emu.thread': i % 4, 'emu.note': `n${i}` },
    events: [{ name: 'tick', timeNs: BigInt(1000 * i + 1), attributes: { 'emu.clock': i } }],
    links: [],
    status: { code: 0 },
    resource: opts.resource ?? RESOURCE_CORE_0,
    scope: { name: 'ipiscope.tracing' },
  };
  if (opts.parent !== undefined) span.parentSpanId = spanIdOf(opts.parent);
  return span;
}
