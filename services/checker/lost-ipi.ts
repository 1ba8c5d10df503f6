/**
 * Lost-and-found IPIs: the 2019 race's own signature, seen as it happens, from the machine's event
 * stream alone. A thread running a guest that takes a hypervisor doorbell reads its `host_ipi`;
 * when it reads 0 (kvmppc_guest_exit_h_doorbell), the doorbell is taken as a guest wake-up and
 * dropped. An IPI for that CPU whose message the home had ordered, whose doorbell its sender had
 * sent before the drop, and which no demux had consumed yet, then has no interrupt left to deliver
 * it: it is lost at that tick. It is found when a later host IPI's demux consumes its message (the
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
 * Doorbells only (POWER9's global doorbells, the 2019 scenarios); a guest's XICS wake-up
 * (kvmppc_read_one_intr) is not followed here.
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
  /** The latest doorbell each sender sent each target ("sender:target" -> its IPI sequence number,
   * the `id` of msgsnd): every IPI of that sender to that target up to it has had its doorbell. */
  private readonly doorbellSeq = new Map<string, number>();
  /** CPUs inside a hypervisor doorbell interrupt. */
  private readonly inHdbell = new Set<number>();
  /** Lost and not found yet, by ipi_id. */
  private readonly lost = new Map<string, { target: number; tick: number }>();
  readonly found: LostFoundIpi[] = [];
  /** Doorbells dropped with at least one IPI lost. */
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
        if (ev.via === 'msgsnd') this.doorbellSeq.set(`${ev.cpu}:${ev.target}`, ev.id);
        return;
      case 'irq_take':
        if (ev.source === 'hdbell') this.inHdbell.add(ev.cpu);
        return;
      case 'irq_return':
        if (ev.source === 'hdbell') this.inHdbell.delete(ev.cpu);
        return;
      case 'load': {
        // kvmppc_guest_exit_h_doorbell's read of host_ipi: 0 drops the doorbell.
        if (ev.value !== 0 || this.cpuOfHostIpi.get(ev.loc) !== ev.cpu || !this.inHdbell.has(ev.cpu)) return;
        let lost = false;
        for (const a of this.ipis.pendingFor(ev.cpu)) {
          const seq = Number(a.id.slice(a.id.indexOf(':') + 1));
          if ((this.doorbellSeq.get(`${a.sender}:${a.target}`) ?? -1) < seq || this.lost.has(a.id)) continue;
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
