/**
 * Tells which of the 2019 commit's (3a83f677a6ee) two interleavings lost an IPI, from the
 * machine's event stream alone (coherence order, and when each store was issued and ordered):
 *
 * - `message-late` (the first interleaving): the sender's host_ipi=1 was ordered before its
 *   message byte (no barrier between them on the sender); the target's clear overwrote the set,
 *   and its exchange of the message word came before the byte arrived.
 * - `clear-late` (the second): the sender's stores were ordered in program order, but the target
 *   issued its clear before the sender's set was ordered and the clear was ordered after it,
 *   overwriting it; the target's read of the message word then missed the byte (possible only if
 *   that read is not fenced after the clear, the `demuxReadRelaxed` ablation).
 */
import type { MachineEvent, MachineObserver } from '../machine/index.js';

export type HostIpiInterleaving = 'message-late' | 'clear-late' | 'other';

export interface HostIpiOverwrite {
  sender: number;
  target: number;
  interleaving: HostIpiInterleaving;
  setOrderedTick: number;
  clearIssuedTick: number;
  clearOrderedTick: number;
}

/** Records every set of a target's host_ipi by a sender that the target's own clear overwrote. */
export class HostIpiRaceObserver implements MachineObserver {
  readonly ignores = ['visible', 'load'] as const;
  private readonly targetOf = new Map<number, number>();
  private readonly messageTargetOf = new Map<number, number>();
  private readonly issued = new Map<number, { cpu: number; value: number; tick: number; msgWid: number }>();
  /** Per (sender, target): the sender's latest message byte store (write id). */
  private readonly lastMsgWid = new Map<string, number>();
  private readonly msgOrderedTick = new Map<number, number>();
  /** Per target: the sets ordered since its last clear. */
  private readonly sets = new Map<number, Array<{ sender: number; tick: number; msgWid: number }>>();
  private readonly found: Array<HostIpiOverwrite & { msgWid: number }> = [];

  constructor(hostIpi: readonly number[], ipiMessage: readonly number[]) {
    hostIpi.forEach((loc, cpu) => this.targetOf.set(loc, cpu));
    ipiMessage.forEach((loc, cpu) => this.messageTargetOf.set(loc, cpu));
  }

  event(e: MachineEvent): void {
    if (e.e === 'store') {
      const mt = this.messageTargetOf.get(e.loc);
      if (mt !== undefined) {
        this.lastMsgWid.set(`${e.cpu}:${mt}`, e.wid);
        this.msgOrderedTick.set(e.wid, -1);
        return;
      }
      const t = this.targetOf.get(e.loc);
      if (t !== undefined) {
        const msgWid = this.lastMsgWid.get(`${e.cpu}:${t}`) ?? -1;
        this.issued.set(e.wid, { cpu: e.cpu, value: e.value, tick: e.tick, msgWid });
      }
      return;
    }
    if (e.e !== 'version') return;
    if (this.msgOrderedTick.get(e.wid) === -1) {
      this.msgOrderedTick.set(e.wid, e.tick);
      return;
    }
    const target = this.targetOf.get(e.loc);
    const st = this.issued.get(e.wid);
    if (target === undefined || st === undefined) return;
    this.issued.delete(e.wid);
    if (st.value !== 0 && st.cpu !== target) {
      let list = this.sets.get(target);
      if (list === undefined) this.sets.set(target, (list = []));
      list.push({ sender: st.cpu, tick: e.tick, msgWid: st.msgWid });
      return;
    }
    if (st.value !== 0 || st.cpu !== target) return;
    const list = this.sets.get(target);
    if (list === undefined || list.length === 0) return;
    this.sets.set(target, []);
    // The clear overwrites every set ordered since the previous clear.
    for (const set of list) {
      this.found.push({
        sender: set.sender,
        target,
        interleaving: 'other',
        setOrderedTick: set.tick,
        clearIssuedTick: st.tick,
        clearOrderedTick: e.tick,
        msgWid: set.msgWid,
      });
    }
  }

  /** The last overwrite of `sender`'s set of `target`'s host_ipi, if any, classified. */
  lastOverwrite(sender: number, target: number): HostIpiOverwrite | undefined {
    for (let i = this.found.length - 1; i >= 0; i--) {
      const o = this.found[i] as HostIpiOverwrite & { msgWid: number };
      if (o.sender !== sender || o.target !== target) continue;
      const m = this.msgOrderedTick.get(o.msgWid) ?? -1;
      const { msgWid: _w, ...rest } = o;
      const late = m < 0 || m > o.setOrderedTick;
      const interleaving: HostIpiInterleaving = late ? 'message-late' : o.clearIssuedTick < o.setOrderedTick ? 'clear-late' : 'other';
      return { ...rest, interleaving };
    }
    return undefined;
  }

  /** How many sets of a host_ipi its target's clear overwrote (most are harmless). */
  get overwriteCount(): number {
    return this.found.length;
  }
}
