/**
 * Tests beyond the conformance suite that exercise what it does not: loads satisfied by
 * forwarding from the thread's own store (PPOCA/PPOAA), repeated reads of one location (RSW,
 * CoRR2), lwarx/stwcx. atomics (a lwarx is a load like the others), an isync with no branch
 * before it (which orders nothing), byte, halfword and doubleword accesses. Every outcome must be allowed by the axiomatic model, and the
 * allowed outcomes that POWER hardware shows (PPOCA, RSW) and those the model once could not
 * produce (MP+sync+isync, MP+sync+lwarx) must be produced. The lwarx-dependency tests
 * (MP+lwsync+lwarx-*, WRC+lwsync+lwarx-addr) are Forbidden ones that directory locations once
 * broke. An eieio orders only the thread's own stores (ppc.cat's WW(eieio)): WRC+eieio+addr, which
 * the machine once never produced, must be; MP+eieio+addr never. What a thread takes in with a
 * write it read is passed on only by its stores ordered after the read (ppc.cat's hb*): a store in
 * plain program order does not (ISA2+lwsync+po+addr, ISA2+eieio+eieio+addr must be produced), and
 * each dependency does (ISA2+lwsync+{data,ctrl,addr-po,addrst-po,poloc,rmw}+addr never; each of
 * them was produced, 1-12 times in 10,000 runs of some configuration, with the dependencies
 * ignored).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseLitmus } from '../../../services/litmus/index.js';
import { runLitmus } from '../../../services/litmus/run.js';
import type { Placement } from '../../../services/litmus/run.js';
import { checkCondition, isStateAllowed } from '../../../services/checker/index.js';

const dir = join(process.cwd(), 'test', 'fixtures', 'litmus-extra');
const mustHit = new Set(['PPOCA', 'RSW', 'SB+rmws', 'MP+lwsync+addr-po', 'MP+sync+isync', 'MP+sync+lwarx', 'MP+bytes', 'WRC+eieio+addr', 'ISA2+lwsync+po+addr', 'ISA2+eieio+eieio+addr']);

test('extra litmus tests: sound against the axiomatic model, and complete where hardware is', () => {
  const files = readdirSync(dir).filter((f) => f.endsWith('.litmus')).sort();
  assert.ok(files.length >= 8);
  for (const f of files) {
    const t = parseLitmus(readFileSync(join(dir, f), 'utf8'), f);
    const verdict = checkCondition(t).verdict;
    let hits = 0;
    // Both placements with broadcast locations, and one thread per core with directory locations
    // (a load that misses fetches its line: a lwarx once made its register known before the
    // line came, and a load that depended on it read older than lwsync allows).
    const configs: Array<{ placement: Placement; locations?: 'directory' }> = [{ placement: 'cores' }, { placement: 'smt' }, { placement: 'cores', locations: 'directory' }];
    for (const c of configs) {
      const how = `${c.placement}${c.locations !== undefined ? `, ${c.locations}` : ''}`;
      const r = runLitmus(t, { runs: 10_000, seed: 77, ...c });
      assert.equal(r.invalid, 0, `${t.name}: ${r.invalidReason}`);
      for (const [key, state] of r.states ?? []) {
        assert.ok(isStateAllowed(t, state), `${t.name} (${how}) produced forbidden state ${key}`);
      }
      if (verdict === 'Forbidden') assert.equal(r.hits, 0, `${t.name} (${how})`);
      hits += r.hits;
    }
    if (mustHit.has(t.name)) assert.ok(hits > 0, `${t.name} never produced its allowed outcome`);
  }
});

test('lwsync orders per thread in litmus tests: R+lwsync+sync shows its allowed outcome, 2+2W+lwsyncs never', () => {
  const suite = join(process.cwd(), 'test', 'litmus');
  const r = parseLitmus(readFileSync(join(suite, 'R+lwsync+sync.litmus'), 'utf8'), 'R+lwsync+sync.litmus');
  assert.equal(checkCondition(r).verdict, 'Allowed');
  const hit = runLitmus(r, { runs: 20_000, seed: 5, placement: 'cores' });
  assert.ok(hit.hits > 0, 'R+lwsync+sync never produced: lwsync waits for global visibility again?');
  for (const [key, state] of hit.states ?? []) assert.ok(isStateAllowed(r, state), `R+lwsync+sync produced forbidden ${key}`);
  const w = parseLitmus(readFileSync(join(suite, '2+2W+lwsyncs.litmus'), 'utf8'), '2+2W+lwsyncs.litmus');
  for (const placement of ['cores', 'smt'] as Placement[]) assert.equal(runLitmus(w, { runs: 20_000, seed: 5, placement }).hits, 0);
});
