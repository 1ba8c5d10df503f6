/**
 * /proc/interrupts: the XICS IPI line and arch_show_interrupts (arch/powerpc/kernel/irq.c) with
 * the lines of the modelled version (v3.5: LOC SPU CNT MCE; v4.0+: LOC LOC SPU PMI MCE HMI (NMI)
 * DBL). Counts are the kernel's own per-CPU irq_stat counters.
 */
import type { Kernel } from './kernel.js';

export interface InterruptLine {
  name: string;
  counts: number[];
  desc: string;
}

export function interruptLines(k: Kernel): InterruptLine[] {
  const cpus = k.cpus;
  const col = (f: (i: (typeof cpus)[number]['irq']) => number): number[] => cpus.map((c) => f(c.irq));
  const lines: InterruptLine[] = [];
  const xics = !(k.topo.cpuModel === 'power9' && k.has('6b3edefefa67'));
  if (xics) lines.push({ name: '16', counts: col((i) => i.xics_ipi), desc: '  XICS   2 Edge      IPI' });
  const modern = k.has('a6a058e52a0c');
  if (!modern) {
    lines.push({ name: 'LOC', counts: col((i) => i.timer_irqs_event + i.timer_irqs_others), desc: 'Local timer interrupts' });
    lines.push({ name: 'SPU', counts: col((i) => i.spurious_irqs), desc: 'Spurious interrupts' });
    lines.push({ name: 'CNT', counts: col((i) => i.pmu_irqs), desc: 'Performance monitoring interrupts' });
    lines.push({ name: 'MCE', counts: col((i) => i.mce_exceptions), desc: 'Machine check exceptions' });
    return lines;
  }
  lines.push({ name: 'LOC', counts: col((i) => i.timer_irqs_event), desc: 'Local timer interrupts for timer event device' });
  if (k.has('5b2a15296210')) lines.push({ name: 'BCT', counts: col(() => 0), desc: 'Broadcast timer interrupts for timer event device' });
  lines.push({ name: 'LOC', counts: col((i) => i.timer_irqs_others), desc: 'Local timer interrupts for others' });
  lines.push({ name: 'SPU', counts: col((i) => i.spurious_irqs), desc: 'Spurious interrupts' });
  lines.push({ name: 'PMI', counts: col((i) => i.pmu_irqs), desc: 'Performance monitoring interrupts' });
  lines.push({ name: 'MCE', counts: col((i) => i.mce_exceptions), desc: 'Machine check exceptions' });
  lines.push({ name: 'HMI', counts: col((i) => i.hmi_exceptions), desc: 'Hypervisor Maintenance Interrupts' });
  if (k.has('5b2a15296210')) lines.push({ name: 'NMI', counts: col((i) => i.sreset_irqs), desc: 'System Reset interrupts' });
  lines.push({ name: 'DBL', counts: col((i) => i.doorbell_irqs), desc: 'Doorbell interrupts' });
  return lines;
}

/** The text of /proc/interrupts for the given CPUs (all online CPUs when omitted). */
export function procInterrupts(k: Kernel, cpus?: number[]): string {
  const show = cpus ?? k.cpus.map((_, i) => i).filter((i) => k.cpu(i).online);
  const head = '     ' + show.map((c) => `CPU${c}`.padStart(11, ' ')).join('');
  const out = [head];
  for (const l of interruptLines(k)) {
    const cells = show.map((c) => String(l.counts[c] ?? 0).padStart(10, ' ') + ' ').join('');
    out.push(`${l.name.padStart(3, ' ')}: ${cells}  ${l.desc}`);
  }
  return out.join('\n') + '\n';
}

/** JSON form: line name (with a suffix for the second LOC) -> per-CPU counts. */
export function interruptsJson(k: Kernel): Record<string, number[]> {
  const o: Record<string, number[]> = {};
  for (const l of interruptLines(k)) {
    let key = l.name === '16' ? 'IPI' : l.name;
    if (o[key] !== undefined) key = `${key}_others`;
    o[key] = l.counts;
  }
  return o;
}
