import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseLitmus } from '../../../services/litmus/parse.js';
import type { LitmusTest } from '../../../services/litmus/ast.js';
import { litmusAddr } from '../../../services/litmus/ast.js';
import {
  allowedStates,
  checkCondition,
  cycleToTest,
  generateLitmusTests,
  isStateAllowed,
  toLitmusText,
  type Cycle,
  type PoDecoration,
} from '../../../services/checker/index.js';

const SUITE_DIR = existsSync('test/litmus') ? 'test/litmus' : '/work/shared/litmus/tests';
const VERDICTS_FILE = existsSync(join(SUITE_DIR, 'verdicts.tsv')) ? join(SUITE_DIR, 'verdicts.tsv') : '/work/shared/litmus/verdicts.tsv';

function loadSuite(): { test: LitmusTest; verdict: string }[] {
  const verdicts = new Map(
    readFileSync(VERDICTS_FILE, 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split('\t') as [string, string]),
  );
  return readdirSync(SUITE_DIR)
    .filter((f) => f.endsWith('.litmus'))
    .sort()
    .map((f) => {
      const t = parseLitmus(readFileSync(join(SUITE_DIR, f), 'utf8'), f);
      const verdict = verdicts.get(t.name);
      assert.ok(verdict !== undefined, `${f}: ${t.name} has no row in verdicts.tsv`);
      return { test: t, verdict };
    });
}

const parse = (name: string, text: string): LitmusTest => parseLitmus(text, `${name}.litmus`);

test('every suite test gets the verdict of verdicts.tsv, each well under a second', () => {
  const suite = loadSuite();
  assert.ok(suite.length >= 35, `expected the 35-test suite, found ${suite.length}`);
  for (const { test: t, verdict } of suite) {
    const started = performance.now();
    const v = checkCondition(t);
    const elapsed_ms = performance.now() - started;
    assert.equal(v.verdict, verdict, `${t.name}: checker says ${v.verdict}, verdicts.tsv says ${verdict}`);
    assert.ok(elapsed_ms < 500, `${t.name}: took ${elapsed_ms.toFixed(0)} ms`);
    assert.ok(v.result.states.length > 0, `${t.name}: no allowed state at all`);
    assert.equal(v.result.loopBoundHit, false);
  }
});

test('isStateAllowed matches the condition on partial states (MP vs MP+syncs)', () => {
  const suite = new Map(loadSuite().map((s) => [s.test.name, s.test]));
  const mp = suite.get('MP') as LitmusTest;
  const mpSyncs = suite.get('MP+syncs') as LitmusTest;
  const witness = new Map([
    ['1:r1', 1],
    ['1:r3', 0],
  ]);
  assert.equal(isStateAllowed(mp, witness), true);
  assert.equal(isStateAllowed(mpSyncs, witness), false);
  assert.equal(isStateAllowed(mpSyncs, new Map([['1:r1', 1], ['1:r3', 1], ['x', 1], ['y', 1]])), true);
  assert.equal(isStateAllowed(mpSyncs, new Map([['x', 2]])), false, 'no thread writes 2');
  // Full states carry every written or initialised register and every location.
  const full = allowedStates(mp).states[0] as Map<string, number>;
  assert.deepEqual([...full.keys()].sort(), ['0:r1', '0:r2', '0:r3', '0:r4', '1:r1', '1:r2', '1:r3', '1:r4', 'x', 'y']);
  assert.equal(full.get('0:r2'), litmusAddr(0), 'x lives at the first address');
  assert.equal(full.get('0:r4'), litmusAddr(1), 'y lives at the second');
});

test('coherence: a location final value is its co-last write, CoWW forbids the reverse', () => {
  const t = parse(
    'CoWW2',
    `PPC CoWW2
{ 0:r2=x; 1:r2=x; }
 P0           | P1           ;
 li r1,1      | lwz r1,0(r2) ;
 stw r1,0(r2) | lwz r3,0(r2) ;
 li r3,2      |              ;
 stw r3,0(r2) |              ;
exists (x=2)`,
  );
  const r = allowedStates(t);
  assert.ok(r.states.every((s) => s.get('x') === 2));
  // P1 may see 0,1,2 in any coherence-respecting order, never going back.
  const seen = new Set(r.states.map((s) => `${s.get('1:r1')}${s.get('1:r3')}`));
  assert.deepEqual([...seen].sort(), ['00', '01', '02', '11', '12', '22']);
});

test('ppo subtleties of ppc.cat: PPOCA allowed, PPOAA forbidden', () => {
  const body = (p1: string): string => `{ 0:r2=x; 0:r4=y; 1:r2=y; 1:r4=z; 1:r7=x; }
 P0           | P1 ;
 li r1,1      | ${p1.split('\n')[0]} ;
${['stw r1,0(r2)', 'lwsync', 'li r3,1', 'stw r3,0(r4)', '', '', '', '', '']
  .map((l, i) => ` ${l.padEnd(12)} | ${p1.split('\n')[i + 1] ?? ''} ;`)
  .join('\n')}
exists (1:r1=1 /\\ 1:r5=1 /\\ 1:r8=0)`;
  // ctrl to the write, rfi, addr: ctrl;rfi is not in ppo (the read can be satisfied early).
  const ppoca = parse(
    'PPOCA',
    `PPC PPOCA\n${body(['lwz r1,0(r2)', 'cmpw r1,r1', 'beq LC00', 'LC00:', 'li r3,1', 'stw r3,0(r4)', 'lwz r5,0(r4)', 'xor r6,r5,r5', 'lwzx r8,r6,r7'].join('\n'))}`,
  );
  // addr to the write, rfi, addr: all in ii, so ppo.
  const ppoaa = parse(
    'PPOAA',
    `PPC PPOAA\n${body(['lwz r1,0(r2)', 'xor r9,r1,r1', 'li r3,1', 'stwx r3,r9,r4', 'lwz r5,0(r4)', 'xor r6,r5,r5', 'lwzx r8,r6,r7'].join('\n'))}`,
  );
  assert.equal(checkCondition(ppoca).verdict, 'Allowed');
  assert.equal(checkCondition(ppoaa).verdict, 'Forbidden');
});

test('eieio is light and W*W only: MP+eieio+addr forbidden, SB+eieios and LB+eieios allowed', () => {
  const mk = (name: string, p0: string[], p1: string[], cond: string): LitmusTest =>
    parse(
      name,
      `PPC ${name}\n{ 0:r2=x; 0:r4=y; 1:r2=y; 1:r4=x; }\n P0 | P1 ;\n${p0
        .map((l, i) => ` ${l} | ${p1[i] ?? ''} ;`)
        .join('\n')}\nexists (${cond})`,
    );
  const mp = mk('MP+eieio+addr', ['li r1,1', 'stw r1,0(r2)', 'eieio', 'li r3,1', 'stw r3,0(r4)'], ['lwz r1,0(r2)', 'xor r9,r1,r1', 'lwzx r3,r9,r4'], '1:r1=1 /\\ 1:r3=0');
  const sb = mk('SB+eieios', ['li r1,1', 'stw r1,0(r2)', 'eieio', 'lwz r3,0(r4)'], ['li r1,1', 'stw r1,0(r2)', 'eieio', 'lwz r3,0(r4)'], '0:r3=0 /\\ 1:r3=0');
  const lb = mk('LB+eieios', ['lwz r1,0(r2)', 'eieio', 'li r3,1', 'stw r3,0(r4)'], ['lwz r1,0(r2)', 'eieio', 'li r3,1', 'stw r3,0(r4)'], '0:r1=1 /\\ 1:r1=1');
  const w2 = mk('2+2W+eieios', ['li r1,2', 'stw r1,0(r2)', 'eieio', 'li r3,1', 'stw r3,0(r4)'], ['li r1,2', 'stw r1,0(r2)', 'eieio', 'li r3,1', 'stw r3,0(r4)'], 'x=2 /\\ y=2');
  assert.equal(checkCondition(mp).verdict, 'Forbidden');
  assert.equal(checkCondition(sb).verdict, 'Allowed');
  assert.equal(checkCondition(lb).verdict, 'Allowed');
  assert.equal(checkCondition(w2).verdict, 'Forbidden');
});

test('lwarx/stwcx.: two successful increments never lose an update; spurious failure is allowed', () => {
  const t = parse(
    'ATOM',
    `PPC ATOM
{ 0:r2=x; 1:r2=x; }
 P0             | P1             ;
 lwarx r1,0,r2  | lwarx r1,0,r2  ;
 addi r1,r1,1   | addi r1,r1,1   ;
 stwcx. r1,0,r2 | stwcx. r1,0,r2 ;
 bne Fail0      | bne Fail1      ;
 li r5,1        | li r5,1        ;
 Fail0:         | Fail1:         ;
exists (0:r5=1 /\\ 1:r5=1 /\\ x=1)`,
  );
  assert.equal(checkCondition(t).verdict, 'Forbidden');
  assert.equal(isStateAllowed(t, new Map([['0:r5', 1], ['1:r5', 1], ['x', 2]])), true);
  assert.equal(isStateAllowed(t, new Map([['0:r5', 0], ['1:r5', 0], ['x', 0]])), true, 'both may fail');
  assert.equal(isStateAllowed(t, new Map([['0:r5', 1], ['1:r5', 0], ['x', 1]])), true);
});

test('a stwcx. without a reservation at its address always fails', () => {
  const t = parse(
    'STWCX-noresv',
    `PPC STWCX-noresv
{ 0:r2=x; 0:r4=y; }
 P0             ;
 lwarx r1,0,r2  ;
 li r3,1        ;
 stwcx. r3,0,r4 ;
 stwcx. r3,0,r2 ;
exists (y=1 \\/ x=1)`,
  );
  assert.equal(checkCondition(t).verdict, 'Forbidden');
});

test('backward branches are unrolled: a spin loop then isync orders the later load (MP+lwsync+spin-isync)', () => {
  const t = parse(
    'MP+lwsync+spin',
    `PPC MP+lwsync+spin
{ 0:r2=x; 0:r4=y; 1:r2=y; 1:r4=x; }
 P0           | P1           ;
 li r1,1      | Loop:        ;
 stw r1,0(r2) | lwz r1,0(r2) ;
 lwsync       | cmpwi r1,0   ;
 li r3,1      | beq Loop     ;
 stw r3,0(r4) | isync        ;
              | lwz r3,0(r4) ;
exists (1:r3=0)`,
  );
  const v = checkCondition(t, { unroll: 3 });
  assert.equal(v.verdict, 'Forbidden');
  assert.equal(v.result.loopBoundHit, true, 'the loop may spin forever, so some path is cut');
  assert.equal(v.result.unroll, 3);
  assert.ok(v.result.states.every((s) => s.get('1:r1') === 1), 'the loop exits only on r1=1');
});

test('generated tests render to text that parses back to the same AST', () => {
  const gens = generateLitmusTests(20240611, 40);
  assert.ok(gens.length >= 30, `only ${gens.length} distinct tests`);
  for (const g of gens) {
    const parsed = parseLitmus(g.text, g.test.file);
    assert.deepEqual(normalize(parsed), normalize(g.test), `seed 20240611, ${g.test.name}:\n${g.text}`);
    assert.equal(toLitmusText(parsed), g.text, `${g.test.name}: text is not a fixpoint`);
  }
});

test('generation is a pure function of the seed', () => {
  const a = generateLitmusTests('replay', 10).map((g) => g.text);
  const b = generateLitmusTests('replay', 10).map((g) => g.text);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, generateLitmusTests('other', 10).map((g) => g.text));
});

test('known families come out with diy names, the suite text and the right verdicts', () => {
  const pair = (first: 'R' | 'W', second: 'R' | 'W', deco: PoDecoration) => ({ kind: 'pair', first, second, deco }) as const;
  const single = { kind: 'single' } as const;
  const cases: { cycle: Cycle; name: string; verdict: 'Allowed' | 'Forbidden' }[] = [
    { cycle: { threads: [pair('W', 'W', 'po'), pair('R', 'R', 'po')], coms: ['rf', 'fr'] }, name: 'MP+pos', verdict: 'Allowed' },
    { cycle: { threads: [pair('W', 'W', 'sync'), pair('R', 'R', 'sync')], coms: ['rf', 'fr'] }, name: 'MP+syncs', verdict: 'Forbidden' },
    // Given from P1's side: the name must rotate it back.
    { cycle: { threads: [pair('R', 'R', 'addr'), pair('W', 'W', 'lwsync')], coms: ['fr', 'rf'] }, name: 'MP+lwsync+addr', verdict: 'Forbidden' },
    { cycle: { threads: [pair('R', 'R', 'ctrl'), pair('W', 'W', 'lwsync')], coms: ['fr', 'rf'] }, name: 'MP+lwsync+ctrl', verdict: 'Allowed' },
    { cycle: { threads: [pair('W', 'R', 'lwsync'), pair('W', 'R', 'lwsync')], coms: ['fr', 'fr'] }, name: 'SB+lwsyncs', verdict: 'Allowed' },
    { cycle: { threads: [pair('R', 'W', 'data'), pair('R', 'W', 'data')], coms: ['rf', 'rf'] }, name: 'LB+datas', verdict: 'Forbidden' },
    { cycle: { threads: [single, pair('R', 'W', 'addr'), pair('R', 'R', 'addr')], coms: ['rf', 'rf', 'fr'] }, name: 'WRC+addrs', verdict: 'Allowed' },
    { cycle: { threads: [single, pair('R', 'R', 'sync'), single, pair('R', 'R', 'sync')], coms: ['rf', 'fr', 'rf', 'fr'] }, name: 'IRIW+syncs', verdict: 'Forbidden' },
    { cycle: { threads: [single, pair('R', 'R', 'lwsync'), single, pair('R', 'R', 'lwsync')], coms: ['rf', 'fr', 'rf', 'fr'] }, name: 'IRIW+lwsyncs', verdict: 'Allowed' },
    { cycle: { threads: [pair('W', 'W', 'lwsync'), pair('W', 'R', 'sync')], coms: ['co', 'fr'] }, name: 'R+lwsync+sync', verdict: 'Allowed' },
    { cycle: { threads: [single, pair('R', 'R', 'sync'), pair('W', 'R', 'sync')], coms: ['rf', 'fr', 'fr'] }, name: 'RWC+syncs', verdict: 'Forbidden' },
  ];
  const suite = new Map(loadSuite().map((s) => [s.test.name, s.test]));
  for (const c of cases) {
    const t = cycleToTest(c.cycle);
    assert.equal(t.name, c.name);
    assert.equal(checkCondition(t).verdict, c.verdict, `${c.name}:\n${toLitmusText(t)}`);
    const fromSuite = suite.get(c.name);
    if (fromSuite !== undefined && !c.name.includes('addr')) {
      // Same program and condition as the hand-written suite file (addr tests differ only in
      // which register holds the stored value).
      assert.deepEqual(normalize(t), normalize(fromSuite), c.name);
    }
  }
});

test('random generated tests: the checker is fast and its verdict is stable under re-parsing', () => {
  for (const g of generateLitmusTests(7, 60)) {
    const started = performance.now();
    const v = checkCondition(g.test);
    const elapsed_ms = performance.now() - started;
    assert.ok(elapsed_ms < 1000, `${g.test.name} (seed 7): ${elapsed_ms.toFixed(0)} ms`);
    assert.equal(checkCondition(parseLitmus(g.text, g.test.file)).verdict, v.verdict, g.test.name);
    // A cycle made only of po edges and com edges is always allowed on POWER except when a single
    // location is involved, which the generator never produces.
    if (g.cycle.threads.every((t) => t.kind === 'single' || t.deco === 'po')) assert.equal(v.verdict, 'Allowed', g.test.name);
    // Syncs on every po edge restore SC: every cycle is forbidden.
    if (g.cycle.threads.every((t) => t.kind === 'single' || t.deco === 'sync')) assert.equal(v.verdict, 'Forbidden', g.test.name);
  }
});

/** The parts of a test that define its meaning (no file name, line numbers or location order). */
function normalize(t: LitmusTest): unknown {
  return {
    arch: t.arch,
    name: t.name,
    initRegs: [...t.initRegs].sort(([a], [b]) => a - b).map(([k, m]) => [k, [...m].sort(([a], [b]) => (a < b ? -1 : 1))]),
    initMem: [...t.initMem].sort(),
    locations: [...t.locations].sort(),
    threads: t.threads.map((th) => ({ index: th.index, code: th.code.map((si) => si.instr) })),
    quantifier: t.quantifier,
    condition: t.condition,
    observed: t.observed,
  };
}
