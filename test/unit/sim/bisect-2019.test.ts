/**
 * Bisecting host-ipi-2019 over the modelled patches names the commit the seed's own `Fixes:` tag
 * names (755563bc79c7: the doorbell handler starts clearing host_ipi with a plain store) when
 * walking up from v3.6, and the fix (3a83f677a6ee) when walking from v5.4 down to v5.3.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bisect, resolveScenario } from '../../../services/sim/index.js';

test('bisect host-ipi-2019 --good v3.6 --bad v5.3 names 755563bc79c7', () => {
  const r = bisect(resolveScenario('host-ipi-2019'), { good: 'v3.6', bad: 'v5.3', seeds: [3], ticksMax: 150_000 });
  assert.equal(r.goodVerdict, 'ok');
  assert.equal(r.badVerdict, 'hang');
  assert.equal(r.first?.commit, '755563bc79c7');
  assert.deepEqual(r.platform.map((p) => p.commit), ['b866cc2199d6', 'b87ac0218355', '6b3edefefa67']);
});

test('bisect host-ipi-2019 --good v5.4 --bad v5.3 names 3a83f677a6ee', () => {
  const r = bisect(resolveScenario('host-ipi-2019'), { good: 'v5.4', bad: 'v5.3', seeds: [3], ticksMax: 150_000 });
  assert.equal(r.first?.commit, '3a83f677a6ee');
  assert.equal(r.badVerdict, 'hang');
});
