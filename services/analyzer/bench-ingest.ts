// Ingest benchmark: protobuf batches posted to the OTLP receiver over loopback HTTP, measured in
// decoded spans per second (target >= 50,000/s). The baseline, measured in the same run, is the
// decoder alone on the same bodies, so the ratio shows what HTTP and the receiver cost.
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { assert } from '../stdx/index.js';
import { decodeOtlpProtobuf, type SpanRecord } from './otlp-decode.js';
import { encodeOtlpProtobuf } from './otlp-encode.js';
import { startOtlpReceiver } from './otlp-receiver.js';

export interface BenchIngestOptions {
  /** Requests timed (after warm-up). Default 200. */
  requestCount?: number;
  /** Spans per request. Default 500. */
  spansPerRequest?: number;
  /** Requests in flight at once, over as many keep-alive connections. Default 4. */
  concurrency?: number;
}

export interface BenchIngestResult {
  /** Spans decoded and delivered to `onSpans` per second, over HTTP. */
  spans_per_s: number;
  /** Baseline: decodeOtlpProtobuf alone on the same bodies, spans per second. */
  decode_spans_per_s: number;
  /** spans_per_s / decode_spans_per_s. */
  http_over_decode_ratio: number;
  request_count: number;
  span_count: number;
  body_bytes_mean: number;
  elapsed_ms: number;
}

const BODY_VARIANTS = 4;
const WARMUP_REQUESTS = 20;

/** Runs the benchmark on a free loopback port; prints nothing. */
export async function benchIngest(opts: BenchIngestOptions = {}): Promise<BenchIngestResult> {
  const requestCount = opts.requestCount ?? 200;
  const spansPerRequest = opts.spansPerRequest ?? 500;
  const concurrency = opts.concurrency ?? 4;
  assert(requestCount > 0 && spansPerRequest > 0 && concurrency > 0, 'positive bench sizes');

  const bodies: Uint8Array[] = [];
  for (let v = 0; v < BODY_VARIANTS; v++) {
    bodies.push(encodeOtlpProtobuf(batch(v, spansPerRequest)));
  }
  const bodyBytesMean = bodies.reduce((n, b) => n + b.length, 0) / bodies.length;

  const decodeSpansPerS = measureDecode(bodies, Math.max(10, requestCount / 4));

  let spanCount = 0;
  await using receiver = await startOtlpReceiver({
    port: 0,
    maxBodyBytes: 16 << 20,
    onSpans: (spans) => {
      spanCount += spans.length;
    },
  });
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  try {
    await postAll(receiver.url, agent, bodies, WARMUP_REQUESTS, concurrency);
    spanCount = 0;
    const t0 = performance.now();
    await postAll(receiver.url, agent, bodies, requestCount, concurrency);
    const elapsedMs = performance.now() - t0;
    assert(spanCount === requestCount * spansPerRequest, 'every posted span was decoded');
    const spansPerS = spanCount / (elapsedMs / 1000);
    return {
      spans_per_s: Math.round(spansPerS),
      decode_spans_per_s: Math.round(decodeSpansPerS),
      http_over_decode_ratio: Number((spansPerS / decodeSpansPerS).toFixed(3)),
      request_count: requestCount,
      span_count: spanCount,
      body_bytes_mean: Math.round(bodyBytesMean),
      elapsed_ms: Number(elapsedMs.toFixed(1)),
    };
  } finally {
    agent.destroy();
  }
}

/** Spans shaped like the emulator's IPI spans: a few attributes, two events, one link. */
function batch(variant: number, n: number): SpanRecord[] {
  const resource = { 'service.name': 'ipiscope-core', 'emu.core': variant };
  const traceId = (0x1000 + variant).toString(16).padStart(32, '0');
  const spans: SpanRecord[] = [];
  for (let i = 0; i < n; i++) {
    const spanId = (variant * n + i + 1).toString(16).padStart(16, '0');
    const span: SpanRecord = {
      traceId,
      spanId,
      name: i % 2 === 0 ? 'publish emu.core.1.ipi' : 'process emu.core.1.ipi',
      kind: i % 2 === 0 ? 4 : 5,
      startNs: 1_700_000_000_000_000_000n + BigInt(i * 1000),
      endNs: 1_700_000_000_000_000_000n + BigInt(i * 1000 + 700),
      attributes: {
        'messaging.system': 'nats',
        'emu.core': variant,
        'emu.thread': i % 4,
        'emu.ipi.kind': 'doorbell',
        'emu.seq': i,
      },
      events: [
        {
          name: 'store paca.host_ipi',
          timeNs: BigInt(i * 1000 + 1),
          attributes: { 'emu.version': i },
        },
        { name: 'msgsnd', timeNs: BigInt(i * 1000 + 2), attributes: { 'emu.clock': i * 2 } },
      ],
      links: [{ traceId, spanId: (i + 1).toString(16).padStart(16, '0'), attributes: {} }],
      status: { code: 0 },
      resource,
      scope: { name: 'ipiscope.tracing', version: '0.1.0' },
    };
    if (i > 0) span.parentSpanId = (variant * n + i).toString(16).padStart(16, '0');
    spans.push(span);
  }
  return spans;
}

function measureDecode(bodies: Uint8Array[], rounds: number): number {
  for (const b of bodies) decodeOtlpProtobuf(b); // warm-up
  let spans = 0;
  const t0 = performance.now();
  for (let r = 0; r < rounds; r++) spans += decodeOtlpProtobuf(bodies[r % bodies.length]!).length;
  return spans / ((performance.now() - t0) / 1000);
}

async function postAll(
  url: string,
  agent: Agent,
  bodies: Uint8Array[],
  count: number,
  concurrency: number,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      await postOne(url, agent, bodies[i % bodies.length]!);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

function postOne(url: string, agent: Agent, body: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        headers: { 'Content-Type': 'application/x-protobuf', 'Content-Length': body.length },
      },
      (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode === 200) resolve();
          else reject(new Error(`receiver answered ${res.statusCode}`));
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
