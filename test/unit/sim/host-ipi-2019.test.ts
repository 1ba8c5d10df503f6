/**
 * The 2019 lost IPI (3a83f677a6ee) in sim, judged by the machine's own ground truth (the
 * ignored-IPI checker over the event stream), not by the kernel model's bookkeeping:
 * v5.3 hangs through the commit's first interleaving (the sender's host_ipi set ordered before
 * its message byte, overwritten by the target's clear, the doorbell then dropped at the KVM exit
 * check); v5.4 loses nothing; with the demux read unfenced (the named ablation) the second
 * interleaving (the target's clear ordered after a new set) is reached on v5.3, and v5.4 still
 * loses nothing. Seeds are in every message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadScenarioFile, resolveScenario, runSim } from '../../../services/sim/index.js';
import type { Scenario } from '../../../services/sim/index.js';
import { XICS_GUEST_WAKE } from '../../../services/kernel/index.js';
import { IgnoredIpiChecker, LostIpiObserver } from '../../../services/checker/index.js';
import { ObserverSet } from '../../../services/machine/index.js';

const DROP = 'kvm-exit: doorbell dropped, host_ipi == 0';

test('host-ipi-2019 on v5.3 hangs, through the first interleaving, for every seed tried', () => {
  const s = resolveScenario('host-ipi-2019');
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    const r = runSim(s, { kernel: 'v5.3', seed, ticksMax: 300_000 });
    assert.equal(r.verdict, 'hang', `seed ${seed}: ${r.explanation}`);
    assert.ok(r.ignored.length > 0, `seed ${seed}: hang without an ignored IPI`);
    for (const i of r.ignored) {
      assert.equal(i.msg, 0, `seed ${seed}: ignored ${i.ipi_id} is not CALL_FUNCTION`);
      assert.equal(i.interleaving, 'message-late', `seed ${seed}: ${i.ipi_id} lost another way (${i.interleaving})`);
    }
    assert.ok((r.marks[DROP] ?? 0) > 0, `seed ${seed}: no doorbell was dropped at the KVM exit check`);
    const targets = new Set(r.ignored.map((i) => i.target_cpu));
    assert.ok(r.stuck.some((x) => targets.has(x.waiting_for)), `seed ${seed}: nobody waits for the target`);
    assert.match(r.console, /watchdog: BUG: soft lockup - CPU#\d+ stuck for \d+s! \[/);
  }
});

test('host-ipi-2019 on v5.4 (the fix) ignores no IPI', () => {
  const s = resolveScenario('host-ipi-2019');
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    const r = runSim(s, { kernel: 'v5.4', seed, ticksMax: 120_000 });
    assert.equal(r.verdict, 'ok', `seed ${seed}: ${r.explanation}`);
    assert.deepEqual(r.ignored, [], `seed ${seed}`);
    assert.ok(r.ipis_handled > 2000, `seed ${seed}: only ${r.ipis_handled} IPIs handled`);
  }
});

test('host-ipi-2019-clear: the second interleaving is reached on v5.3 with the unfenced demux read', () => {
  const s = resolveScenario('host-ipi-2019-clear');
  // Seed 37 is one that reaches it (most seeds hang through the first interleaving before).
  const r = runSim(s, { kernel: 'v5.3', seed: 37, ticksMax: 300_000 });
  assert.equal(r.verdict, 'hang', r.explanation);
  assert.ok(r.ignored.some((i) => i.interleaving === 'clear-late'), JSON.stringify(r.ignored));
  assert.ok((r.marks['demux: first read unfenced (ablation)'] ?? 0) > 0);
});

test('host-ipi-2019-clear on v5.4: the barrier after the clear makes the unfenced read harmless', () => {
  const s = resolveScenario('host-ipi-2019-clear');
  for (const seed of [2, 3]) {
    const r = runSim(s, { kernel: 'v5.4', seed, ticksMax: 120_000 });
    assert.equal(r.verdict, 'ok', `seed ${seed}: ${r.explanation}`);
    assert.deepEqual(r.ignored, [], `seed ${seed}`);
  }
});

test('watchdog_thresh 2: the soft lockup is reported after 4 s, with the lost IPI counted; the fixed kernel reports none', () => {
  const s = resolveScenario('host-ipi-2019');
  const r = runSim(s, { kernel: 'v5.3', seed: 3, watchdogThreshSecs: 2 });
  assert.equal(r.verdict, 'hang', r.explanation);
  const soft = r.lockups.find((l) => l.kind === 'soft-lockup');
  assert.ok(soft !== undefined && soft.seconds >= 4 && soft.seconds < 6, JSON.stringify(r.lockups));
  assert.equal(r.ignored.length, 1, 'the lost IPI is counted although the run ended before the 5 s settle time');
  assert.equal(r.ignored[0]?.interleaving, 'message-late');
  assert.ok(r.emulated_seconds < 20, `reported at ${r.emulated_seconds} s`);
  for (const seed of [1, 2]) {
    const ok = runSim(s, { kernel: 'v5.4', seed, watchdogThreshSecs: 2, ticksMax: 60_000 });
    assert.equal(ok.verdict, 'ok', `seed ${seed}: ${ok.explanation}`);
  }
});

test('host-ipi-2019 on v5.4 with the longer bus hops of a 32-process run: no soft lockup from queueing alone', () => {
  // `run` paces 32 processes to 1 ms per tick, and a cold run's hops cost 9-21 ticks (sim: 3.5-5.5).
  // A workload that runs its targets near saturation then waits past the soft-lockup threshold
  // with no IPI lost, and its `hang` would not tell the fix apart (README, Known limits).
  const s = structuredClone(resolveScenario('host-ipi-2019'));
  s.bus = { delayTicksMin: 5, delayTicksMean: 8, crossSocketTicks: 2 };
  for (const seed of [1, 2]) {
    const r = runSim(s, { kernel: 'v5.4', seed, ticksMax: 300_000 });
    assert.equal(r.verdict, 'ok', `seed ${seed}: ${r.explanation}`);
    assert.deepEqual(r.lockups, [], `seed ${seed}`);
    assert.deepEqual(r.ignored, [], `seed ${seed}`);
  }
});

test('lost and found: v5.3 loses IPIs to the race long before the hang, and a later host IPI finds some; v5.4 loses none', () => {
  const s = resolveScenario('host-ipi-2019');
  // Seed 3 (the quick start): the CALL_FUNCTION that hangs it is lost at 9.6 s; another, to CPU 50,
  // is lost at 19.652 s and found 0.735 s later. With the soft lockup out of the way (60 s
  // threshold), seeds 1, 2 and 4 each lose several in 150 s, from 1.3 s in (seed 4, a RESCHEDULE).
  const r3 = runSim(s, { kernel: 'v5.3', seed: 3 });
  assert.deepEqual(r3.lost_found, [{ ipi_id: '86:10', sender_cpu: 86, target_cpu: 50, msg: 0, lost_tick: 19_652, found_tick: 20_387 }], r3.explanation);
  assert.match(r3.explanation, /^IPI 86:10: CALL_FUNCTION from CPU 86 to CPU 50, lost at 19\.652 s, found 0\.735 s later\.$/m);
  let lostBeforeHang = 0;
  for (const seed of [1, 2, 4]) {
    const r = runSim(s, { kernel: 'v5.3', seed, watchdogThreshSecs: 60, ticksMax: 150_000 });
    for (const l of r.lost_found) assert.ok(l.found_tick > l.lost_tick, `seed ${seed}: ${JSON.stringify(l)}`);
    const first = Math.min(...r.lost_found.map((l) => l.lost_tick), ...r.ignored.map((i) => i.ordered_tick));
    const hang = runSim(s, { kernel: 'v5.3', seed });
    assert.equal(hang.verdict, 'hang');
    if (first < hang.ticks - 20_000) lostBeforeHang++;
    assert.ok(r.lost_found.length >= 3, `seed ${seed}: ${r.lost_found.length} lost and found in 150 s`);
  }
  assert.equal(lostBeforeHang, 3, 'each seed lost an IPI before the loss its soft lockup reports');
  // The fixed kernel drops a doorbell now and then (its message already handled): nothing is lost.
  for (const seed of [1, 4]) {
    const r = runSim(s, { kernel: 'v5.4', seed, ticksMax: 300_000 });
    assert.ok((r.marks[DROP] ?? 0) > 0, `seed ${seed}: the fixed kernel dropped no doorbell in 300 s; the check proves nothing`);
    assert.deepEqual(r.lost_found, [], `seed ${seed}`);
  }
});

/**
 * The kernel's live loss watch against the ground truth (LostIpiObserver over the event stream)
 * on one v5.3 run of `s`: every loss the watch confirms is a drop whose IPIs stayed unread for half
 * a second or more (found late, or never), and every such drop is confirmed; those still lost at
 * the end are what the watch reports outstanding. Returns the losses confirmed.
 */
function lossWatchAgrees(s: Scenario, seed: number, ticksMax: number): number {
  let confirmed: ReadonlyArray<{ cpu: number; lanes: number; tick: number }> = [];
  let outstanding: ReadonlyArray<{ cpu: number; lanes: number; tick: number }> = [];
  let truth: LostIpiObserver | undefined;
  const r = runSim(s, {
    kernel: 'v5.3', seed, watchdogThreshSecs: 60, ticksMax,
    onLossWatch: (c, o) => {
      confirmed = c;
      outstanding = o;
    },
    observerFor: (names) => {
      const at = (re: RegExp): number[] => {
        const out: number[] = [];
        names.forEach((n, i) => {
          const m = re.exec(n);
          if (m !== null) out[Number(m[1])] = i;
        });
        return out;
      };
      const ipis = new IgnoredIpiChecker({ messageLocs: at(/^ipi_message\[(\d+)\]$/) });
      truth = new LostIpiObserver(at(/^paca\[(\d+)\]\.kvm_hstate\.host_ipi$/), ipis);
      return new ObserverSet([ipis, truth]);
    },
  });
  assert.ok(truth !== undefined);
  // The ground truth's drops whose IPIs stayed unread for half a second or more (found late, or never),
  // one per drop. The event's tick is the load's; the watch's, when the kernel has its value (a
  // few ticks later).
  const late = [
    ...r.lost_found.filter((l) => l.found_tick - l.lost_tick >= 500).map((l) => ({ cpu: l.target_cpu, tick: l.lost_tick })),
    ...truth.stillLost().filter((l) => l.lost_tick <= r.ticks - 500).map((l) => ({ cpu: l.target_cpu, tick: l.lost_tick })),
  ].filter((x, i, all) => all.findIndex((y) => y.cpu === x.cpu && y.tick === x.tick) === i);
  const unmatched = [...late];
  for (const c of confirmed) {
    assert.ok(c.lanes > 0, `seed ${seed}: ${JSON.stringify(c)}`);
    const i = unmatched.findIndex((t) => t.cpu === c.cpu && c.tick >= t.tick && c.tick - t.tick <= 20);
    assert.ok(i >= 0, `seed ${seed}: the watch confirmed a loss on CPU ${c.cpu} at ${c.tick} that the event stream does not show (${JSON.stringify(late)})`);
    unmatched.splice(i, 1);
  }
  assert.deepEqual(unmatched, [], `seed ${seed}: losses the watch missed`);
  // Those still lost at the end are the ones no demux found (what a core of run reports now).
  const still = truth.stillLost().filter((l) => l.lost_tick <= r.ticks - 500);
  assert.equal(outstanding.length, new Set(still.map((l) => `${l.target_cpu}@${l.lost_tick}`)).size, `seed ${seed}: ${JSON.stringify(outstanding)} against ${JSON.stringify(still)}`);
  for (const o of outstanding) assert.ok(still.some((l) => l.target_cpu === o.cpu && o.tick - l.lost_tick >= 0 && o.tick - l.lost_tick <= 20), `seed ${seed}: ${JSON.stringify(o)} is not lost any more`);
  return confirmed.length;
}

test("the kernel's live loss watch (what each core of run reports) confirms exactly the ground truth's losses that nothing read for half a second", () => {
  const s = resolveScenario('host-ipi-2019');
  let confirmedAll = 0;
  for (const seed of [1, 2, 3, 4]) confirmedAll += lossWatchAgrees(s, seed, 150_000);
  assert.ok(confirmedAll >= 8, `only ${confirmedAll} losses confirmed over 4 seeds of 150 s`);
  // The fixed kernel: its dropped doorbells carry no pending message, so nothing is confirmed.
  for (const seed of [1, 4]) {
    let confirmed: ReadonlyArray<unknown> = [1];
    const r = runSim(s, { kernel: 'v5.4', seed, ticksMax: 300_000, onLossWatch: (c) => (confirmed = c) });
    assert.ok((r.marks[DROP] ?? 0) > 0, `seed ${seed}: no doorbell dropped`);
    assert.deepEqual(confirmed, [], `seed ${seed}`);
  }
});

/** test/fixtures/scenarios/host-ipi-power8.yaml: host IPIs to vCPU threads of the other core go over XICS. */
const P8_KVM = loadScenarioFile('test/fixtures/scenarios/host-ipi-power8.yaml');
const XICS_EXIT = 'kvm-read-intr: host IPI, exit to host';

test('host IPIs over XICS to vCPU threads (a POWER8 KVM host): v5.4 ignores none and keeps handling them', () => {
  // Before model 4 the XICS interrupt that makes a vCPU thread exit was taken again at once, in the
  // guest, for ever: every seed hung within seconds, v5.4 too.
  for (const seed of [1, 2, 3]) {
    const r = runSim(P8_KVM, { seed, ticksMax: 60_000 });
    assert.equal(r.verdict, 'ok', `seed ${seed}: ${r.explanation}`);
    assert.deepEqual(r.ignored, [], `seed ${seed}`);
    assert.ok(r.ipis_handled > 300, `seed ${seed}: only ${r.ipis_handled} IPIs handled`);
    assert.ok((r.marks[XICS_EXIT] ?? 0) > 0, `seed ${seed}: no vCPU thread exited for a host IPI over XICS`);
  }
});

test('host IPIs over XICS to vCPU threads: v5.3 loses a CALL_FUNCTION to the first interleaving', () => {
  // Seeds 13 and 17 lose one early (most seeds of 1-20 within 100-1,300 emulated s).
  for (const seed of [13, 17]) {
    const r = runSim(P8_KVM, { kernel: 'v5.3', seed, ticksMax: 60_000 });
    assert.equal(r.verdict, 'hang', `seed ${seed}: ${r.explanation}`);
    assert.ok(r.ignored.some((i) => i.msg === 0 && i.interleaving === 'message-late'), `seed ${seed}: ${JSON.stringify(r.ignored)}`);
    assert.ok((r.marks[XICS_GUEST_WAKE] ?? 0) > 0, `seed ${seed}: no XICS IPI taken as a guest wake-up`);
    // The ground truth sees the loss through the XICS guest wake-up, and the live watch agrees.
    assert.ok(lossWatchAgrees(P8_KVM, seed, 60_000) >= 1, `seed ${seed}: the watch confirmed no loss`);
  }
});

test('host-ipi-2019 without the POWER9 global doorbells (6b3edefefa67 reverted: XICS across cores) on v5.4: ok', () => {
  const s = resolveScenario('host-ipi-2019');
  for (const seed of [1, 2]) {
    const r = runSim(s, { kernel: 'v5.4', revert: ['6b3edefefa67'], seed, ticksMax: 60_000 });
    assert.equal(r.verdict, 'ok', `seed ${seed}: ${r.explanation}`);
    assert.deepEqual(r.ignored, [], `seed ${seed}`);
    assert.ok(r.ipis_handled > 1500, `seed ${seed}: only ${r.ipis_handled} IPIs handled`);
    assert.ok((r.marks[XICS_EXIT] ?? 0) > 0, `seed ${seed}: no vCPU thread exited for a host IPI over XICS`);
  }
});
