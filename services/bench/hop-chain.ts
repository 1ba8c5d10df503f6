/**
 * Reads the hop logs of a distributed run (IPISCOPE_HOP_LOG, see core/core-process.ts) and finds how
 * many of its bus messages were dependent: the longest chain of messages in which each one left a
 * core after the previous one had been taken there. No causal chain is longer (each of its hops
 * is such a step), so chain / 2 bounds from above the dependent round trips of the run; messages
 * off the chain travelled beside it (a write's propagation beside the atomic's answer, say).
 * Also where a hop's wall time goes: sender to receiver, waiting in the receiver, and from a take
 * to the next send of the same core.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { assert } from '../stdx/assert.js';

export interface HopChain {
  messages: number;
  /** Messages on the longest chain of dependent hops. */
  chain: number;
  /** Medians over the messages, µs: send to arrival, arrival to take, take to the core's next send. */
  transitUsP50: number;
  waitUsP50: number;
  turnUsP50: number;
}

interface Event {
  ns: bigint;
  core: number;
  kind: 'send' | 'arrive' | 'take';
  peer: number;
}

function median(xs: number[]): number {
  if (xs.length === 0) return 0;
  const s = xs.slice().sort((a, b) => a - b);
  return Math.round((s[Math.floor(s.length / 2)] as number) * 10) / 10;
}

export function hopChainOf(dir: string): HopChain {
  const events: Event[] = [];
  for (const name of readdirSync(dir)) {
    const m = /^hops-gen-\d+-core-(\d+)\.tsv$/.exec(name);
    if (m === null) continue;
    const core = Number(m[1]);
    for (const line of readFileSync(join(dir, name), 'utf8').split('\n')) {
      const [ns, kind, peer] = line.split('\t');
      if (kind !== 'send' && kind !== 'arrive' && kind !== 'take') continue;
      events.push({ ns: BigInt(ns as string), core, kind, peer: Number(peer) });
    }
  }
  events.sort((a, b) => (a.ns < b.ns ? -1 : a.ns > b.ns ? 1 : 0));
  // Links are FIFO: the n-th arrival on a link is its n-th send.
  const inFlight = new Map<string, Array<{ depth: number; sentNs: bigint }>>();
  const arrived = new Map<string, Array<{ depth: number; arrivedNs: bigint; sentNs: bigint }>>();
  const deepestTaken = new Map<number, number>();
  const lastTakeNs = new Map<number, bigint>();
  const transit: number[] = [];
  const wait: number[] = [];
  const turn: number[] = [];
  let messages = 0;
  let chain = 0;
  const us = (a: bigint, b: bigint): number => Number(b - a) / 1000;
  for (const e of events) {
    if (e.kind === 'send') {
      const key = `${e.core}>${e.peer}`;
      const q = inFlight.get(key) ?? [];
      q.push({ depth: 1 + (deepestTaken.get(e.core) ?? 0), sentNs: e.ns });
      inFlight.set(key, q);
      messages++;
      const t = lastTakeNs.get(e.core);
      if (t !== undefined) {
        turn.push(us(t, e.ns));
        lastTakeNs.delete(e.core);
      }
    } else if (e.kind === 'arrive') {
      const key = `${e.peer}>${e.core}`;
      const m = inFlight.get(key)?.shift();
      assert(m !== undefined, () => `hop log: an arrival on ${key} that was not sent`);
      transit.push(us(m.sentNs, e.ns));
      const q = arrived.get(key) ?? [];
      q.push({ depth: m.depth, arrivedNs: e.ns, sentNs: m.sentNs });
      arrived.set(key, q);
    } else {
      const key = `${e.peer}>${e.core}`;
      const m = arrived.get(key)?.shift();
      assert(m !== undefined, () => `hop log: a take on ${key} that did not arrive`);
      wait.push(us(m.arrivedNs, e.ns));
      deepestTaken.set(e.core, Math.max(deepestTaken.get(e.core) ?? 0, m.depth));
      chain = Math.max(chain, m.depth);
      lastTakeNs.set(e.core, e.ns);
    }
  }
  return { messages, chain, transitUsP50: median(transit), waitUsP50: median(wait), turnUsP50: median(turn) };
}
