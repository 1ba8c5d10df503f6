/**
 * Soundness on tests nobody wrote by hand: diy-style random litmus tests (seeded) run on the
 * emulator in both placements, and every final state it produces must be one the POWER
 * architecture allows, as judged by the independent axiomatic model (herd's ppc.cat).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateLitmusTests, isStateAllowed } from '../../../services/checker/index.js';
import { runLitmus } from '../../../services/litmus/run.js';
import type { Placement } from '../../../services/litmus/run.js';

const seed = Number(process.env.IPISCOPE_SEED ?? 20261125);
const count = Number(process.env.IPISCOPE_FUZZ_TESTS ?? 120);
const runs = Number(process.env.IPISCOPE_FUZZ_RUNS ?? 400);

test(`generated litmus tests: every emulated outcome is architecturally allowed (seed ${seed})`, () => {
  const tests = generateLitmusTests(seed, count);
  assert.ok(tests.length >= count / 2, 'the generator produced too few tests');
  let checked = 0;
  for (const g of tests) {
    for (const placement of ['cores', 'smt'] as Placement[]) {
      const r = runLitmus(g.test, { runs, seed, placement });
      assert.equal(r.invalid, 0);
      for (const [key, state] of r.states ?? []) {
        checked++;
        assert.ok(isStateAllowed(g.test, state), `seed ${seed}: ${g.test.name} (${placement}) produced forbidden state ${key}\n${g.text}`);
      }
    }
  }
  assert.ok(checked > count, 'too few states checked');
});

test(`generated litmus tests on directory-tracked locations (the kernel's mode) stay sound (seed ${seed})`, () => {
  const tests = generateLitmusTests(seed + 1, Math.ceil(count / 2));
  for (const g of tests) {
    for (const placement of ['cores', 'smt'] as Placement[]) {
      const r = runLitmus(g.test, { runs, seed, placement, locations: 'directory' });
      assert.equal(r.invalid, 0);
      for (const [key, state] of r.states ?? []) {
        assert.ok(isStateAllowed(g.test, state), `seed ${seed}: ${g.test.name} (${placement}, directory) produced ${key}\n${g.text}`);
      }
    }
  }
});
