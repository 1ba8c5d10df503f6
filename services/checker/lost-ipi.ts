/**
 * Lost-and-found IPIs: the 2019 race's own signature, seen as it happens, from the machine's event
 * stream alone. A thread running a guest that takes a hypervisor doorbell reads its `host_ipi`;
 * when it reads 0 (kvmppc_guest_exit_h_doorbell), the doorbell is taken as a guest wake-up and
 * dropped. An XICS IPI taken in a guest is dropped the same way when kvmppc_read_one_intr, having
 * reset the MFRR and EOI'd it, reads `host_ipi` again and finds 0 (its second read of the flag in
 * that external interrupt; in the host, the external interrupt path only stores to the flag). An
 * IPI for that CPU whose message the home had ordered, whose interrupt (doorbell, or MFRR store)
 * its sender had raised before the drop, and which no demux had consumed yet, then has no
 * interrupt left to deliver it: it is lost at that tick. It is found when a later host IPI's demux consumes its message (the
 * sender spun in csd_lock_wait all that time), or never: then the ignored-IPI checker lists it.
 *
 * Which IPIs are pending, and when one is consumed, is the ignored-IPI checker's tracking: this
 * observer adds the doorbells and the drops, and is fed the same events after it.
 *
 * The fixed kernel (3a83f677a6ee) loses none: its sender orders the message before host_ipi and
 * host_ipi before the doorbell, and its target orders the clear before the demux, so a doorbell
 * dropped there carries no pending message (`sim host-ipi-2019 --kernel v5.4` drops about one in
 * 600 emulated s, its message already consumed).
 *
 * Doorbells (POWER9's global doorbells, the 2019 scenarios) and XICS IPIs (a POWER8 host, or
 * kernels without the POWER9 global doorbells).
 */
import type { MachineEvent, MachineObserver } from '../machine/index.js';
import type { IgnoredIpiChecker } from './ignored-ipi.js';

export interface LostFoundIpi {
  ipi_id: string;
  sender_cpu: number;
  target_cpu: number;
  msg: number;
  /** Tick of the drop (on the target's clock). */
  lost_tick: number;
  /** Tick at which the target's demux consumed the message (on the target's clock). */
  found_tick: number;
}

export class LostIpiObserver implements MachineObserver {
  readonly ignores = ['visible'] as const;
  private readonly cpuOfHostIpi = new Map<number, number>();
  /** The latest interrupt each sender raised for each target ("sender:target" -> its IPI sequence
   * number, the `id` of msgsnd or of the MFRR store): every IPI of that sender to that target up to
   * it has had its interrupt. */
  private readonly raisedSeq = new Map<string, number>();
  /** CPUs inside a hypervisor doorbell interrupt. */
  private readonly inHdbell = new Set<number>();
  /** CPUs inside an external (XICS) interrupt -> the reads of their host_ipi in it so far. */
  private readonly inExternal = new Map<number, number>();
  /** Lost and not found yet, by ipi_id. */
  private readonly lost = new Map<string, { target: number; tick: number }>();
  readonly found: LostFoundIpi[] = [];
  /** Doorbells and XICS IPIs dropped with at least one IPI lost. */
  drops = 0;

  /** `ipis`: the checker that tracks the IPIs; it must see each event before this observer does. */
  constructor(
    hostIpi: readonly number[],
    private readonly ipis: IgnoredIpiChecker,
  ) {
    hostIpi.forEach((loc, cpu) => this.cpuOfHostIpi.set(loc, cpu));
    ipis.onConsumed = (a, tick) => {
      const l = this.lost.get(a.id);
      if (l === undefined) return;
      this.lost.delete(a.id);
      this.found.push({ ipi_id: a.id, sender_cpu: a.sender, target_cpu: a.target, msg: a.msg, lost_tick: l.tick, found_tick: tick });
    };
  }

  event(ev: MachineEvent): void {
    switch (ev.e) {
      case 'ipi_send':
        // An MFRR store of a CPU to its own MFRR (the reset after taking an IPI, KVM's re-raise)
        // raises no IPI of another sender.
        if (ev.via === 'msgsnd' || (ev.via === 'mfrr' && ev.cpu !== ev.target)) this.raisedSeq.set(`${ev.cpu}:${ev.target}`, ev.id);
        return;
      case 'irq_take':
        if (ev.source === 'hdbell') this.inHdbell.add(ev.cpu);
        else if (ev.source === 'external') this.inExternal.set(ev.cpu, 0);
        return;
      case 'irq_return':
        if (ev.source === 'hdbell') this.inHdbell.delete(ev.cpu);
        else if (ev.source === 'external') this.inExternal.delete(ev.cpu);
        return;
      case 'load': {
        if (this.cpuOfHostIpi.get(ev.loc) !== ev.cpu) return;
        const reads = this.inExternal.get(ev.cpu);
        if (reads !== undefined) this.inExternal.set(ev.cpu, reads + 1);
        // kvmppc_guest_exit_h_doorbell's read of host_ipi: 0 drops the doorbell; in an external
        // interrupt, kvmppc_read_one_intr's second read: 0 takes the IPI as a guest wake-up.
        if (ev.value !== 0 || !(this.inHdbell.has(ev.cpu) || reads === 1)) return;
        let lost = false;
        for (const a of this.ipis.pendingFor(ev.cpu)) {
          const seq = Number(a.id.slice(a.id.indexOf(':') + 1));
          if ((this.raisedSeq.get(`${a.sender}:${a.target}`) ?? -1) < seq || this.lost.has(a.id)) continue;
          this.lost.set(a.id, { target: a.target, tick: ev.tick });
          lost = true;
        }
        if (lost) this.drops++;
        return;
      }
      default:
        return;
    }
  }

  /** IPIs lost and still not found (the ignored-IPI checker's business; here for cross-checks). */
  stillLost(): Array<{ ipi_id: string; target_cpu: number; lost_tick: number }> {
    return [...this.lost].map(([ipi_id, l]) => ({ ipi_id, target_cpu: l.target, lost_tick: l.tick })).sort((x, y) => x.lost_tick - y.lost_tick);
  }
}
