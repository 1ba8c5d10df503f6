/**
 * Book3S server doorbells: arch/powerpc/kernel/dbell.c and arch/powerpc/include/asm/dbell.h.
 */
import type { Kernel } from './kernel.js';
import type { KFn } from './primitives.js';
import { smp_mb } from './primitives.js';
import { kvmppc_clear_host_ipi, kvmppc_set_host_ipi } from './kvm.js';
import { smp_ipi_demux, smp_ipi_demux_relaxed } from './smp.js';

// arch/powerpc/include/asm/dbell.h @ v5.3: ppc_msgsnd_sync = sync (msgsnd is treated as a store)
export function* ppc_msgsnd_sync(k: Kernel): KFn {
  if (k.has('b87ac0218355')) yield { k: 'sync' };
}

// arch/powerpc/include/asm/dbell.h @ v5.3: msgsync; lwsync only on POWER9 (ARCH_300) in HV mode
export function* ppc_msgsync(k: Kernel): KFn {
  if (!k.has('b87ac0218355')) return;
  if (k.has('6b3edefefa67') && k.topo.cpuModel === 'power9') {
    yield { k: 'msgsync' };
    yield { k: 'lwsync' };
  }
}

// arch/powerpc/kernel/dbell.c @ v5.3
export function* doorbell_global_ipi(k: Kernel, self: number, cpu: number): KFn {
  yield* kvmppc_set_host_ipi(k, cpu);
  yield* ppc_msgsnd_sync(k);
  yield { k: 'msgsnd', cpu, id: k.cpu(self).ipiSeq };
}

// arch/powerpc/kernel/dbell.c @ v5.3 (the tag is the TIR; the machine maps it on POWER8)
export function* doorbell_core_ipi(k: Kernel, self: number, cpu: number): KFn {
  yield* kvmppc_set_host_ipi(k, cpu);
  yield* ppc_msgsnd_sync(k);
  yield { k: 'msgsnd', cpu, id: k.cpu(self).ipiSeq };
}

// arch/powerpc/kernel/dbell.c @ v5.3: a doorbell if the target is a sibling, else report failure
export function* doorbell_try_core_ipi(k: Kernel, self: number, cpu: number): KFn<boolean> {
  if (!k.siblings(self, cpu)) return false;
  yield* doorbell_core_ipi(k, self, cpu);
  return true;
}

// arch/powerpc/kernel/dbell.c @ v4.0: doorbell_cause_ipi (mb added by 9fb1b36ca123)
export function* doorbell_cause_ipi(k: Kernel, self: number, cpu: number): KFn {
  if (k.has('9fb1b36ca123')) yield* smp_mb();
  yield { k: 'msgsnd', cpu, id: k.cpu(self).ipiSeq };
}

// arch/powerpc/kernel/dbell.c @ v5.4 (v5.3: plain clear; v4.0: no tracepoints, no msgsync)
export function* doorbell_exception(k: Kernel, self: number): KFn {
  // irq_enter
  if (k.has('5b2a15296210')) yield { k: 'tp', name: 'doorbell_entry', attrs: { cpu: self } };
  yield* ppc_msgsync(k);
  // may_hard_irq_enable: the model keeps MSR[EE] off for the whole handler (no nesting).
  if (k.has('755563bc79c7')) yield* kvmppc_clear_host_ipi(k, self);
  if (k.has('a6a058e52a0c')) k.cpu(self).irq.doorbell_irqs++;
  if (k.has('b87ac0218355')) yield* smp_ipi_demux_relaxed(k, self);
  else yield* smp_ipi_demux(k, self);
  if (k.has('5b2a15296210')) yield { k: 'tp', name: 'doorbell_exit', attrs: { cpu: self } };
  // irq_exit
}
