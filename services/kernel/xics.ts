/**
 * XICS ICP as powernv uses it for IPIs: arch/powerpc/sysdev/xics/icp-native.c.
 */
import type { Kernel } from './kernel.js';
import type { KFn } from './primitives.js';
import { kvmppc_clear_host_ipi, kvmppc_set_host_ipi } from './kvm.js';
import { doorbell_cause_ipi } from './dbell.js';
import { smp_ipi_demux } from './smp.js';

export const XICS_IPI = 2;
export const IPI_PRIORITY = 4;
export const LOWEST_PRIORITY = 0xff;

// arch/powerpc/sysdev/xics/icp-native.c @ v5.3: out_8 = sync; MMIO store to the MFRR
export function* icp_native_set_qirr(k: Kernel, self: number, cpu: number, value: number): KFn {
  yield { k: 'sync' };
  yield { k: 'mfrr', cpu, priority: value, id: k.cpu(self).ipiSeq };
}

// arch/powerpc/sysdev/xics/icp-native.c @ v4.0 (doorbells to siblings from d4e58e5928f8 until
// b866cc2199d6 moved that choice to the platform); v3.5: the MFRR write only
export function* icp_native_cause_ipi(k: Kernel, self: number, cpu: number): KFn {
  yield* kvmppc_set_host_ipi(k, cpu);
  if (k.has('d4e58e5928f8') && !k.has('b866cc2199d6') && k.siblings(self, cpu)) {
    yield* doorbell_cause_ipi(k, self, cpu);
    return;
  }
  yield* icp_native_set_qirr(k, self, cpu, IPI_PRIORITY);
}

// arch/powerpc/sysdev/xics/icp-native.c @ v5.3
export function* icp_native_ipi_action(k: Kernel, self: number): KFn {
  yield* kvmppc_clear_host_ipi(k, self);
  yield* icp_native_set_qirr(k, self, self, LOWEST_PRIORITY);
  yield* smp_ipi_demux(k, self);
}

// icp_native_get_irq + handle_percpu_irq + icp_native_eoi @ v5.3: the external interrupt in the host
export function* xics_external_interrupt(k: Kernel, self: number): KFn {
  const xirr = yield { k: 'xirr' };
  const vec = xirr & 0xffffff;
  if (vec === 0) {
    k.cpu(self).irq.spurious_irqs++;
    return;
  }
  if (vec === XICS_IPI) {
    k.cpu(self).irq.xics_ipi++;
    yield* icp_native_ipi_action(k, self);
  }
  // icp_native_eoi: iosync, then write XIRR with the popped CPPR.
  yield { k: 'sync' };
  yield { k: 'eoi', xirr: ((LOWEST_PRIORITY << 24) | vec) >>> 0 };
}

// arch/powerpc/sysdev/xics/icp-native.c @ v4.0: icp_native_flush_interrupt (offline CPU)
export function* icp_native_flush_interrupt(k: Kernel, self: number): KFn {
  const xirr = yield { k: 'xirr' };
  const vec = xirr & 0xffffff;
  if (vec === 0) return;
  if (vec === XICS_IPI) {
    yield* kvmppc_clear_host_ipi(k, self);
    yield* icp_native_set_qirr(k, self, self, LOWEST_PRIORITY);
  }
  yield { k: 'sync' };
  yield { k: 'eoi', xirr: ((LOWEST_PRIORITY << 24) | vec) >>> 0 };
}
