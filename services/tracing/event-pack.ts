/**
 * Machine events packed into transferable chunks, so that a sim run can hand its tracing to a
 * worker thread: the run's thread only copies a few numbers per event into a `Float64Array`, and
 * the worker rebuilds the events, in the same order, for the same `IpiTraceObserver` (the spans,
 * their seeded ids and the trace file come out byte for byte as if traced in-process).
 *
 * Only what the span builder reads is packed (the same filters it applies first): loads, stores
 * and versions of the locations it has a role for, atomics on IPI message words, completed syncs
 * and msgsync, IPI sends, interrupts, tracepoints and thread ends. The highest tick of every
 * event is kept, since the builder ends a run at it.
 *
 * A chunk: `CHUNK_EVENTS` events of `SLOTS` numbers [kind, core, cpu, clock, tick, f0..f6];
 * strings (atomic ops, barrier kinds, interrupt sources, tracepoint names) are numbered once, the
 * new ones travelling with the chunk that first uses them; a tracepoint's attributes travel as
 * JSON in the chunk's side list.
 */
import type { MachineEvent, MachineEventKind, MachineObserver } from '../machine/index.js';
import { assert } from '../stdx/index.js';

export const SLOTS = 12;
export const CHUNK_EVENTS = 4096;

const KINDS: readonly MachineEventKind[] = [
  'store', 'version', 'visible', 'load', 'rmw', 'barrier', 'ipi_send', 'irq_raise', 'irq_take',
  'irq_return', 'doorbell_clear', 'nap', 'wake', 'tp', 'thread_end',
];
/** A kind's number in a chunk: its index in KINDS. */
const KIND_CODE = Object.fromEntries(KINDS.map((k, i) => [k, i])) as Record<MachineEventKind, number>;

/** One chunk as posted to the worker (its buffer is transferred). */
export interface PackedChunk {
  data: Float64Array;
  count: number;
  /** Strings numbered since the previous chunk, in number order. */
  strings: string[];
  /** Tracepoint attributes (JSON) of this chunk, by the index in the event's slot. */
  side: string[];
  /** Highest tick of any event so far (filtered ones included). */
  tickMax: number;
}

export class EventPacker implements MachineObserver {
  readonly ignores: readonly MachineEventKind[] = ['visible', 'nap', 'wake', 'doorbell_clear'];
  private data = new Float64Array(CHUNK_EVENTS * SLOTS);
  private count = 0;
  private readonly strings = new Map<string, number>();
  private fresh: string[] = [];
  private side: string[] = [];
  tickMax = 0;
  events = 0;

  constructor(
    /** Whether the span builder reads the event (`spanBuilderReads` with the run's roles). */
    private readonly reads: (ev: MachineEvent) => boolean,
    private readonly post: (c: PackedChunk) => void,
  ) {}

  private str(s: string): number {
    let id = this.strings.get(s);
    if (id === undefined) {
      id = this.strings.size;
      this.strings.set(s, id);
      this.fresh.push(s);
    }
    return id;
  }

  event(ev: MachineEvent): void {
    if (ev.tick > this.tickMax) this.tickMax = ev.tick;
    if (!this.reads(ev)) return;
    const d = this.data;
    const o = this.count * SLOTS;
    d[o] = KIND_CODE[ev.e];
    d[o + 1] = ev.core;
    d[o + 2] = ev.cpu;
    d[o + 3] = ev.clock;
    d[o + 4] = ev.tick;
    switch (ev.e) {
      case 'store':
        d[o + 5] = ev.loc;
        d[o + 6] = ev.wid;
        d[o + 7] = ev.value;
        d[o + 8] = ev.lane;
        break;
      case 'version':
        d[o + 5] = ev.loc;
        d[o + 6] = ev.wid;
        d[o + 7] = ev.version;
        d[o + 8] = ev.value;
        break;
      case 'load':
        d[o + 5] = ev.loc;
        d[o + 6] = ev.value;
        d[o + 7] = ev.version;
        d[o + 8] = ev.own ? 1 : 0;
        break;
      case 'rmw':
        d[o + 5] = ev.loc;
        d[o + 6] = this.str(ev.op);
        d[o + 7] = ev.old;
        d[o + 8] = ev.oldVersion;
        d[o + 9] = ev.value;
        d[o + 10] = ev.version;
        d[o + 11] = ev.wid;
        break;
      case 'barrier':
        d[o + 5] = this.str(ev.kind);
        d[o + 6] = this.str(ev.phase);
        break;
      case 'ipi_send':
        d[o + 5] = this.str(ev.via);
        d[o + 6] = ev.target;
        d[o + 7] = ev.id;
        break;
      case 'irq_raise':
        d[o + 5] = this.str(ev.source);
        d[o + 6] = ev.id;
        break;
      case 'irq_take':
      case 'irq_return':
        d[o + 5] = this.str(ev.source);
        break;
      case 'tp':
        d[o + 5] = this.str(ev.name);
        d[o + 6] = this.side.length;
        this.side.push(JSON.stringify(ev.attrs));
        break;
      default:
        break;
    }
    this.events++;
    if (++this.count === CHUNK_EVENTS) this.flush();
  }

  /** Posts what is packed (also when empty: the tick high-water mark travels with it). */
  flush(): void {
    const chunk: PackedChunk = { data: this.data, count: this.count, strings: this.fresh, side: this.side, tickMax: this.tickMax };
    this.data = new Float64Array(CHUNK_EVENTS * SLOTS);
    this.count = 0;
    this.fresh = [];
    this.side = [];
    this.post(chunk);
  }
}

/** The worker side: turns chunks back into events, in order. */
export class EventUnpacker {
  private readonly strings: string[] = [];

  unpack(c: PackedChunk, each: (ev: MachineEvent) => void): void {
    for (const s of c.strings) this.strings.push(s);
    const d = c.data;
    const str = (x: number): string => {
      const s = this.strings[x];
      assert(s !== undefined, `packed event names string ${x}, which was never sent`);
      return s;
    };
    for (let i = 0; i < c.count; i++) {
      const o = i * SLOTS;
      const kind = KINDS[d[o] as number];
      const core = d[o + 1] as number;
      const cpu = d[o + 2] as number;
      const clock = d[o + 3] as number;
      const tick = d[o + 4] as number;
      const f = (j: number): number => d[o + 5 + j] as number;
      switch (kind) {
        case 'store':
          each({ e: 'store', core, cpu, clock, tick, loc: f(0), wid: f(1), value: f(2), lane: f(3) });
          break;
        case 'version':
          each({ e: 'version', core, cpu, clock, tick, loc: f(0), wid: f(1), version: f(2), value: f(3) });
          break;
        case 'load':
          each({ e: 'load', core, cpu, clock, tick, loc: f(0), value: f(1), version: f(2), own: f(3) === 1 });
          break;
        case 'rmw':
          each({ e: 'rmw', core, cpu, clock, tick, loc: f(0), op: str(f(1)), old: f(2), oldVersion: f(3), value: f(4), version: f(5), wid: f(6) });
          break;
        case 'barrier':
          each({ e: 'barrier', core, cpu, clock, tick, kind: str(f(0)), phase: str(f(1)) as 'begin' | 'end' });
          break;
        case 'ipi_send':
          each({ e: 'ipi_send', core, cpu, clock, tick, via: str(f(0)) as 'msgsnd' | 'msgsndp' | 'mfrr', target: f(1), id: f(2) });
          break;
        case 'irq_raise':
          each({ e: 'irq_raise', core, cpu, clock, tick, source: str(f(0)), id: f(1) });
          break;
        case 'irq_take':
          each({ e: 'irq_take', core, cpu, clock, tick, source: str(f(0)) });
          break;
        case 'irq_return':
          each({ e: 'irq_return', core, cpu, clock, tick, source: str(f(0)) });
          break;
        case 'tp': {
          const attrs = c.side[f(1)];
          assert(attrs !== undefined, 'packed tracepoint without its attributes');
          each({ e: 'tp', core, cpu, clock, tick, name: str(f(0)), attrs: JSON.parse(attrs) as Record<string, number | string | boolean> });
          break;
        }
        case 'thread_end':
          each({ e: 'thread_end', core, cpu, clock, tick });
          break;
        default:
          assert(false, `packed event of unknown kind ${d[o]}`);
      }
    }
  }
}
