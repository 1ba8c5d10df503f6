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
    let zero = true;
    for (let i = 0; i < digits; i += 8) {
      const x = this.rng.u32();
      if (x !== 0) zero = false;
      s +=
        (HEX[x >>> 24] as string) +
        (HEX[(x >>> 16) & 255] as string) +
        (HEX[(x >>> 8) & 255] as string) +
        (HEX[x & 255] as string);
    }
    // An all-zero id is invalid in W3C trace context; the odds are 2^-64, but never emit one.
    return zero ? `${s.slice(0, -1)}1` : s;
  }
}

/** Two hex digits per byte value (ids are built per span: no toString/padStart per word). */
const HEX: readonly string[] = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));
