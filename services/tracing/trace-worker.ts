/**
 * The worker thread of offloaded sim tracing (see `createTracing`, `offload`): it builds the
 * spans and exports them while the run goes on. One worker serves the process's traced runs in
 * turn (its code stays compiled and warm from one run to the next). Per run: `start` with the
 * tracing options, then chunks of packed events in order; after each chunk the count of chunks
 * done is published (the run's thread waits on it when too many are outstanding, so memory stays
 * bounded); `end` finishes the spans at the run's last tick, flushes and shuts the exporters down,
 * and answers with the statistics. A failure is published too (the run's thread stops waiting)
 * and reported at `end`.
 */
import { parentPort } from 'node:worker_threads';
import { assert } from '../stdx/index.js';
import { createTracing } from './create-tracing.js';
import type { Tracing, TracingOptions } from './create-tracing.js';
import { EventUnpacker } from './event-pack.js';
import type { PackedChunk } from './event-pack.js';

export type TraceWorkerRequest =
  | {
      t: 'start';
      options: Omit<TracingOptions, 'exporter'>;
      /** Int32Array over a SharedArrayBuffer: [chunks done, failed (0/1)]. */
      progress: SharedArrayBuffer;
    }
  | { t: 'chunk'; chunk: PackedChunk }
  | { t: 'end'; tickEnd?: number };
export type TraceWorkerReply =
  | { t: 'done'; spanCount: number; spanCountDropped: number; ipisTraced: number }
  | { t: 'failed'; message: string };

const port = parentPort;
assert(port !== null, 'trace-worker runs as a worker thread');

interface Session {
  /** null when the tracing could not be created (`failure` says why). */
  tracing: Tracing | null;
  progress: Int32Array;
  unpacker: EventUnpacker;
  failure: string | null;
}
let session: Session | null = null;

function fail(s: Session, e: unknown): void {
  s.failure ??= e instanceof Error ? (e.stack ?? e.message) : String(e);
  Atomics.store(s.progress, 1, 1);
  Atomics.notify(s.progress, 0);
}

port.on('message', (m: TraceWorkerRequest) => {
  if (m.t === 'start') {
    assert(session === null, 'a traced run started before the last one ended');
    const progress = new Int32Array(m.progress);
    const s: Session = { tracing: null, progress, unpacker: new EventUnpacker(), failure: null };
    try {
      s.tracing = createTracing({ ...m.options, offload: false });
    } catch (e) {
      fail(s, e);
    }
    session = s;
    return;
  }
  const s = session;
  assert(s !== null, `trace worker: ${m.t} outside a run`);
  if (m.t === 'chunk') {
    const observer = s.tracing?.ipiObserver ?? null;
    if (s.failure === null && observer !== null) {
      try {
        s.unpacker.unpack(m.chunk, (ev) => observer.event(ev));
        if (m.chunk.tickMax > observer.tickMax) observer.tickMax = m.chunk.tickMax;
      } catch (e) {
        fail(s, e);
      }
    }
    Atomics.add(s.progress, 0, 1);
    Atomics.notify(s.progress, 0);
    return;
  }
  void (async () => {
    try {
      if (s.failure === null) await s.tracing?.shutdown(m.tickEnd !== undefined ? { tickEnd: m.tickEnd } : {});
    } catch (e) {
      fail(s, e);
    }
    session = null;
    const reply: TraceWorkerReply =
      s.failure !== null || s.tracing === null
        ? { t: 'failed', message: s.failure ?? 'no tracing' }
        : { t: 'done', ...s.tracing.stats() };
    port.postMessage(reply);
  })();
});
