/**
 * CPU offline on powernv: arch/powerpc/platforms/powernv/smp.c pnv_smp_cpu_kill_self.
 */
import { SRR1_WAKE, SRR1_WAKEMASK_P7, SRR1_WAKEMASK_P8, WAKE_ON } from '../machine/index.js';
import type { Kernel } from './kernel.js';
import type { KFn } from './primitives.js';
import { smp_mb, smp_wmb, WRITE_ONCE } from './primitives.js';
import { icp_native_flush_interrupt } from './xics.js';
import { kvmppc_clear_host_ipi } from './kvm.js';

/** Offline-loop iterations before the model stops the thread's loop (a bound, counted). */
export const KILL_SELF_LOOPS_MAX = 1_000_000;

// arch/powerpc/platforms/powernv/smp.c @ v4.0 (v3.19 without 755563bc79c7)
export function* pnv_smp_cpu_kill_self(k: Kernel, self: number): KFn {
  const cs = k.cpu(self);
  // local_irq_disable (the nap below runs hard-disabled); generic_set_cpu_dead; smp_wmb
  yield { k: 'ee', on: false };
  cs.mode = 'offline';
  yield* smp_wmb();
  // LPCR[PECE1] cleared: the decrementer cannot wake this thread (no dec programmed).
  yield { k: 'dec', ticks: -1 };
  const wmask = k.has('755563bc79c7') ? SRR1_WAKEMASK_P8 : SRR1_WAKEMASK_P7;
  for (let i = 0; i < KILL_SELF_LOOPS_MAX; i++) {
    // power7_nap: external interrupts and hypervisor doorbells can end it
    const srr1 = yield { k: 'nap', wake: WAKE_ON.external | WAKE_ON.hdbell };
    cs.offlineWakes++;
    if (cs.offlineWakes > k.offlineWakesMax) k.offlineWakesMax = cs.offlineWakes;
    yield { k: 'tp', name: 'offline_wake', attrs: { cpu: self, srr1 } };
    if ((srr1 & wmask) === (SRR1_WAKE.external & wmask)) {
      k.marks.hit('kill_self: woken by external interrupt, flushed');
      yield* icp_native_flush_interrupt(k, self);
      cs.irqHappened = 0;
      yield* smp_mb();
    } else if (k.has('755563bc79c7') && (srr1 & wmask) === SRR1_WAKE.hdbell) {
      k.marks.hit('kill_self: woken by hypervisor doorbell, msgclr');
      yield { k: 'msgclr' };
      yield* kvmppc_clear_host_ipi(k, self);
    } else {
      k.marks.hit('kill_self: unexpected wake reason, nothing cleared');
    }
  }
}

/** __cpu_disable: leave cpu_online_mask (set_cpu_online(cpu, false)) before dying. */
export function* set_cpu_offline(k: Kernel, self: number): KFn {
  k.cpu(self).online = false;
  yield* WRITE_ONCE(k.cpuOnline[self] as number, 0);
  yield* smp_mb();
}
