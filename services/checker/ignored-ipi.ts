/**
 * Ignored-IPI checker: the machine's own ground truth, built from the event stream alone (no
 * kernel bookkeeping), so it can run online in `sim` and offline over events rebuilt from spans.
 *
 * Contract with the kernel model: right before the byte store that sets message `msg` for CPU
 * `target`, the sender emits `tp('ipi_message_set', {ipi_id, target, msg})`. The checker links
 * the sender's next `store` to `ipi_message[target]` to that IPI, learns the store's coherence
 * version from the home's `version` event (by write id), and marks the IPI consumed when the
 * target's atomic on that word (`rmw`) read a version at least as new with the message byte set.
 * An IPI whose store was ordered more than `settleTicks` before the end of the run and that was
 * never consumed is ignored.
 */
import { assert } from '../stdx/index.js';
import type { MachineEvent, MachineObserver } from '../machine/index.js';
import { laneOf } from '../machine/locations.js';

export interface IgnoredIpi {
  ipi_id: string;
  sender_cpu: number;
  target_cpu: number;
  msg: number;
  /** Tick at which the home ordered the message store (-1: never reached its home). */
  ordered_tick: number;
}

export interface TrackedIpi {
  id: string;
  sender: number;
  target: number;
  msg: number;
  loc: number;
  wid: number;
  version: number;
  orderedTick: number;
  /** The core that ordered it (the message word's home: the target's core), whose clock
   * `orderedTick` is on. */
  orderedCore: number;
}

export interface IgnoredIpiOptions {
  /** Location id of ipi_message[cpu], indexed by cpu. */
  messageLocs: readonly number[];
}

export interface IgnoredIpiResult {
  valid: boolean;
  errors: string[];
  sent: number;
  consumed: number;
  ignored: IgnoredIpi[];
}

/** Bound on IPIs tracked at once (a run that exceeds it is invalid: the checker lost faith). */
export const TRACKED_IPIS_MAX = 1_000_000;

export class IgnoredIpiChecker implements MachineObserver {
  readonly ignores = ['visible', 'load'] as const;
  private readonly targetOfLoc = new Map<number, number>();
  private readonly messageLocs: readonly number[];
  /** Announced by a tp, waiting for the sender's store (by sender cpu). */
  private readonly announced = new Map<number, TrackedIpi>();
  /** Stored, waiting for the home's version (by write id). */
  private readonly byWid = new Map<number, TrackedIpi>();
  /** Versioned and not yet consumed, per message word. */
  private readonly open = new Map<number, TrackedIpi[]>();
  private readonly errors: string[] = [];
  sent = 0;
  consumed = 0;
  private tracked = 0;
  lastTick = 0;
  /** Told of each IPI as the target's demux consumes it (e.g. `LostIpiObserver`), at the tick of
   * that exchange. */
  onConsumed: ((ipi: Readonly<TrackedIpi>, tick: number) => void) | null = null;

  constructor(opts: IgnoredIpiOptions) {
    this.messageLocs = opts.messageLocs;
    opts.messageLocs.forEach((loc, cpu) => this.targetOfLoc.set(loc, cpu));
  }

  event(ev: MachineEvent): void {
    if (ev.tick > this.lastTick) this.lastTick = ev.tick;
    switch (ev.e) {
      case 'tp': {
        if (ev.name !== 'ipi_message_set') return;
        const target = Number(ev.attrs['target']);
        const msg = Number(ev.attrs['msg']);
        const id = String(ev.attrs['ipi_id']);
        assert(!this.announced.has(ev.cpu), `cpu ${ev.cpu}: ipi ${id} announced before the previous one was stored`);
        const loc = this.messageLocs[target] ?? -1;
        assert(loc >= 0, `ipi ${id}: target ${target} has no message word`);
        this.announced.set(ev.cpu, { id, sender: ev.cpu, target, msg, loc, wid: -1, version: -1, orderedTick: -1, orderedCore: -1 });
        this.sent++;
        return;
      }
      case 'store': {
        const a = this.announced.get(ev.cpu);
        if (a === undefined || a.loc !== ev.loc) return;
        assert(ev.lane === a.msg, `ipi ${a.id}: store to lane ${ev.lane}, expected lane ${a.msg}`);
        this.announced.delete(ev.cpu);
        a.wid = ev.wid;
        this.byWid.set(ev.wid, a);
        if (++this.tracked > TRACKED_IPIS_MAX) this.errors.push(`more than ${TRACKED_IPIS_MAX} IPIs in flight`);
        return;
      }
      case 'version': {
        const a = this.byWid.get(ev.wid);
        if (a === undefined) return;
        this.byWid.delete(ev.wid);
        assert(ev.loc === a.loc, `ipi ${a.id}: versioned at another location`);
        a.version = ev.version;
        a.orderedTick = ev.tick;
        a.orderedCore = ev.core;
        let list = this.open.get(a.loc);
        if (list === undefined) {
          list = [];
          this.open.set(a.loc, list);
        }
        list.push(a);
        return;
      }
      case 'rmw': {
        const list = this.open.get(ev.loc);
        if (list === undefined || list.length === 0) return;
        const target = this.targetOfLoc.get(ev.loc);
        if (target !== ev.cpu) return;
        let kept = 0;
        for (const a of list) {
          const byteSet = laneOf(ev.old, a.msg) !== 0;
          if (ev.oldVersion >= a.version && byteSet) {
            this.consumed++;
            this.tracked--;
            this.onConsumed?.(a, ev.tick);
          } else {
            if (ev.oldVersion >= a.version) {
              this.errors.push(`ipi ${a.id}: target read version ${ev.oldVersion} >= ${a.version} without its byte`);
            }
            list[kept++] = a;
          }
        }
        list.length = kept;
        return;
      }
      default:
        return;
    }
  }

  /** The IPIs for CPU `target` whose message its home has ordered and its demux not yet consumed. */
  pendingFor(target: number): ReadonlyArray<Readonly<TrackedIpi>> {
    return this.open.get(this.messageLocs[target] ?? -1) ?? [];
  }

  /**
   * IPIs ordered at least `settleTicks` before the end and never consumed. The end is `endTick`, or,
   * when the cores keep clocks of their own (a distributed run), `endOfCore` of the core that
   * ordered the IPI, where it gives one.
   */
  result(endTick: number, settleTicks: number, endOfCore?: (core: number) => number | undefined): IgnoredIpiResult {
    const ignored: IgnoredIpi[] = [];
    for (const list of this.open.values()) {
      for (const a of list) {
        const end = endOfCore?.(a.orderedCore) ?? endTick;
        if (a.orderedTick <= end - settleTicks) {
          ignored.push({ ipi_id: a.id, sender_cpu: a.sender, target_cpu: a.target, msg: a.msg, ordered_tick: a.orderedTick });
        }
      }
    }
    ignored.sort((x, y) => x.ordered_tick - y.ordered_tick);
    return { valid: this.errors.length === 0 && ignored.length === 0, errors: this.errors.slice(0, 20), sent: this.sent, consumed: this.consumed, ignored };
  }
}
