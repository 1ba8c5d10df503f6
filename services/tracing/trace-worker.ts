/**
 * The worker thread of an offloaded sim trace (see `createTracing`, `offload`): it builds the
 * spans and exports them while the run goes on. Chunks of packed events come in order; after
 * each one the count of chunks done is published (the run's thread waits on it when too many are
 * outstanding, so memory stays bounded). `end` finishes the spans at the run's last tick, flushes
 * and shuts the exporters down, and answers with the statistics. A failure is published too
 * (the run's thread stops waiting) and reported at `end`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { assert } from '../stdx/index.js';
import { createTracing } from './create-tracing.js';
import type { TracingOptions } from './create-tracing.js';
import { EventUnpacker } from './event-pack.js';
import type { PackedChunk } from './event-pack.js';

export interface TraceWorkerData {
  options: Omit<TracingOptions, 'exporter'>;
  /** Int32Array over a SharedArrayBuffer: [chunks done, failed (0/1)]. */
  progress: SharedArrayBuffer;
}

export type TraceWorkerRequest = { t: 'chunk'; chunk: PackedChunk } | { t: 'end'; tickEnd?: number };
export type TraceWorkerReply =
  | { t: 'done'; spanCount: number; spanCountDropped: number; ipisTraced: number }
  | { t: 'failed'; message: string };

const port = parentPort;
assert(port !== null, 'trace-worker runs as a worker thread');
const data = workerData as TraceWorkerData;
const progress = new Int32Array(data.progress);
const tracing = createTracing({ ...data.options, offload: false });
const observer = tracing.ipiObserver;
assert(observer !== null, 'the offloaded tracer is on');
const unpacker = new EventUnpacker();
let failure: string | null = null;

function fail(e: unknown): void {
  failure ??= e instanceof Error ? (e.stack ?? e.message) : String(e);
  Atomics.store(progress, 1, 1);
  Atomics.notify(progress, 0);
}

port.on('message', (m: TraceWorkerRequest) => {
  if (m.t === 'chunk') {
    if (failure === null) {
      try {
        unpacker.unpack(m.chunk, (ev) => observer.event(ev));
        if (m.chunk.tickMax > observer.tickMax) observer.tickMax = m.chunk.tickMax;
      } catch (e) {
        fail(e);
      }
    }
    Atomics.add(progress, 0, 1);
    Atomics.notify(progress, 0);
    return;
  }
  void (async () => {
    try {
      if (failure === null) await tracing.shutdown(m.tickEnd !== undefined ? { tickEnd: m.tickEnd } : {});
    } catch (e) {
      fail(e);
    }
    const reply: TraceWorkerReply =
      failure !== null ? { t: 'failed', message: failure } : { t: 'done', ...tracing.stats() };
    port.postMessage(reply);
  })();
});
