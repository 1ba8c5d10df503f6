/**
 * Named memory locations. Each location is a word with a home core, which orders all writes to
 * it (coherence). The table is built before a machine starts (identically in every process of a
 * distributed run) and is frozen afterwards.
 *
 * A word holds up to 6 byte lanes (48 bits, exact in a JS number): lane i is the byte at bits
 * 8i..8i+7, the i-th byte as the kernel indexes the IPI message word.
 */
import { assert } from '../stdx/index.js';

export const LANES_MAX = 6;

export class LocationTable {
  readonly names: string[] = [];
  readonly homes: number[] = [];
  readonly inits: number[] = [];
  /** Sent to every core on each write (true), or only to cores that read it (a directory). */
  readonly broadcast: boolean[] = [];
  private readonly byName = new Map<string, number>();
  private frozen = false;

  /**
   * Adds a location. `broadcast` locations are announced to every core on each write; the others
   * are tracked by a directory at the home and announced only to cores that have read them (a
   * first read is a miss that fetches the latest write from the home).
   */
  add(name: string, home: number, init = 0, broadcast = false): number {
    assert(!this.frozen, () => `location table is frozen; cannot add ${name}`);
    assert(!this.byName.has(name), () => `location ${name} added twice`);
    assert(Number.isInteger(home) && home >= 0, () => `location ${name}: bad home ${home}`);
    const id = this.names.length;
    this.names.push(name);
    this.homes.push(home);
    this.inits.push(init);
    this.broadcast.push(broadcast);
    this.byName.set(name, id);
    return id;
  }

  /** The id of `name`, adding it (homed at `home`) if it is new. */
  ensure(name: string, home: number, init = 0, broadcast = false): number {
    const id = this.byName.get(name);
    return id === undefined ? this.add(name, home, init, broadcast) : id;
  }

  id(name: string): number {
    const id = this.byName.get(name);
    assert(id !== undefined, () => `unknown location ${name}`);
    return id;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  get size(): number {
    return this.names.length;
  }

  freeze(): this {
    this.frozen = true;
    return this;
  }
}

/** Replace byte lane `lane` of `word` with `byte`. */
export function mergeLane(word: number, lane: number, byte: number): number {
  assert(lane >= 0 && lane < LANES_MAX, () => `byte lane ${lane} out of range`);
  assert(byte >= 0 && byte < 256 && Number.isInteger(byte), () => `byte value ${byte} out of range`);
  const scale = 2 ** (8 * lane);
  const old = Math.floor(word / scale) % 256;
  return word + (byte - old) * scale;
}

/** Byte lane `lane` of `word`. */
export function laneOf(word: number, lane: number): number {
  return Math.floor(word / 2 ** (8 * lane)) % 256;
}
