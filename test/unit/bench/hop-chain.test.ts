// Goal: the dependent chain of a distributed run counts the messages that had to wait for one
// another, not those that travelled beside them.
// Method: hand-written hop logs of two cores (one line per send, arrival and take, as the core
// processes write them): an exchange with a message beside the chain, and a chain that must not be
// lengthened by a message that arrived after the send it would precede.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hopChainOf } from '../../../services/bench/hop-chain.js';
import { testTempDir } from '../../harness/temp.js';

function log(dir: string, core: number, lines: Array<[number, string, number, string]>): void {
  writeFileSync(join(dir, `hops-gen-1-core-${core}.tsv`), lines.map(([us, e, peer, m]) => `${us * 1000}\t${e}\t${peer}\t${m}\t0`).join('\n') + '\n');
}

test('a message beside the chain is not on it', () => {
  {
    const dir = testTempDir('ipiscope-hops-');
    // Core 0 asks (A); core 1 answers (B) and propagates a write beside it (C); core 0 goes on (D).
    log(dir, 0, [[0, 'send', 1, 'rmwreq'], [300, 'arrive', 1, 'rmwresp'], [310, 'arrive', 1, 'wprop'], [320, 'take', 1, 'rmwresp'], [321, 'take', 1, 'wprop'], [330, 'send', 1, 'syncreq']]);
    log(dir, 1, [[150, 'arrive', 0, 'rmwreq'], [160, 'take', 0, 'rmwreq'], [170, 'send', 0, 'rmwresp'], [171, 'send', 0, 'wprop'], [480, 'arrive', 0, 'syncreq'], [490, 'take', 0, 'syncreq']]);
    const c = hopChainOf(dir);
    assert.equal(c.messages, 4);
    assert.equal(c.chain, 3);
    assert.equal(c.transitUsP50, 150);
    assert.equal(c.waitUsP50, 11);
  }
});

test('a message taken after a send does not precede it', () => {
  {
    const dir = testTempDir('ipiscope-hops-');
    // Core 1 sends X before it takes A: X does not depend on A, so the chain is 1.
    log(dir, 0, [[0, 'send', 1, 'fetch'], [200, 'arrive', 1, 'syncreq'], [210, 'take', 1, 'syncreq']]);
    log(dir, 1, [[50, 'send', 0, 'syncreq'], [100, 'arrive', 0, 'fetch'], [110, 'take', 0, 'fetch']]);
    const c = hopChainOf(dir);
    assert.equal(c.messages, 2);
    assert.equal(c.chain, 1);
  }
});
