// Goal: the cross-core round trip is timed over the calls after a warm-up, from the machine's
// progress as the controller's status waves saw it, and that series stays bounded on long runs.
// Method: hand-made progress series (a slow warm-up, then a steady rate) and a long series through
// the controller's sampler.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { steadyWindow } from '../../../services/bench/dist-bench.js';
import { addProgress, PROGRESS_SAMPLES_MAX } from '../../../services/controller/controller.js';

test('the steady window starts at the first wave past the warm-up and ends at the last wave', () => {
  // 10 ms per call for the first 500 calls, then 4 ms per call: waves every 20 ms.
  const progress: Array<[number, number]> = [];
  for (let ms = 0; ms <= 5000 + 4 * 1500; ms += 20) progress.push([ms, ms <= 5000 ? Math.floor(ms / 10) : 500 + Math.floor((ms - 5000) / 4)]);
  const w = steadyWindow(progress, 500);
  assert.equal(w.fromCalls, 500);
  assert.equal(w.calls, 1500);
  assert.equal(w.ms, 6000);
  assert.equal(w.us, 4000);
  // Over every call the warm-up would weigh in: (5000 + 6000) ms / 2000 calls = 5.5 ms.
  const all = steadyWindow(progress, 0);
  assert.equal(all.us, 5500);
});

test('a run that never passed its warm-up has no steady window', () => {
  assert.throws(() => steadyWindow([[0, 0], [20, 100], [40, 200]], 500), /never got past its 500 warm-up calls \(200 handled\)/);
  assert.throws(() => steadyWindow([], 500), /never got past/);
  // Past the warm-up only at the last wave: no calls to time.
  assert.throws(() => steadyWindow([[0, 0], [20, 600]], 500), /never got past/);
});

test('the progress series is thinned to every second wave when full, and stays bounded', () => {
  const progress: Array<[number, number]> = [];
  const stride = { every: 1, waves: 0 };
  const waves = PROGRESS_SAMPLES_MAX * 5 + 7;
  for (let w = 0; w < waves; w++) addProgress(progress, stride, [w * 20, w]);
  assert.ok(progress.length < PROGRESS_SAMPLES_MAX && progress.length >= PROGRESS_SAMPLES_MAX / 2 - 1, `${progress.length} samples`);
  // Evenly spaced from the first wave on, the stride a power of two.
  assert.equal(stride.every, 8);
  assert.deepEqual(progress[0], [0, 0]);
  for (let i = 1; i < progress.length; i++) assert.equal((progress[i] as [number, number])[1] - (progress[i - 1] as [number, number])[1], stride.every);
  // The last sample is at most one stride behind the last wave.
  assert.ok(waves - 1 - (progress[progress.length - 1] as [number, number])[1] < stride.every);
});
