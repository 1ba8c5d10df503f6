/**
 * Goal: soundness over the real bus on tests nobody wrote by hand. diy-style generated litmus
 * tests (seeded) run over NATS on one pool of core processes, with broadcast locations and with
 * directory-tracked ones (the coherence the kernel scenarios run on in distributed mode: read
 * misses, sharers, evictions, syncs to sharers only), and every final state must be one the POWER
 * architecture allows, as the independent axiomatic model (herd's ppc.cat) judges it.
 *
 * Method: IPISCOPE_NATS_FUZZ_TESTS tests (default 24) x IPISCOPE_NATS_FUZZ_RUNS runs (default 12)
 * per placement and location mode; IPISCOPE_SEED picks the tests.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateLitmusTests, isStateAllowed } from '../../../services/checker/index.js';
import { Controller } from '../../../services/controller/controller.js';
import { runLitmusNats } from '../../../services/controller/litmus-nats.js';
import type { Placement } from '../../../services/litmus/run.js';
import { startTestNats } from '../../harness/nats.js';

const seed = Number(process.env.IPISCOPE_SEED ?? 20261206);
const count = Number(process.env.IPISCOPE_NATS_FUZZ_TESTS ?? 24);
const runs = Number(process.env.IPISCOPE_NATS_FUZZ_RUNS ?? 12);

test(`generated litmus tests over NATS, broadcast and directory locations: every outcome allowed (seed ${seed})`, { timeout: 300_000 + count * runs * 400 }, async () => {
  await using nats = await startTestNats();
  await using ctl = await new Controller({ servers: nats.servers, cores: 4 }).start();
  const tests = generateLitmusTests(seed, count);
  assert.ok(tests.length >= count / 2, 'the generator produced too few tests');
  let checked = 0;
  let relaxed = 0;
  for (const g of tests) {
    for (const placement of ['cores', 'smt'] as Placement[]) {
      for (const locations of ['broadcast', 'directory'] as const) {
        const r = await runLitmusNats(g.test, g.text, { runs, seed, placement, session: ctl, runTimeoutMs: 10_000, locations });
        assert.equal(r.invalid, 0, `${g.test.name} (${placement}, ${locations}): ${r.invalidReason ?? ''}`);
        for (const [key, state] of r.states ?? []) {
          checked++;
          assert.ok(isStateAllowed(g.test, state), `seed ${seed}: ${g.test.name} (${placement}, ${locations}) reached forbidden state ${key} over NATS\n${g.text}`);
        }
        relaxed += r.hits;
      }
    }
  }
  assert.ok(checked > tests.length * 4, `too few states checked (${checked})`);
  process.stderr.write(`nats fuzz: ${tests.length} tests, ${checked} distinct states checked, ${relaxed} runs reached the cycle's witness\n`);
});
