// Goal: the herd PPC front end reads every test of the project's conformance suite and other
// valid herd styles into the documented AST, and every malformed input fails with an InputError
// naming the right line and saying what was expected. Method: concrete checks on suite files and
// on hand-written herd-style tests; a table of broken inputs with their expected line and message;
// every prefix of every suite file (cut at each line and each character) and seeded random
// mutations must either parse or throw InputError, never anything else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { InputError, Random } from '../../../services/stdx/index.js';
import { parseLitmus } from '../../../services/litmus/index.js';
import type { Instr, LitmusTest } from '../../../services/litmus/index.js';

const SUITE_DIR = new URL('../../../../test/litmus/', import.meta.url);

function suiteFiles(): string[] {
  return readdirSync(SUITE_DIR)
    .filter((f) => f.endsWith('.litmus'))
    .sort();
}

function suiteText(file: string): string {
  return readFileSync(new URL(file, SUITE_DIR), 'utf8');
}

function suiteTest(file: string): LitmusTest {
  return parseLitmus(suiteText(file), file);
}

function ops(t: LitmusTest, thread: number): string[] {
  return t.threads[thread]!.code.map((c) => c.instr.op);
}

function instrs(t: LitmusTest, thread: number): Instr[] {
  return t.threads[thread]!.code.map((c) => c.instr);
}

const reg = (thread: number, r: string) => ({ kind: 'reg', thread, reg: r }) as const;
const loc = (l: string) => ({ kind: 'loc', loc: l }) as const;
const int = (value: number) => ({ kind: 'int', value }) as const;
const addr = (l: string) => ({ kind: 'addr', loc: l }) as const;

test('every suite file parses, and the names match verdicts.tsv one to one', () => {
  const files = suiteFiles();
  assert.ok(files.length >= 35, `expected the suite in ${SUITE_DIR.pathname}`);
  const names = files.map((f) => {
    const t = suiteTest(f);
    assert.equal(t.arch, 'PPC');
    assert.equal(`${t.name}.litmus`, f, 'herd names files after their tests');
    assert.equal(t.quantifier, 'exists');
    assert.ok(t.threads.length >= 1);
    return t.name;
  });
  const tsv = readFileSync(new URL('verdicts.tsv', SUITE_DIR), 'utf8').trim().split('\n');
  assert.deepEqual(tsv[0]!.split('\t'), ['name', 'verdict', 'hw']);
  const listed = tsv.slice(1).map((row) => row.split('\t')[0]!);
  assert.deepEqual([...listed].sort(), [...names].sort());
});

test('MP+lwsync+addr: threads, instructions, init, condition, locations', () => {
  const t = suiteTest('MP+lwsync+addr.litmus');
  assert.equal(t.name, 'MP+lwsync+addr');
  assert.equal(t.file, 'MP+lwsync+addr.litmus');
  assert.equal(t.threads.length, 2);
  assert.deepEqual(
    t.threads.map((th) => th.index),
    [0, 1],
  );
  assert.deepEqual(instrs(t, 0), [
    { op: 'li', rd: 'r1', imm: 1 },
    { op: 'stw', rs: 'r1', disp: 0, ra: 'r2' },
    { op: 'lwsync' },
    { op: 'li', rd: 'r3', imm: 1 },
    { op: 'stw', rs: 'r3', disp: 0, ra: 'r4' },
  ]);
  assert.deepEqual(instrs(t, 1), [
    { op: 'lwz', rd: 'r1', disp: 0, ra: 'r2' },
    { op: 'xor', rd: 'r9', ra: 'r1', rb: 'r1' },
    { op: 'lwzx', rd: 'r3', ra: 'r9', rb: 'r4' },
  ]);
  assert.deepEqual(
    t.threads[0]!.code.map((c) => c.line),
    [7, 8, 9, 10, 11],
  );
  assert.deepEqual(
    t.threads[1]!.code.map((c) => c.line),
    [7, 8, 9],
  );
  assert.deepEqual(
    t.initRegs,
    new Map([
      [
        0,
        new Map([
          ['r2', addr('x')],
          ['r4', addr('y')],
        ]),
      ],
      [
        1,
        new Map([
          ['r2', addr('y')],
          ['r4', addr('x')],
        ]),
      ],
    ]),
  );
  assert.equal(t.initMem.size, 0);
  assert.deepEqual(t.locations, ['x', 'y']);
  assert.deepEqual(t.condition, {
    kind: 'and',
    es: [
      { kind: 'eq', v: reg(1, 'r1'), value: int(1) },
      { kind: 'eq', v: reg(1, 'r3'), value: int(0) },
    ],
  });
  assert.deepEqual(t.observed, []);
});

test('MP+lwsync+ctrlisync: compare, branch, label cell and isync', () => {
  const t = suiteTest('MP+lwsync+ctrlisync.litmus');
  assert.deepEqual(ops(t, 1), ['lwz', 'cmpw', 'beq', 'label', 'isync', 'lwz']);
  assert.deepEqual(instrs(t, 1).slice(1, 4), [
    { op: 'cmpw', ra: 'r1', rb: 'r1' },
    { op: 'beq', label: 'LC01' },
    { op: 'label', name: 'LC01' },
  ]);
  assert.deepEqual(ops(t, 0), ['li', 'stw', 'lwsync', 'li', 'stw']);
});

test('IRIW+addrs: four threads, empty cells contribute nothing', () => {
  const t = suiteTest('IRIW+addrs.litmus');
  assert.equal(t.threads.length, 4);
  assert.deepEqual(ops(t, 0), ['li', 'stw']);
  assert.deepEqual(ops(t, 1), ['li', 'stw']);
  assert.deepEqual(ops(t, 2), ['lwz', 'xor', 'lwzx']);
  assert.equal(t.condition.kind, 'and');
  assert.equal(t.condition.kind === 'and' && t.condition.es.length, 4);
});

test('2+2W and WRC+addrs: memory atoms in the condition, indexed stores', () => {
  const w = suiteTest('2+2W.litmus');
  assert.deepEqual(w.condition, {
    kind: 'and',
    es: [
      { kind: 'eq', v: loc('x'), value: int(2) },
      { kind: 'eq', v: loc('y'), value: int(2) },
    ],
  });
  const wrc = suiteTest('WRC+addrs.litmus');
  assert.equal(wrc.threads.length, 3);
  assert.deepEqual(instrs(wrc, 1)[3], { op: 'stwx', rs: 'r8', ra: 'r9', rb: 'r4' });
  const coww = suiteTest('CoWW.litmus');
  assert.equal(coww.threads.length, 1);
  assert.deepEqual(coww.condition, { kind: 'eq', v: loc('x'), value: int(1) });
});

const HERD_STYLE = `(* A test in another herd style: diy metadata, comments, typed init. *)
PPC LB+ctrl+rmw.loop_v2 "doc on the header line"
"Another doc
string on two lines"
Cycle=Rfe PodRW Rfe PodRW
Generator=diy7 (version 7.56)
Prefetch=0:x=F,0:y=W
{ int x=0; uint32_t y;
  0:r2=x; 0:r4=y; 1:r2=y;
  1:r4 = &x; 1:r5=0x10; z=-3; }
 P0                  | P1                  ;
 lwz r1,0(r2)        | lwz r1,0(r2)        ;
 CMPW cr0,r1,r1      | LC10: lwarx r6,0,r4 ;
 beq LC00            | addi r6,r6,1        ;
 LC00: li r3,1       | stwcx. r6,r0,r4     ; (* retry on failure *)
 stw r3,0(r4)        | bne cr0,LC10        ;
 cmpwi cr1,r3,-1     |                     ;
 locations [x; 0:r1; y int;]
~exists (0:r1=1 /\\ not (1:r1=1) \\/ [z]=-3 /\\ 1:r2=y) (* trailing
comment *)
`;

test('another herd style: metadata, comments, typed init, rmw loop, locations, ~exists', () => {
  const t = parseLitmus(HERD_STYLE, 'herd-style.litmus');
  assert.equal(t.name, 'LB+ctrl+rmw.loop_v2');
  assert.deepEqual(t.initMem, new Map([['x', 0], ['y', 0], ['z', -3]]));
  assert.deepEqual(
    t.initRegs.get(1),
    new Map<string, unknown>([
      ['r2', addr('y')],
      ['r4', addr('x')],
      ['r5', int(16)],
    ]),
  );
  assert.deepEqual(t.locations, ['x', 'y', 'z']);
  assert.deepEqual(instrs(t, 0), [
    { op: 'lwz', rd: 'r1', disp: 0, ra: 'r2' },
    { op: 'cmpw', ra: 'r1', rb: 'r1' },
    { op: 'beq', label: 'LC00' },
    { op: 'label', name: 'LC00' },
    { op: 'li', rd: 'r3', imm: 1 },
    { op: 'stw', rs: 'r3', disp: 0, ra: 'r4' },
    { op: 'cmpwi', ra: 'r3', imm: -1, cr: 1 },
  ]);
  assert.deepEqual(instrs(t, 1), [
    { op: 'lwz', rd: 'r1', disp: 0, ra: 'r2' },
    { op: 'label', name: 'LC10' },
    { op: 'lwarx', rd: 'r6', ra: '0', rb: 'r4' },
    { op: 'addi', rd: 'r6', ra: 'r6', imm: 1 },
    { op: 'stwcx', rs: 'r6', ra: '0', rb: 'r4' },
    { op: 'bne', label: 'LC10' },
  ]);
  // The label and the instruction sharing a cell come from the same line.
  assert.deepEqual(
    t.threads[1]!.code.slice(1, 3).map((c) => c.line),
    [13, 13],
  );
  assert.deepEqual(t.observed, [loc('x'), reg(0, 'r1'), loc('y')]);
  assert.equal(t.quantifier, '~exists');
  assert.deepEqual(t.condition, {
    kind: 'or',
    es: [
      {
        kind: 'and',
        es: [
          { kind: 'eq', v: reg(0, 'r1'), value: int(1) },
          { kind: 'not', e: { kind: 'eq', v: reg(1, 'r1'), value: int(1) } },
        ],
      },
      {
        kind: 'and',
        es: [
          { kind: 'eq', v: loc('z'), value: int(-3) },
          { kind: 'eq', v: reg(1, 'r2'), value: addr('y') },
        ],
      },
    ],
  });
});

test('quantifiers and proposition forms herd accepts', () => {
  const base = (cond: string) =>
    parseLitmus(`PPC T\n{ 0:r2=x; }\nP0 | P1 ;\n lwz r1,0(r2) | ;\n${cond}\n`, 't.litmus');
  assert.equal(base('forall (true)').quantifier, 'forall');
  assert.deepEqual(base('forall (true)').condition, { kind: 'true' });
  assert.equal(base('final (false)').quantifier, 'exists');
  assert.equal(base('(0:r1=1)').quantifier, 'exists');
  assert.equal(base('not exists (x=1)').quantifier, '~exists');
  assert.equal(base('~ exists (x=1);').quantifier, '~exists');
  assert.deepEqual(base('exists P1:r3 != 0x10').condition, {
    kind: 'not',
    e: { kind: 'eq', v: reg(1, 'r3'), value: int(16) },
  });
  assert.deepEqual(base('exists (0:r2 == &y)').condition, {
    kind: 'eq',
    v: reg(0, 'r2'),
    value: addr('y'),
  });
  assert.deepEqual(base('exists (0:r2=y)').locations, ['x', 'y']);
  // herd: `=>` binds tighter than `/\` and is read as `~a \/ b`.
  assert.deepEqual(base('exists (x=1 => 0:r1=1 /\\ true)').condition, {
    kind: 'and',
    es: [
      {
        kind: 'or',
        es: [
          { kind: 'not', e: { kind: 'eq', v: loc('x'), value: int(1) } },
          { kind: 'eq', v: reg(0, 'r1'), value: int(1) },
        ],
      },
      { kind: 'true' },
    ],
  });
  // `\/` is looser than `/\`.
  const c = base('exists x=1 \\/ x=2 /\\ ~y=3').condition;
  assert.equal(c.kind, 'or');
  assert.equal(c.kind === 'or' && c.es[1]!.kind, 'and');
});

test('one-line init, rA=0 in every form that has it, upper-case mnemonics', () => {
  const t = parseLitmus(
    'PPC X\n{0:r2=x;}\n P0 ;\n LI r1,-0x8000 ;\n STW r1,4(r0) ;\n lwzx r3,r0,r2 ;\n' +
      ' addi r4,0,7 ;\n mr r5,r4 ;\n subf r6,r4,r5 ;\n eieio ;\n b L ;\n L: ;\nexists (x=0)\n',
    'x.litmus',
  );
  assert.deepEqual(instrs(t, 0), [
    { op: 'li', rd: 'r1', imm: -32768 },
    { op: 'stw', rs: 'r1', disp: 4, ra: '0' },
    { op: 'lwzx', rd: 'r3', ra: '0', rb: 'r2' },
    { op: 'addi', rd: 'r4', ra: '0', imm: 7 },
    { op: 'mr', rd: 'r5', rs: 'r4' },
    { op: 'subf', rd: 'r6', ra: 'r4', rb: 'r5' },
    { op: 'eieio' },
    { op: 'b', label: 'L' },
    { op: 'label', name: 'L' },
  ]);
});

const GOOD = [
  'PPC MP', //                                  1
  '""', //                                      2
  '{', //                                       3
  '0:r2=x; 0:r4=y; 1:r2=y; 1:r4=x;', //         4
  '}', //                                       5
  ' P0           | P1           ;', //          6
  ' li r1,1      | lwz r1,0(r2) ;', //          7
  ' stw r1,0(r2) | lwz r3,0(r4) ;', //          8
  'exists', //                                  9
  '(1:r1=1 /\\ 1:r3=0)', //                     10
];

/** GOOD with line `n` (1-based) replaced by `text`, or removed when `text` is undefined. */
function withLine(n: number, text: string | undefined): string {
  const lines = [...GOOD];
  if (text === undefined) lines.splice(n - 1, 1);
  else lines[n - 1] = text;
  return `${lines.join('\n')}\n`;
}

const MALFORMED: Array<{ what: string; text: string; line: number; detail: RegExp }> = [
  { what: 'empty file', text: '\n\n', line: 1, detail: /file is empty; expected a header/ },
  { what: 'other arch', text: withLine(1, 'X86 SB'), line: 1, detail: /`X86` test.*PPC/ },
  {
    what: 'no name',
    text: withLine(1, 'PPC'),
    line: 1,
    detail: /names no test; expected `PPC <name>`/,
  },
  {
    what: 'junk before init',
    text: withLine(2, 'hello there'),
    line: 2,
    detail: /expected the initial state/,
  },
  {
    what: 'unterminated comment',
    text: withLine(2, '(* no end'),
    line: 2,
    detail: /never closed; expected a matching `\*\)`/,
  },
  {
    what: 'init without }',
    text: withLine(5, undefined),
    line: 5,
    detail: /found `\|` inside the initial state.*line 3.*missing its closing `}`/,
  },
  {
    what: 'init never closed at end of file',
    text: 'PPC X\n{\n0:r2=x;\n',
    line: 2,
    detail: /opened here with `{` is never closed; expected `}`/,
  },
  {
    what: 'init items without ;',
    text: withLine(4, '0:r2=x 0:r4=y;'),
    line: 4,
    detail: /more than one `=`; separate initial-state items with `;`/,
  },
  {
    what: 'bad init register',
    text: withLine(4, '0:rx=x;'),
    line: 4,
    detail: /`rx` is not a register/,
  },
  {
    what: 'bad init value',
    text: withLine(4, '0:r2=1x;'),
    line: 4,
    detail: /`1x` is neither an integer within ±2\^53 nor a location name/,
  },
  {
    what: 'init twice',
    text: withLine(4, 'x=1; x=2;'),
    line: 4,
    detail: /`x` is initialised twice/,
  },
  {
    what: 'init of a thread that does not exist',
    text: withLine(4, '0:r2=x;\n2:r2=y;'),
    line: 5,
    detail: /register of thread 2, but the test has only 2 thread\(s\), P0..P1/,
  },
  {
    what: 'no thread table',
    text: 'PPC X\n{ }\n',
    line: 2,
    detail: /expected the thread table header/,
  },
  {
    what: 'bad thread header',
    text: withLine(6, ' P0 | P2 ;'),
    line: 6,
    detail: /expected `P1` in column 2/,
  },
  { what: 'header without ;', text: withLine(6, ' P0 | P1'), line: 6, detail: /ending with `;`/ },
  {
    what: 'unknown mnemonic',
    text: withLine(7, ' frob r1,1 | lwz r1,0(r2) ;'),
    line: 7,
    detail: /in P0, `frob r1,1`: unknown or unsupported mnemonic `frob`; ipiscope executes li/,
  },
  {
    what: 'bad register operand',
    text: withLine(7, ' li r1,1 | lwz r32,0(r2) ;'),
    line: 7,
    detail: /in P1.*`r32` is not a register; expected r0..r31/,
  },
  {
    what: 'bad memory operand',
    text: withLine(8, ' stw r1,r2 | lwz r3,0(r4) ;'),
    line: 8,
    detail: /`r2` is not a memory operand; expected `d\(rA\)`/,
  },
  {
    what: 'wrong operand count',
    text: withLine(7, ' li r1 | lwz r1,0(r2) ;'),
    line: 7,
    detail: /`li` takes 2 operand\(s\) \(`li rD,imm`\), but 1 were given/,
  },
  {
    what: 'bad immediate',
    text: withLine(7, ' li r1,one | lwz r1,0(r2) ;'),
    line: 7,
    detail: /`one` is not an integer/,
  },
  {
    what: 'stwcx without its dot',
    text: withLine(7, ' stwcx r1,0,r2 | lwz r1,0(r2) ;'),
    line: 7,
    detail: /written `stwcx\.`, with its dot/,
  },
  {
    what: 'bad condition register',
    text: withLine(8, ' stw r1,0(r2) | cmpw cr9,r3,r3 ;'),
    line: 8,
    detail: /`cr9` is not a condition register/,
  },
  {
    what: 'wrong column count',
    text: withLine(8, ' stw r1,0(r2) ;'),
    line: 8,
    detail: /1 column\(s\) but the header declares 2 thread\(s\)/,
  },
  {
    what: 'row without ;',
    text: withLine(7, ' li r1,1      | lwz r1,0(r2)'),
    line: 7,
    detail: /row to end with `;`/,
  },
  {
    what: 'undefined label',
    text: withLine(8, ' stw r1,0(r2) | beq LC09 ;'),
    line: 8,
    detail: /branch target `LC09` is not a label of P1; define it with `LC09:`/,
  },
  {
    what: 'duplicate label',
    text: withLine(8, ' L: | ;\n L: | ;'),
    line: 9,
    detail: /label `L` of P0 is already defined at line 8/,
  },
  {
    what: 'exists without a proposition',
    text: withLine(10, ''),
    line: 9,
    detail: /ends too early; expected a proposition/,
  },
  {
    what: 'unknown thread in condition',
    text: withLine(10, '(1:r1=1 /\\ 2:r3=0)'),
    line: 10,
    detail: /names `2:r3`, but the test has only 2 thread\(s\), P0..P1/,
  },
  {
    what: 'unclosed parenthesis',
    text: withLine(10, '(1:r1=1 /\\ 1:r3=0'),
    line: 10,
    detail: /`\(` opened at line 10 is never closed; expected `\)`/,
  },
  {
    what: 'missing = in atom',
    text: withLine(10, '(1:r1 /\\ 1:r3=0)'),
    line: 10,
    detail: /expected `=` after `1:r1`, found `\/\\`/,
  },
  {
    what: 'text after the condition',
    text: `${withLine(10, '(1:r1=1)')}oops\n`,
    line: 11,
    detail: /unexpected `oops` after the final condition/,
  },
  {
    what: 'bad character in condition',
    text: withLine(10, '(1:r1=1 $ 1:r3=0)'),
    line: 10,
    detail: /unexpected `\$ 1:r3=0\)` in the condition/,
  },
  {
    what: 'two filter clauses',
    text: withLine(9, 'filter (1:r1=1)\nfilter (1:r1=0)\nexists'),
    line: 10,
    detail: /a test has at most one `filter`/,
  },
  {
    what: 'unclosed locations',
    text: withLine(9, 'locations [x; 0:r1;'),
    line: 10,
    detail: /`locations \[` list opened at line 9 is not closed; expected `]` before `\(`/,
  },
  {
    what: 'locations list running into the condition',
    text: withLine(9, 'locations [x; 0:r1;\nexists'),
    line: 10,
    detail: /list opened at line 9 is not closed; expected `]` before `exists`/,
  },
  {
    what: 'locations items without ;',
    text: withLine(9, 'locations [x 0:r1]\nexists'),
    line: 9,
    detail: /expected `;` or `]` in the `locations` list, found `0`/,
  },
  {
    what: 'runaway nesting',
    text: withLine(10, `${'('.repeat(5000)}x=1${')'.repeat(5000)}`),
    line: 10,
    detail: /nests deeper than 100 levels/,
  },
];

test("a doc string that nothing closes is skipped, as herd's splitter does (herdtools7's co8 has one); one closed lines later spans them", () => {
  const open = parseLitmus(withLine(2, '"Coherence tests, fr as ppo (+ pppo-ext)'), 'co8-like.litmus');
  assert.equal(open.name, 'MP');
  assert.equal(open.threads.length, 2);
  const spanning = parseLitmus(withLine(2, '"two\nlines"'), 'doc2.litmus');
  assert.equal(spanning.threads.length, 2);
  // A closed doc string with more after it on its line is still an error.
  assert.throws(() => parseLitmus(withLine(2, '"doc" junk'), 'junk.litmus'), /junk\.litmus:2: unexpected `junk` after the doc string/);
});

test('the unmodified base of the malformed table parses', () => {
  assert.equal(parseLitmus(`${GOOD.join('\n')}\n`, 'good.litmus').name, 'MP');
});

for (const c of MALFORMED) {
  test(`malformed: ${c.what} -> InputError at line ${c.line}`, () => {
    assert.throws(
      () => parseLitmus(c.text, 'bad.litmus'),
      (e: unknown) => {
        assert.ok(e instanceof InputError, `expected InputError, got ${String(e)}`);
        assert.equal(e.file, 'bad.litmus');
        assert.equal(e.line, c.line, `line for: ${e.message}`);
        assert.match(e.detail, c.detail);
        assert.ok(e.message.startsWith(`bad.litmus:${c.line}: `));
        assert.match(e.detail, /\.$/, 'messages are sentences');
        return true;
      },
    );
  });
}

/** Parses `text` and requires success or an InputError whose line lies within the text. */
function parseOrInputError(text: string, context: string): void {
  try {
    parseLitmus(text, 'cut.litmus');
  } catch (e) {
    if (!(e instanceof InputError)) {
      const got = e instanceof Error ? e.stack : String(e);
      assert.fail(`${context}: expected InputError, got ${got}`);
    }
    const lines = text.split('\n').length;
    assert.ok(e.line === undefined || (e.line >= 1 && e.line <= lines), `${context}: ${e.message}`);
  }
}

test('every prefix of every suite file (cut at lines and chars) parses or fails cleanly', () => {
  for (const file of suiteFiles()) {
    const text = suiteText(file);
    for (let i = 0; i <= text.length; i++) parseOrInputError(text.slice(0, i), `${file}[0,${i})`);
    const lines = text.split('\n');
    for (let n = 0; n <= lines.length; n++) {
      parseOrInputError(lines.slice(0, n).join('\n'), `${file} first ${n} lines`);
    }
  }
  for (let i = 0; i <= HERD_STYLE.length; i++) {
    parseOrInputError(HERD_STYLE.slice(0, i), `herd-style[0,${i})`);
  }
});

test('seeded random mutations of suite files parse or throw InputError', () => {
  const seed = Number(process.env.IPISCOPE_SEED ?? 0x5eed);
  const rng = new Random(seed, 'litmus-parse-mutations');
  const alphabet = ' \n;|:,()[]{}*=~/\\-"0129rxP.LCli';
  const files = suiteFiles().map(suiteText).concat([HERD_STYLE]);
  for (let round = 0; round < 3000; round++) {
    let text = rng.pick(files);
    const edits = 1 + rng.int(4);
    for (let k = 0; k < edits; k++) {
      const at = rng.int(text.length + 1);
      const ch = alphabet[rng.int(alphabet.length)]!;
      const kind = rng.int(3);
      if (kind === 0) text = text.slice(0, at) + ch + text.slice(at);
      else if (kind === 1) text = text.slice(0, at) + text.slice(at + 1);
      else text = text.slice(0, at) + ch + text.slice(at + 1);
    }
    parseOrInputError(text, `seed ${seed} (set IPISCOPE_SEED to replay) round ${round}`);
  }
});

test('diy-generated layout: metadata with brackets, four threads, init over several lines', () => {
  const t = parseLitmus(
    [
      'PPC podrwposwr999',
      '"Fre SyncdWW Rfe PodRW PosWR"',
      'Cycle=Fre SyncdWW Rfe PodRW PosWR',
      'Relax=[PodRW,PosWR]',
      'Safe=Fre BCSyncdWW',
      '{',
      '0:r2=b; 0:r4=x;',
      '1:r2=x; 1:r4=y;',
      '2:r2=y;',
      '3:r2=y; 3:r7=b;',
      '}',
      ' P0           | P1           | P2           | P3            ;',
      ' li r1,2      | lwz r1,0(r2) | li r1,2      | lwz r1,0(r2)  ;',
      ' stw r1,0(r2) | sync         | stw r1,0(r2) | xor r3,r1,r1  ;',
      ' sync         | li r3,1      |              | lwzx r4,r3,r7 ;',
      ' li r3,1      | stw r3,0(r4) |              |               ;',
      ' stw r3,0(r4) |              |              |               ;',
      'exists',
      '(b=2 /\\ y=2 /\\ 1:r1=1 /\\ 3:r4=0)',
      '',
    ].join('\n'),
    'diy.litmus',
  );
  assert.equal(t.threads.length, 4);
  assert.deepEqual(t.locations, ['b', 'x', 'y']);
  assert.deepEqual(ops(t, 1), ['lwz', 'sync', 'li', 'stw']);
  assert.deepEqual(ops(t, 2), ['li', 'stw']);
});

test('herd instruction-test layout: `P0;` header, typed registers, `{}`, `<>`, bare forall', () => {
  const t = parseLitmus(
    'PPC A9\n\n(* typed init *)\n{\n   0:r1 = x;\n   x = -1;\n   int64_t 0:r2;\n}\nP0;\n' +
      '  lwz r2, 0(r1) ;\n\nforall 0:r2 = -1 /\\ 0:r2 <> 0\n\n',
    'a9.litmus',
  );
  assert.equal(t.quantifier, 'forall');
  assert.deepEqual(t.initMem, new Map([['x', -1]]));
  assert.deepEqual(
    t.initRegs.get(0),
    new Map<string, unknown>([
      ['r1', addr('x')],
      ['r2', int(0)],
    ]),
  );
  assert.deepEqual(t.condition, {
    kind: 'and',
    es: [
      { kind: 'eq', v: reg(0, 'r2'), value: int(-1) },
      { kind: 'not', e: { kind: 'eq', v: reg(0, 'r2'), value: int(0) } },
    ],
  });
  // A byte-order mark and Windows line ends, as an editor may leave them.
  const crlf = '\uFEFFPPC E\r\n{}\r\nP0 ;\r\n sync ;\r\nexists (true)\r\n';
  const empty = parseLitmus(crlf, 'e.litmus');
  assert.equal(empty.initRegs.size + empty.initMem.size + empty.locations.length, 0);
});
