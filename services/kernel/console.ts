/**
 * The per-run console: printk lines with the kernel's `[ seconds.micros]` timestamp.
 *
 * Time scale: emulated time is compressed. One emulated second is `ticksPerSecond` machine ticks
 * (a tick is one step of a hardware thread); timestamps and detector thresholds are in emulated
 * seconds on that scale.
 */
export interface ClockScale {
  ticksPerSecond: number;
}

export class Console {
  readonly lines: string[] = [];
  constructor(readonly scale: ClockScale) {}

  seconds(tick: number): number {
    return tick / this.scale.ticksPerSecond;
  }

  printk(tick: number, text: string): void {
    const us = Math.round((tick * 1e6) / this.scale.ticksPerSecond);
    const sec = Math.floor(us / 1e6);
    const frac = String(us % 1e6).padStart(6, '0');
    this.lines.push(`[${String(sec).padStart(5, ' ')}.${frac}] ${text}`);
  }

  text(): string {
    return this.lines.map((l) => `${l}\n`).join('');
  }
}
