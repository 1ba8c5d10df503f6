/**
 * Span and trace ids for `sim`: drawn from a seeded stream, so the same seed writes the same
 * trace file byte for byte. Live runs use the SDK's random generator.
 */
import type { IdGenerator } from '@opentelemetry/sdk-trace-base';
import { Random } from '../stdx/index.js';

export class SeededIdGenerator implements IdGenerator {
  private readonly rng: Random;

  constructor(seed: number | string, namespace = 'tracing/ids') {
    this.rng = new Random(seed, namespace);
  }

  generateTraceId(): string {
    return this.hex(32);
  }

  generateSpanId(): string {
    return this.hex(16);
  }

  private hex(digits: number): string {
    let s = '';
    for (let i = 0; i < digits; i += 8) s += this.rng.u32().toString(16).padStart(8, '0');
    // An all-zero id is invalid in W3C trace context; the odds are 2^-64, but never emit one.
    return /^0+$/.test(s) ? `${s.slice(0, -1)}1` : s;
  }
}
