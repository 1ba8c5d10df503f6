// Goal: versions are patch sets in date order; revert and explicit lists resolve as documented.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PATCHES, resolveKernel } from '../../../services/kernel/index.js';

test('patches are in date order', () => {
  const dates = PATCHES.map((p) => p.date);
  assert.deepEqual(dates, [...dates].sort());
});

test('v5.3 lacks the 2019 fix and v5.4 has it', () => {
  assert.equal(resolveKernel({ kernel: 'v5.3' }).has('3a83f677a6ee'), false);
  assert.equal(resolveKernel({ kernel: 'v5.4' }).has('3a83f677a6ee'), true);
  assert.equal(resolveKernel({ kernel: 'v3.5' }).has('9fb1b36ca123'), false);
  assert.equal(resolveKernel({ kernel: 'v3.6' }).has('9fb1b36ca123'), true);
});

test('revert takes one patch out; unknown names are usage errors', () => {
  const k = resolveKernel({ kernel: 'v4.0', revert: ['755563bc79c7'] });
  assert.equal(k.has('755563bc79c7'), false);
  assert.equal(k.has('d4e58e5928f8'), true);
  assert.throws(() => resolveKernel({ kernel: 'v9.9' }), /unknown kernel "v9.9"/);
  assert.throws(() => resolveKernel({ kernel: 'v3.5', revert: ['755563bc79c7'] }), /not in v3.5/);
  assert.deepEqual(resolveKernel({ patches: ['3a83f677a6ee', '9fb1b36'] }).list(), ['9fb1b36ca123', '3a83f677a6ee']);
});
