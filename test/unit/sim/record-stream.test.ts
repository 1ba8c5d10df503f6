/**
 * Records on disk (sim/record-stream.ts): a core's inbox streamed as chunk lines, the version-2
 * record file (header line, then each core's section), version 1 still read, and bad input (a
 * truncated file, a line that is not a chunk, a missing file) reported with file and place, never
 * replayed as if it were whole. And ReplayLinks, replay's compact check of what was sent and taken.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync, existsSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CoreMsg } from '../../../services/machine/index.js';
import { InputError } from '../../../services/stdx/index.js';
import { InboxCursor, InboxWriter, inboxChunks, inputsOf, loadInboxes, msgHash, readRecordFile, replaysUnderModel, writeRecordFile, INBOX_CHUNK, RECORD_VERSION, MODEL_VERSION } from '../../../services/sim/record-stream.js';
import { ReplayLinks } from '../../../services/sim/replay.js';
import type { InboxEntry, RunRecord } from '../../../services/sim/replay.js';

/** An end step past every entry `entries` makes (a core takes its inputs up to its end step). */
const END = 1_000_000;

function entries(core: number, n: number): InboxEntry[] {
  const out: InboxEntry[] = [];
  for (let i = 0; i < n; i++) out.push([i * 3 + core, (core + 1) % 4, i + 1, { t: 'write', loc: i % 17, value: i * 7, version: i, clock: i + core } as unknown as CoreMsg]);
  return out;
}

function recordOf(cores: RunRecord['cores']): RunRecord {
  return {
    format: 'ipiscope-record', version: RECORD_VERSION, runId: 'r1',
    spec: { kind: 'scenario', scenario: {} as never, kernel: 'v5.4', patches: [], revert: [], seed: 1 },
    topology: { sockets: 1, coresPerSocket: 4, threadsPerCore: 2 } as never,
    software: { ipiscope: '0.1.0', identity: 'test', model: MODEL_VERSION }, cores, finals: [], verdict: { verdict: 'ok' },
  };
}

test('an inbox streamed by InboxWriter and a record written from it read back entry for entry', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ipiscope-rec-'));
  try {
    const cores: RunRecord['cores'] = [];
    const want = new Map<number, InboxEntry[]>();
    for (const core of [2, 0, 1]) {
      const e = entries(core, core === 1 ? 0 : INBOX_CHUNK * 2 + 37 + core);
      want.set(core, e);
      if (core === 2) {
        cores.push({ core, endStep: END, sendBase: { '0': 5 }, inbox: e });
        continue;
      }
      const w = new InboxWriter(join(dir, `c${core}`, 'inbox.jsonl'));
      for (const x of e) w.push(x);
      assert.equal(w.count, e.length);
      const f = w.close();
      assert.equal(w.close().bytes, f.bytes, 'close is idempotent');
      assert.equal(statSync(f.path).size, f.bytes);
      cores.push({ core, endStep: END, sendBase: {}, inboxFile: f, inputs: e.length });
    }
    // The writer's own file, read as a stream, chunk by chunk.
    const c0 = cores.find((c) => c.core === 0);
    assert.ok(c0 !== undefined);
    const chunks = [...inboxChunks(c0)];
    assert.equal(chunks.length, 3);
    assert.equal((chunks[0] as InboxEntry[]).length, INBOX_CHUNK);
    const file = join(dir, 'run.json');
    writeRecordFile(file, recordOf(cores));
    assert.deepEqual(readdirSync(dir).filter((f) => f.includes('.tmp-')), [], 'no temporary file is left');
    const header = JSON.parse(readFileSync(file, 'utf8').split('\n')[0] as string) as { version: number; cores: Array<{ core: number; inboxAt: [number, number]; inputs: number }> };
    assert.equal(header.version, 2);
    assert.deepEqual(header.cores.map((c) => c.core), [0, 1, 2], 'sections in core order');
    assert.deepEqual(header.cores.map((c) => c.inputs), [0, 1, 2].map((c) => want.get(c)?.length));
    const back = readRecordFile(file);
    assert.equal(back.verdict.verdict, 'ok');
    for (const c of back.cores) {
      assert.equal(c.inbox, undefined, 'the inputs stay on disk');
      assert.equal(inputsOf(c), want.get(c.core)?.length);
      const cur = new InboxCursor(inboxChunks(c));
      const got: InboxEntry[] = [];
      while (!cur.done) got.push(cur.next());
      assert.deepEqual(got, want.get(c.core));
    }
    assert.deepEqual(loadInboxes(back).cores.map((c) => c.inbox), [0, 1, 2].map((c) => want.get(c)));
    assert.deepEqual(back.cores.find((c) => c.core === 2)?.sendBase, { '0': 5 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a version-1 record (one JSON value, inboxes inline) is still read', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ipiscope-rec-'));
  try {
    const file = join(dir, 'v1.json');
    const e = entries(0, 10);
    writeFileSync(file, JSON.stringify({ ...recordOf([{ core: 0, endStep: 40, sendBase: {}, inbox: e }]), version: 1 }) + '\n');
    const r = readRecordFile(file);
    assert.equal(r.version, RECORD_VERSION);
    assert.deepEqual(r.cores[0]?.inbox, e);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a record made with another machine model is refused with the reason, not replayed into divergences', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ipiscope-rec-'));
  try {
    const old = join(dir, 'old.json');
    const rec = recordOf([{ core: 0, endStep: 40, sendBase: {}, inbox: entries(0, 10) }]);
    // Records from before the model was stamped say nothing: model 1.
    writeFileSync(old, JSON.stringify({ ...rec, version: 1, software: { ipiscope: '0.1.0', identity: 'test' } }) + '\n');
    assert.throws(() => readRecordFile(old), (e: Error) =>
      e instanceof InputError && /old\.json:1: recorded with machine model 1, and this ipiscope runs model \d+: .*record it again/.test(e.message));
    const ok = join(dir, 'ok.json');
    writeRecordFile(ok, rec);
    assert.equal(readRecordFile(ok).software.model, MODEL_VERSION);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a truncated or corrupt record is an InputError naming the file, the core and the place', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ipiscope-rec-'));
  try {
    const file = join(dir, 'run.json');
    writeRecordFile(file, recordOf([{ core: 0, endStep: END, sendBase: {}, inbox: entries(0, INBOX_CHUNK + 5) }, { core: 1, endStep: END, sendBase: {}, inbox: entries(1, 50) }]));
    const whole = readFileSync(file);
    // Cut inside core 1's section: the header says more than the file holds.
    truncateSync(file, whole.length - 10);
    assert.throws(() => readRecordFile(file), (e: unknown) => e instanceof InputError && /core 1: its inputs end at byte \d+, past the end of the file .*truncated/.test(e.message) && e.message.startsWith(file));
    // A section whose second line is not JSON: found when replay reaches it, with its line.
    const lines = whole.toString('utf8').split('\n');
    lines[2] = `${(lines[2] as string).slice(0, 40)}`;
    const bad = Buffer.from(lines.join('\n'));
    writeFileSync(file, bad);
    const hdr = JSON.parse(lines[0] as string) as { cores: Array<{ inboxAt: [number, number] }> };
    // Keep the header's offsets true to the shortened section so the file itself is not "truncated".
    const cut = whole.length - bad.length;
    (hdr.cores[0] as { inboxAt: [number, number] }).inboxAt[1] -= cut;
    (hdr.cores[1] as { inboxAt: [number, number] }).inboxAt[0] -= cut;
    lines[0] = JSON.stringify(hdr);
    writeFileSync(file, lines.join('\n'));
    const r = readRecordFile(file);
    const c0 = r.cores[0];
    assert.ok(c0 !== undefined);
    assert.throws(() => [...inboxChunks(c0)], (e: unknown) => e instanceof InputError && /core 0, line 2 of its inputs: not JSON/.test(e.message));
    // Not an array of entries.
    writeFileSync(file, JSON.stringify({ ...recordOf([]), cores: [{ core: 0, endStep: 1, sendBase: {}, inboxAt: [0, 8] }] }) + '\n[[1,2]]\n');
    const r2 = readRecordFile(file);
    assert.throws(() => [...inboxChunks(r2.cores[0] as RunRecord['cores'][0])], /entry 0: not \[step, src, link seq, message\]/);
    // Not a record at all, a newer version, a missing file.
    writeFileSync(file, '{"format":"something-else"}\n');
    assert.throws(() => readRecordFile(file), /not an ipiscope record/);
    writeFileSync(file, JSON.stringify({ ...recordOf([]), version: 9 }) + '\n');
    assert.throws(() => readRecordFile(file), /record version 9; this ipiscope reads versions 1 and 2/);
    assert.throws(() => readRecordFile(join(dir, 'nope.json')), (e: unknown) => e instanceof InputError && /cannot read the record/.test(e.message));
    assert.ok(existsSync(file));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('inputs out of place are an InputError naming the file, the core, the line and the entry, before replay takes them', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ipiscope-rec-'));
  try {
    const file = join(dir, 'run.json');
    const read = (cores: RunRecord['cores'], edit: (rec: RunRecord) => void = () => {}): (() => unknown) => {
      const rec = recordOf(cores);
      writeRecordFile(file, rec);
      // Edit the header as a person with a text editor would: sections stay where they are.
      const [head, ...rest] = readFileSync(file, 'utf8').split('\n');
      const h = JSON.parse(head as string) as RunRecord;
      edit(h);
      writeFileSync(file, [JSON.stringify(h), ...rest].join('\n'));
      return () => {
        const r = readRecordFile(file);
        for (const c of r.cores) for (const _ of inboxChunks(c, `core ${c.core}`, 4)) void _;
      };
    };
    const err = (re: RegExp) => (e: unknown): boolean => e instanceof InputError && e.message.startsWith(file) && re.test(e.message) && /a corrupt record/.test(e.message);
    // A step that goes back, in the second line of core 0's section.
    const back = entries(0, INBOX_CHUNK + 5);
    (back[INBOX_CHUNK + 1] as InboxEntry)[0] = 2;
    assert.throws(read([{ core: 0, endStep: END, sendBase: {}, inbox: back }]), err(/core 0, line 2 of its inputs, entry 1 \(input 514 of the core\): step 2 comes before step \d+ of the input before it: the inputs are out of step order/));
    // Inputs after the end step (the header's end step lowered).
    assert.throws(read([{ core: 1, endStep: END, sendBase: {}, inbox: entries(1, 50) }], (h) => { (h.cores[0] as { endStep: number }).endStep = 100; }), err(/core 1, line 1 of its inputs, entry 34 \(input 35 of the core\): step 103 is after the core's end step 100/));
    // From a core the machine does not have, or from itself.
    const far = entries(0, 5);
    (far[3] as InboxEntry)[1] = 7;
    assert.throws(read([{ core: 0, endStep: END, sendBase: {}, inbox: far }]), err(/entry 3 \(input 4 of the core\): sent by core 7, which is not another core of this 4-core machine/));
    const self = entries(2, 5);
    (self[0] as InboxEntry)[1] = 2;
    assert.throws(read([{ core: 2, endStep: END, sendBase: {}, inbox: self }]), err(/sent by core 2, which is not another core/));
    // Fewer inputs than the header says.
    assert.throws(read([{ core: 0, endStep: END, sendBase: {}, inbox: entries(0, 5) }], (h) => { (h.cores[0] as { inputs: number }).inputs = 6; }), err(/core 0: 5 inputs, where the header says 6/));
    // The header alone: checked when the file is read.
    const drained = (h: RunRecord): void => { Object.assign(h.cores[0] as object, { drainStep: 500, endStep: 400 }); };
    assert.throws(read([{ core: 0, endStep: END, sendBase: {}, inbox: [] }], drained), (e: unknown) => e instanceof InputError && e.line === 1 && /core 0: drain step 500 after the end step 400: the record is inconsistent/.test(e.message));
    const twice = (h: RunRecord): void => { (h.cores[1] as { core: number }).core = 0; };
    assert.throws(read([{ core: 0, endStep: END, sendBase: {}, inbox: [] }, { core: 1, endStep: END, sendBase: {}, inbox: [] }], twice), /core 0 has two sections/);
    const beyond = (h: RunRecord): void => { (h.cores[0] as { core: number }).core = 4; };
    assert.throws(read([{ core: 0, endStep: END, sendBase: {}, inbox: [] }], beyond), /core 4 is not a core of this 4-core machine/);
    // Version 1: every input is in the header line, so all of it is checked when the file is read.
    const v1 = entries(0, 10);
    (v1[6] as InboxEntry)[0] = 0;
    writeFileSync(file, JSON.stringify({ ...recordOf([{ core: 0, endStep: END, sendBase: {}, inbox: v1 }]), version: 1 }) + '\n');
    assert.throws(() => readRecordFile(file), err(/core 0, its inbox, entry 6 \(input 7 of the core\): step 0 comes before step 15/));
    // And the good ones read back.
    read([{ core: 0, endStep: END, sendBase: {}, inbox: entries(0, INBOX_CHUNK + 5) }, { core: 3, endStep: END, sendBase: {}, inbox: entries(3, 5) }])();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a record is written into an existing directory only: none is made for it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ipiscope-rec-'));
  try {
    const file = join(dir, 'missing', 'deeper', 'run.json');
    assert.throws(() => writeRecordFile(file, recordOf([{ core: 0, endStep: 10, sendBase: {}, inbox: entries(0, 3) }])), (e: unknown) => (e as NodeJS.ErrnoException).code === 'ENOENT');
    assert.equal(existsSync(join(dir, 'missing')), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ReplayLinks: a message taken is checked against what its sender sent again, by link seq and content', () => {
  const rec = recordOf([
    { core: 0, endStep: 100, sendBase: { '1': 10 }, inbox: [] },
    { core: 1, endStep: 100, sendBase: {}, inbox: [] },
  ]);
  const m = (v: number): CoreMsg => ({ t: 'write', loc: 1, value: v, version: v, clock: v }) as unknown as CoreMsg;
  const l = new ReplayLinks(rec);
  // Core 0 sends three messages to core 1 (link seqs 11, 12, 13 after its base of 10).
  l.sent(0, 1, m(1), 5);
  l.sent(0, 1, m(2), 6);
  l.sent(0, 1, m(3), 7);
  l.took(1, 0, 11, m(1), 9);
  l.took(1, 0, 13, m(3), 20);
  assert.deepEqual(l.divergences(), []);
  assert.deepEqual([...l.hopTicks().entries()].sort(), [[13, 1], [4, 1]].sort());
  l.took(1, 0, 12, m(99), 21);
  l.took(1, 0, 14, m(4), 22);
  const d = l.divergences();
  assert.equal(d.length, 2);
  assert.match(d[0] as string, /link 0->1 #12 .*content hash differs/);
  assert.match(d[1] as string, /core 1 took #14 from core 0 at step 22, which core 0 never sent in replay/);
  assert.notEqual(msgHash(m(1)), msgHash(m(2)));
  assert.equal(msgHash(m(7)), msgHash(m(7)));
});

test('msgHash: a message and the same message read back from its JSON hash alike; any other content differs', () => {
  const msgs: CoreMsg[] = [
    { t: 'wreq', src: 1, thread: 2, wid: 2 ** 33 + 5, loc: 9, value: 0xdeadbeef, lane: -1, prereq: [3, 4, 5], clock: 77 },
    { t: 'syncreq', src: 6, thread: 1, sid: 37, entries: [332, 5, 586, 1483, 2, 3], clock: 3910 },
    { t: 'fetch', src: 1, thread: 0, loc: 9, clock: 3 },
  ];
  for (const x of msgs) assert.equal(msgHash(x), msgHash(JSON.parse(JSON.stringify(x)) as CoreMsg), JSON.stringify(x));
  // As JSON has them: -0 is written 0, an undefined field not at all.
  const zero = { t: 'fetch', src: 1, thread: 0, loc: 0, clock: 3 } as CoreMsg;
  assert.equal(msgHash({ ...zero, loc: -0 } as CoreMsg), msgHash(zero));
  assert.equal(msgHash({ ...zero, extra: undefined } as unknown as CoreMsg), msgHash(zero));
  const base = msgs[0] as unknown as Record<string, unknown>;
  const variants: Array<Record<string, unknown>> = [
    { ...base, value: 0xdeadbeee },
    { ...base, wid: 2 ** 34 + 5 },
    { ...base, prereq: [3, 4] },
    { ...base, prereq: [3, 5, 4] },
    { ...base, lane: 0 },
    { ...base, t: 'wprop' },
    { ...base, extra: 1 },
  ];
  const seen = new Set([msgHash(base as unknown as CoreMsg)]);
  for (const v of variants) {
    const hv = msgHash(v as unknown as CoreMsg);
    assert.ok(!seen.has(hv), `a collision: ${JSON.stringify(v)}`);
    seen.add(hv);
  }
});

test('a model-3 record is still read where model 4 cannot change its run (no XICS IPI can reach a guest), refused elsewhere', () => {
  const p9 = { name: 'p9', cpuModel: 'power9', sockets: 1, coresPerSocket: 4, threadsPerCore: 4 };
  const p8 = { name: 'p8', cpuModel: 'power8', sockets: 1, coresPerSocket: 2, threadsPerCore: 8 };
  const scenario = (kvm: boolean, guests: unknown[] = [{ name: 'A', cpus: '1-3' }]): unknown => ({ kvm, guests });
  const spec = (kvm: boolean, more: Record<string, unknown> = {}, guests?: unknown[]): unknown => ({ kind: 'scenario', scenario: scenario(kvm, guests), kernel: 'v5.4', ...more });
  assert.equal(replaysUnderModel(MODEL_VERSION, spec(true), p8), true);
  // POWER9 on v5.3 / v5.4: every host IPI is a global doorbell.
  assert.equal(replaysUnderModel(3, spec(true), p9), true);
  assert.equal(replaysUnderModel(3, spec(true, { kernel: 'v5.3' }), p9), true);
  // Without the global doorbells, or on POWER8, host IPIs to other cores go over XICS.
  assert.equal(replaysUnderModel(3, spec(true, { revert: ['6b3edefefa67'] }), p9), false);
  assert.equal(replaysUnderModel(3, spec(true, { kernel: 'v4.0' }), p9), false);
  assert.equal(replaysUnderModel(3, spec(true), p8), false);
  // No KVM, or no guest: no thread is ever in a guest.
  assert.equal(replaysUnderModel(3, spec(false), p8), true);
  assert.equal(replaysUnderModel(3, spec(true, {}, []), p8), true);
  assert.equal(replaysUnderModel(3, { kind: 'litmus', text: '' }, p8), true);
  // Older models, and what cannot be read, are refused.
  assert.equal(replaysUnderModel(2, spec(false), p8), false);
  assert.equal(replaysUnderModel(3, spec(true, { kernel: 'v9.9' }), p9), false);
  assert.equal(replaysUnderModel(3, null, p9), false);
  assert.equal(replaysUnderModel(3, spec(true), null), false);
});
