/**
 * Goal: the instructions and forms of herd's PPC tests beyond the conformance suite compute what
 * POWER computes, in the emulator and in the axiomatic checker alike: 64-bit registers over 32-bit
 * memory words (lwz zero-extends, lwa sign-extends), lis/addis, ori/xori, rlwinm/rlwimi, extsw,
 * clrldi, unsigned compares, nop and hwsync; byte, halfword and doubleword accesses and the
 * doubleword compares (a mixed-size test is refused, naming both accesses); a header with an alternate name; a test that only
 * lists `locations`. Values are worked out by hand from the ISA, not taken from another tool.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseLitmus } from '../../../services/litmus/index.js';
import { runLitmus } from '../../../services/litmus/run.js';
import { allowedStates, checkCondition } from '../../../services/checker/index.js';
import { wordMask } from '../../../services/litmus/ast.js';
import { InputError } from '../../../services/stdx/index.js';
import { conditionText } from '../../../services/litmus/outcome.js';
import { instrText } from '../../../services/checker/litmus-gen.js';

/** Runs a one-thread test: its only final state, from the emulator and from the checker. */
function single(name: string, init: string, code: string[], observe: string): { emulated: string; allowed: string[] } {
  const text = `PPC ${name}\n{ ${init} }\n P0 ;\n${code.map((c) => ` ${c} ;`).join('\n')}\nlocations [${observe}]\n`;
  const t = parseLitmus(text, `${name}.litmus`);
  const r = runLitmus(t, { runs: 20, seed: 1, placement: 'cores' });
  assert.equal(r.invalid, 0, r.invalidReason);
  const keys = Object.keys(r.outcomes);
  assert.equal(keys.length, 1, `${name}: one thread, one outcome: ${keys.join(' | ')}`);
  const allowed = [...allowedStates(t).states.values()].map((s) => observe.split(';').map((v) => v.trim()).filter((v) => v !== '').map((v) => `${v}=${s.get(v)};`).join(' '));
  return { emulated: keys[0]!, allowed };
}

function expectState(name: string, init: string, code: string[], observe: string, want: string): void {
  const { emulated, allowed } = single(name, init, code, observe);
  assert.equal(emulated, want, `${name}: the emulator`);
  assert.deepEqual(allowed, [want.replace(/;(?=\S)/g, '; ')].map((s) => s), `${name}: the checker`);
}

test('lwz zero-extends a word into the 64-bit register, lwa and lwax sign-extend it; stores keep the low word', () => {
  expectState('loads', 'x=-1; 0:r1=x; 0:r4=0;', ['lwz r2,0(r1)', 'lwa r3,0(r1)', 'lwax r5,r1,r4', 'extsw r6,r2', 'li r7,-2', 'stw r7,0(r1)'],
    '0:r2; 0:r3; 0:r5; 0:r6; x', '0:r2=4294967295; 0:r3=-1; 0:r5=-1; 0:r6=-1; x=-2;');
});

test('byte, halfword and doubleword accesses keep their width; the doubleword compares see whole registers', () => {
  // r12 = 0x0000ffffffffffff (2^48 - 1), r11 = -1: cmpd says GT, cmpld LT (2^64 - 1 unsigned), and
  // cmpw EQ (both low words are 0xffffffff).
  expectState('widths', 'x=0; y=0; z=0; 0:r1=x; 0:r2=y; 0:r3=z; 0:r9=0;', [
    'li r4,0x1ff', 'stb r4,0(r1)', 'lbz r5,0(r1)',
    'li r6,-2', 'sth r6,0(r2)', 'lhz r7,0(r2)', 'lha r8,0(r2)', 'lhax r15,r2,r9',
    'li r11,-1', 'clrldi r12,r11,16', 'std r12,0(r3)', 'ld r13,0(r3)', 'ldx r14,r3,r9',
    'cmpd r12,r11', 'li r20,0', 'ble L1', 'li r20,1', 'L1:',
    'cmpld r12,r11', 'li r21,0', 'bge L2', 'li r21,1', 'L2:',
    'cmpw r12,r11', 'li r22,0', 'bne L3', 'li r22,1', 'L3:',
    'cmpdi r11,-1', 'li r23,0', 'bne L4', 'li r23,1', 'L4:',
  ], '0:r5; 0:r7; 0:r8; 0:r13; 0:r14; 0:r15; 0:r20; 0:r21; 0:r22; 0:r23; x; y; z',
  `0:r5=255; 0:r7=65534; 0:r8=-2; 0:r13=${2 ** 48 - 1}; 0:r14=${2 ** 48 - 1}; 0:r15=-2; 0:r20=1; 0:r21=1; 0:r22=1; 0:r23=1; x=255; y=65534; z=${2 ** 48 - 1};`);
});

test('a location reached with two widths (mixed-size) is refused, naming both accesses', () => {
  const text = 'PPC MP+mixed\n{ 0:r2=x; 1:r2=x; }\n P0           | P1          ;\n li r1,1      | ld r3,0(r2) ;\n stw r1,0(r2) |             ;\nexists (1:r3=1)\n';
  const t = parseLitmus(text, 'MP+mixed.litmus');
  assert.throws(() => runLitmus(t, { runs: 10, seed: 1, placement: 'cores' }), (e: unknown) =>
    e instanceof InputError && /^MP\+mixed\.litmus:4: thread P1 reaches x as a doubleword, and P0 \(line 5\) as a word: mixed-size tests .* are not supported$/.test(e.message));
  // An address only known when the thread runs (an address dependency) is checked then.
  const dep = 'PPC MP+mixed-dep\n{ 0:r2=x; 1:r2=x; 1:r4=0; }\n P0           | P1            ;\n li r1,1      | xor r4,r4,r4  ;\n stw r1,0(r2) | lbzx r3,r2,r4 ;\nexists (1:r3=1)\n';
  assert.throws(() => runLitmus(parseLitmus(dep, 'dep.litmus'), { runs: 10, seed: 1, placement: 'cores' }), (e: unknown) =>
    e instanceof InputError && /reaches x as a byte, and P0 \(line 5\) as a word/.test(e.message));
});

test('x=0xffffffff and x=-1 are the same memory word, and print alike', () => {
  const a = single('w1', 'x=0xffffffff;', ['nop'], 'x');
  const b = single('w2', 'x=-1;', ['nop'], 'x');
  assert.equal(a.emulated, 'x=-1;');
  assert.equal(b.emulated, 'x=-1;');
  const t = parseLitmus('PPC w3\n{ x=-1; }\n P0 ;\n nop ;\nexists (x=4294967295)\n', 'w3.litmus');
  assert.equal(checkCondition(t).quantifierHolds, true);
  assert.equal(runLitmus(t, { runs: 10, seed: 1, placement: 'cores' }).hits, 10);
});

test('lis, addis, ori, xori, clrldi', () => {
  expectState('imm', '', ['lis r1,0x1234', 'ori r1,r1,0x5678', 'addis r2,r1,-1', 'xori r3,r1,0xffff', 'li r4,-1', 'clrldi r5,r4,32', 'clrldi r6,r4,60', 'hwsync'],
    '0:r1; 0:r2; 0:r3; 0:r5; 0:r6', `0:r1=${0x12345678}; 0:r2=${0x12345678 - 0x10000}; 0:r3=${0x1234a987}; 0:r5=4294967295; 0:r6=15;`);
});

test('rlwinm and rlwimi rotate the low word and mask it (IBM bit numbering), and 64-bit bitwise ops stay exact', () => {
  // rotl(0x12345678, 8) = 0x34567812; bits 24..31 keep the low byte 0x12; bits 0..7 keep 0x34000000.
  // rlwimi inserts rotl(0x12345678, 16) = 0x56781234 under bits 16..23 (0x0000ff00) into 0xaaaaaaaa.
  expectState('rot', `0:r4=${0x12345678}; 0:r6=${0xaaaaaaaa};`, ['rlwinm r3,r4,8,24,31', 'rlwinm r5,r4,8,0,7', 'rlwimi r6,r4,16,16,23', 'li r7,-1', 'clrldi r8,r7,32', 'and r9,r8,r7', 'xor r10,r8,r7'],
    '0:r3; 0:r5; 0:r6; 0:r9; 0:r10', `0:r3=${0x12}; 0:r5=${0x34000000}; 0:r6=${0xaaaa12aa}; 0:r9=4294967295; 0:r10=-4294967296;`);
  assert.equal(wordMask(0, 31), 0xffffffff);
  assert.equal(wordMask(24, 31), 0xff);
  assert.equal(wordMask(28, 3), 0xf000000f);
});

test('cmplwi compares unsigned, cmpwi signed (the low words)', () => {
  expectState('cmp', '0:r1=-1;', ['li r2,0', 'li r3,0', 'cmpwi r1,1', 'bge L1', 'li r2,1', 'L1:', 'cmplwi r1,1', 'ble L2', 'li r3,1', 'L2:'],
    '0:r2; 0:r3', '0:r2=1; 0:r3=1;');
});

test('a header with an alternate name, and a test with only `locations`: forall true', () => {
  const t = parseLitmus('PPC 2+2W (EOne) "doc"\n{ }\n P0 | P1 ;\n li r1,1 | li r1,2 ;\n stw r1,0(x) | stw r1,0(x) ;\nlocations [x;]\n'.replace(/0\(x\)/g, '0(r5)').replace('{ }', '{ 0:r5=x; 1:r5=x; }'), '2+2W.litmus');
  assert.equal(t.name, '2+2W');
  assert.equal(t.quantifier, 'forall');
  assert.equal(checkCondition(t).quantifierHolds, true);
  const r = runLitmus(t, { runs: 400, seed: 3, placement: 'cores' });
  assert.equal(r.hits, 400);
  assert.deepEqual(Object.keys(r.outcomes).sort(), ['x=1;', 'x=2;']);
});

test('what is still refused says what and where', () => {
  assert.throws(() => parseLitmus('PPC a\n{ 0:r3=0xaaaaaaaaaaaaaaaa; }\n P0 ;\n nop ;\nexists (0:r3=0)\n', 'a.litmus'), /a\.litmus:2: .*within ±2\^53/);
  assert.throws(() => parseLitmus('PPC b\n{ ins_t x=NOP; }\n P0 ;\n nop ;\nexists (x=0)\n', 'b.litmus'), /b\.litmus:2: .*instruction-typed values/);
  assert.throws(() => parseLitmus('PPC c\n{ %x0=x; %x0=y; }\n P0 ;\n nop ;\nexists (x=0)\n', 'c.litmus'), /c\.litmus:2: %x0 is initialised twice/);
  assert.throws(() => parseLitmus('PPC d\n{ }\n P0 ;\n rlwinm r1,r2,32,0,31 ;\nexists (x=0)\n', 'd.litmus'), /d\.litmus:4: .*the shift `32` is out of range 0\.\.31/);
});

test('run-time errors name the line: an address that is no location, a value beyond ±2^53', () => {
  const t = parseLitmus('PPC f\n{ 0:r1=x; }\n P0 ;\n li r2,1 ;\n stw r2,0(r0) ;\nexists (x=0)\n', 'f.litmus');
  assert.throws(() => runLitmus(t, { runs: 1, seed: 1, placement: 'cores' }), /f\.litmus:5: thread P0: stw accesses address 0, which is no location/);
  const big = parseLitmus(`PPC g\n{ 0:r1=${2 ** 52}; }\n P0 ;\n add r2,r1,r1 ;\nexists (x=0)\n`, 'g.litmus');
  assert.throws(() => runLitmus(big, { runs: 1, seed: 1, placement: 'cores' }), /beyond ±2\^53/);
});

test('symbolic registers (herd\'s %x0=x): each thread that names one gets it, with its initial value', () => {
  const t = parseLitmus(
    'PPC MP+sym\n{ %x0=x; %y0=y; %y1=y; %x1=x; }\n P0 | P1 ;\n li r1,1 | lwz r1,0(%y1) ;\n stw r1,0(%x0) | xor r3,r1,r1 ;\n lwsync | lwzx r4,r3,%x1 ;\n stw r1,0(%y0) | ;\nexists (1:r1=1 /\\ 1:r4=0)\n',
    'sym.litmus',
  );
  assert.deepEqual([...(t.initRegs.get(0) ?? new Map()).keys()].sort(), ['%x0', '%y0']);
  assert.deepEqual([...(t.initRegs.get(1) ?? new Map()).keys()].sort(), ['%x1', '%y1']);
  assert.equal(checkCondition(t).verdict, 'Forbidden', 'MP+lwsync+addr');
  const r = runLitmus(t, { runs: 3000, seed: 2, placement: 'cores' });
  assert.equal(r.hits, 0);
  assert.ok(Object.keys(r.outcomes).length >= 2, 'the threads ran against x and y');
});

test('integers are never taken for addresses, and an address is never reached from another location', () => {
  // 4096 and 0x2000 are plain numbers, whatever addresses the locations get.
  const t = parseLitmus('PPC v4096\n{ 0:r2=x; y=0; }\n P0 ;\n li r1,4096 ;\n stw r1,0(r2) ;\n lwz r3,0(r2) ;\n li r4,0x2000 ;\nexists (0:r1=4096 /\\ 0:r3=4096 /\\ 0:r4=8192 /\\ x=4096)\n', 'v4096.litmus');
  const r = runLitmus(t, { runs: 10, seed: 1, placement: 'cores' });
  assert.equal(r.hits, 10, Object.keys(r.outcomes).join(' | '));
  assert.equal(checkCondition(t).quantifierHolds, true);
  // An offset from one location's address reaches no other one: refused with the line.
  for (const [code, what] of [['lwz r1,-4096(r4)', /lwz accesses y-4096, which is no location/], ['lwzx r1,0,r5', /lwzx accesses address 4096, which is no location/]] as const) {
    const bad = parseLitmus(`PPC off\n{ x=7; 0:r4=y; 0:r5=4096; }\n P0 ;\n ${code} ;\nexists (0:r1=7)\n`, 'off.litmus');
    assert.throws(() => runLitmus(bad, { runs: 1, seed: 1, placement: 'cores' }), (e: Error) => /off\.litmus:4: thread P0: /.test(e.message) && what.test(e.message));
  }
});

test('pointers: an address stored in memory stays that location (p=x), loads through it, and starts a location (p=z)', () => {
  const t = parseLitmus(
    'PPC ptr\n{ 0:r2=x; 0:r4=p; 1:r4=q; q=z; z=5; }\n P0 | P1 ;\n stw r2,0(r4) | lwz r5,0(r4) ;\n lwz r6,0(r4) | lwz r6,0(r5) ;\n lwz r7,0(r6) | ;\nforall (p=x /\\ 0:r6=x /\\ 0:r7=0 /\\ q=z /\\ 1:r5=z /\\ 1:r6=5)\n',
    'ptr.litmus',
  );
  const r = runLitmus(t, { runs: 20, seed: 1, placement: 'cores' });
  assert.equal(r.invalid, 0, r.invalidReason);
  assert.equal(r.hits, 20, Object.keys(r.outcomes).join(' | '));
  assert.match(Object.keys(r.outcomes)[0]!, /0:r6=x;.*1:r5=z;.*p=x; q=z;/);
  assert.equal(checkCondition(t).quantifierHolds, true, 'the checker agrees');
  // An address compares as a whole: two locations' addresses differ even in their low words.
  const c = parseLitmus('PPC cmpa\n{ 0:r1=x; 0:r2=y; }\n P0 ;\n li r3,1 ;\n cmpw r1,r2 ;\n bne L ;\n li r3,2 ;\n L: ;\nforall (0:r3=1)\n', 'cmpa.litmus');
  assert.equal(runLitmus(c, { runs: 5, seed: 1, placement: 'cores' }).hits, 5);
  assert.equal(checkCondition(c).quantifierHolds, true);
});

test('lis and addis take a 16-bit field; an immediate beyond 32 bits is out of range, not "not an integer"', () => {
  assert.throws(() => parseLitmus('PPC l\n{ }\n P0 ;\n lis r1,0x10000 ;\nexists (0:r1=0)\n', 'l.litmus'), /l\.litmus:4: .*`0x10000` does not fit the 16-bit field/);
  assert.throws(() => parseLitmus('PPC l\n{ }\n P0 ;\n addis r1,r0,-32769 ;\nexists (0:r1=0)\n', 'l.litmus'), /does not fit the 16-bit field/);
  assert.throws(() => parseLitmus('PPC l\n{ }\n P0 ;\n li r1,4294967296 ;\nexists (0:r1=0)\n', 'l.litmus'), /l\.litmus:4: .*`4294967296` is out of range/);
  expectState('lisu', '', ['lis r1,0xffff', 'lis r2,-1'], '0:r1; 0:r2', '0:r1=-65536; 0:r2=-65536;');
});

test('more of herd\'s PPC: sub, subi, neg, mullw, mulli, nor, slwi, srwi, clrlwi, bnl, the d,rA form; conditions comparing two variables; no condition', () => {
  // By hand: 7-3=4, 7-10=-3, -3, 7*3=21, 7*-5=-35, ~(7|3)=-8, 7<<4=112, 21>>2=5, low 4 bits of
  // 0xfffffff8 = 8; cmpwi 4,4 is EQ, so bnl (bge) skips li r14.
  const t = parseLitmus(`PPC alu-more
{ 0:r1=7; 0:r2=3; 0:r9=x; }
 P0 ;
 sub r3,r1,r2 ;
 subi r4,r1,10 ;
 neg r5,r2 ;
 mullw r6,r1,r2 ;
 mulli r7,r1,-5 ;
 nor r8,r1,r2 ;
 slwi r10,r1,4 ;
 srwi r11,r6,2 ;
 clrlwi r12,r8,28 ;
 stw r6,0,r9 ;
 lwz r13,0,r9 ;
 cmpwi r3,4 ;
 bnl L1 ;
 li r14,99 ;
 L1: li r15,1 ;
forall (0:r3=4 /\\ 0:r4=-3 /\\ 0:r5=-3 /\\ 0:r6=21 /\\ 0:r7=-35 /\\ 0:r8=-8 /\\ 0:r10=112 /\\ 0:r11=5 /\\ 0:r12=8 /\\ 0:r13=21 /\\ 0:r14=0 /\\ x=21 /\\ 0:r13=0:r6 /\\ [x]=0:r6 /\\ ~(0:r3=0:r2))
`, 'alu-more.litmus');
  const r = runLitmus(t, { runs: 5, seed: 1, placement: 'cores' });
  assert.equal(r.hits, 5, Object.keys(r.outcomes).join(' | '));
  assert.equal(checkCondition(t).quantifierHolds, true, 'the checker agrees');
  // A condition between two variables is read back from its text as the same proposition.
  const again = parseLitmus(`PPC again\n{ 0:r9=x; }\n P0 ;\n nop ;\nexists (${conditionText(t.condition)})\n`, 'again.litmus');
  assert.deepEqual(again.condition, t.condition);
  // bng is ble; a test with no condition observes and claims nothing (herd: true).
  const b = parseLitmus('PPC bng\n{ }\n P0 ;\n li r1,5 ;\n cmpwi r1,4 ;\n bng L ;\n li r2,1 ;\n L: nop ;\nforall (0:r2=1)\n', 'bng.litmus');
  assert.equal(runLitmus(b, { runs: 3, seed: 1, placement: 'cores' }).hits, 3);
  const none = parseLitmus('PPC none\n{ x=1; 0:r2=x; }\n P0 ;\n lwz r1,0(r2) ;\n', 'none.litmus');
  assert.equal(none.quantifier, 'forall');
  assert.deepEqual(none.condition, { kind: 'true' });
});

test('herd\'s shifts and divisions: slw, srw, sraw, srawi, divw, divwu, their record forms, and a dependency through them', () => {
  // By hand: r1 = -8 (0x...fff8), r2 = 3, r3 = 40 (shift 40: 32-63 shift all out).
  // slw: 0xfffffff8 << 3 = 0xffffffc0 (low word, zero-extended) = 4294967232; slw by 40 = 0.
  // srw: 0xfffffff8 >>> 3 = 0x1fffffff = 536870911; sraw: -8 >> 3 = -1; sraw by 40 = -1 (the sign).
  // srawi 2: -8 >> 2 = -2. divw: -8 / 3 = -2 (towards zero); divwu: 4294967288 / 3 = 1431655762.
  // srawi. of 1 by 1 = 0: CR0 EQ, so beq skips li r20.
  const t = parseLitmus(`PPC alu-shifts
{ 0:r1=-8; 0:r2=3; 0:r3=40; 0:r4=1; }
 P0 ;
 slw r5,r1,r2 ;
 slw r6,r1,r3 ;
 srw r7,r1,r2 ;
 sraw r8,r1,r2 ;
 sraw r9,r1,r3 ;
 srawi r10,r1,2 ;
 divw r11,r1,r2 ;
 divwu r12,r1,r2 ;
 srawi. r13,r4,1 ;
 beq L1 ;
 li r20,99 ;
 L1: nop ;
forall (0:r5=4294967232 /\\ 0:r6=0 /\\ 0:r7=536870911 /\\ 0:r8=-1 /\\ 0:r9=-1 /\\ 0:r10=-2 /\\ 0:r11=-2 /\\ 0:r12=1431655762 /\\ 0:r13=0 /\\ 0:r20=0)
`, 'alu-shifts.litmus');
  const r = runLitmus(t, { runs: 5, seed: 1, placement: 'cores' });
  assert.equal(r.hits, 5, Object.keys(r.outcomes).join(' | '));
  assert.equal(checkCondition(t).quantifierHolds, true, 'the checker agrees');
  // The printed form of each shift and division reads back as the same instruction.
  const shifts = new Set(['slw', 'srw', 'sraw', 'srawi', 'divw', 'divwu']);
  for (const th of t.threads) for (const { instr } of th.code) if (shifts.has(instr.op)) assert.deepEqual(parseLitmus(`PPC x\n{ }\n P0 ;\n ${instrText(instr)} ;\nexists (0:r1=0)\n`, 'x.litmus').threads[0]?.code[0]?.instr, instr);
  // A shift of a loaded value is a dependency like xor's: MP+lwsync with the address through
  // srawi (r1 >> 31 is 0 for 0 and 1) is Forbidden.
  const mp = parseLitmus(`PPC MP+lwsync+addr-srawi
{ 0:r2=x; 0:r4=y; 1:r2=y; 1:r4=x; }
 P0 | P1 ;
 li r1,1 | lwz r1,0(r2) ;
 stw r1,0(r2) | srawi r5,r1,31 ;
 lwsync | lwzx r3,r5,r4 ;
 stw r1,0(r4) | ;
exists (1:r1=1 /\\ 1:r3=0)
`, 'mp-srawi.litmus');
  assert.equal(checkCondition(mp).verdict, 'Forbidden');
  assert.equal(runLitmus(mp, { runs: 3000, seed: 3, placement: 'cores' }).hits, 0);
  // Division by zero has no defined result: said, with the line.
  const z = parseLitmus('PPC z\n{ 0:r1=1; 0:r2=0; }\n P0 ;\n divw r3,r1,r2 ;\nexists (0:r3=0)\n', 'z.litmus');
  assert.throws(() => runLitmus(z, { runs: 1, seed: 1, placement: 'cores' }), /z\.litmus:4: .*divw of 1 by 0: the architecture leaves the result undefined/);
});

test('herd\'s update forms lwzu, stwu, lwzux, stwux: the access, then the base register holds its address; invalid forms refused', () => {
  const t = parseLitmus(`PPC upd
{ 0:r5=x; 0:r6=0; x=7; }
 P0 ;
 lwzu r3,0(r5) ;
 li r1,9 ;
 stwux r1,r5,r6 ;
 stwu r1,0(r5) ;
 lwzux r4,r5,r6 ;
forall (0:r3=7 /\\ 0:r4=9 /\\ x=9 /\\ 0:r5=x)
`, 'upd.litmus');
  const r = runLitmus(t, { runs: 5, seed: 1, placement: 'cores' });
  assert.equal(r.hits, 5, Object.keys(r.outcomes).join(' | '));
  assert.equal(checkCondition(t).quantifierHolds, true, 'the checker agrees');
  for (const { instr } of t.threads[0]?.code ?? []) {
    if (instr.op === 'li') continue;
    assert.deepEqual(parseLitmus(`PPC x\n{ 0:r5=x; 0:r6=0; }\n P0 ;\n ${instrText(instr)} ;\nexists (0:r1=0)\n`, 'x.litmus').threads[0]?.code[0]?.instr, instr);
  }
  assert.throws(() => parseLitmus('PPC u\n{ 0:r5=x; }\n P0 ;\n lwzu r5,0(r5) ;\nexists (0:r5=0)\n', 'u.litmus'), /u\.litmus:4: .*may not load into its base register/);
  assert.throws(() => parseLitmus('PPC u\n{ }\n P0 ;\n stwu r1,0(r0) ;\nexists (0:r1=0)\n', 'u.litmus'), /u\.litmus:4: .*base register other than r0/);
});

test('herd\'s filter: runs whose final state fails it are left out, in the emulator and in the checker', () => {
  const mp = (reader: string[]): string =>
    'PPC MP+filter\n{ 0:r2=x; 0:r4=y; 1:r2=y; 1:r4=x; }\n P0 | P1 ;\n' +
    [` li r1,1 | ${reader[0]} ;`, ` stw r1,0(r2) | ${reader[1]} ;`, ` lwsync | ${reader[2] ?? ''} ;`, ' stw r1,0(r4) | ;'].join('\n') +
    '\nfilter (1:r1=1)\nexists (1:r3=0)\n';
  // No dependency on the reader's side: among runs that saw y=1, some still see x=0 (allowed).
  const po = parseLitmus(mp(['lwz r1,0(r2)', 'lwz r3,0(r4)']), 'po.litmus');
  assert.ok(po.filter !== undefined);
  const r = runLitmus(po, { runs: 3000, seed: 1, placement: 'cores' });
  assert.ok((r.filtered ?? 0) > 0 && (r.filtered ?? 0) < 3000, `filtered ${r.filtered}`);
  assert.equal(Object.values(r.outcomes).reduce((a, b) => a + b, 0) + (r.filtered ?? 0), 3000);
  assert.ok(Object.keys(r.outcomes).every((k) => /^1:r3=[01];$/.test(k)));
  assert.equal(checkCondition(po).verdict, 'Allowed');
  // An address dependency orders the reads: with the filter, the condition is Forbidden, never seen.
  const addr = parseLitmus(mp(['lwz r1,0(r2)', 'xor r5,r1,r1', 'lwzx r3,r5,r4']), 'addr.litmus');
  assert.equal(checkCondition(addr).verdict, 'Forbidden');
  const ra = runLitmus(addr, { runs: 3000, seed: 2, placement: 'cores' });
  assert.equal(ra.hits, 0);
  assert.ok((ra.outcomes['1:r3=1;'] ?? 0) > 0, 'runs that pass the filter exist');
  assert.throws(() => parseLitmus(mp(['lwz r1,0(r2)', 'lwz r3,0(r4)']).replace('exists (1:r3=0)', 'filter (1:r3=0)'), 'f2.litmus'), /f2\.litmus:\d+: a test has at most one `filter`/);
});

test('record forms (add., and., andi., neg. ...) set CR0 from the result compared with 0, and carry a control dependency', () => {
  // 5 & 2 = 0 (EQ: beq taken, r10 stays 0); 5 + -9 = -4 (LT: blt taken, r11 stays 0);
  // 5 andi. 4 = 4 (GT: bgt taken, r12 stays 0); neg. 0 = 0 (EQ); sub. 5-2 = 3 (GT).
  const t = parseLitmus(
    'PPC rc\n{ 0:r1=5; 0:r2=2; 0:r5=-9; 0:r0=0; }\n P0 ;\n and. r3,r1,r2 ;\n beq L1 ;\n li r10,1 ;\n L1: add. r4,r1,r5 ;\n blt L2 ;\n li r11,1 ;\n' +
      ' L2: andi. r6,r1,4 ;\n bgt L3 ;\n li r12,1 ;\n L3: li r7,0 ;\n neg. r8,r7 ;\n bne L4 ;\n li r13,1 ;\n L4: sub. r9,r1,r2 ;\n ble L5 ;\n li r14,1 ;\n L5: nop ;\n' +
      'forall (0:r3=0 /\\ 0:r4=-4 /\\ 0:r6=4 /\\ 0:r9=3 /\\ 0:r10=0 /\\ 0:r11=0 /\\ 0:r12=0 /\\ 0:r13=1 /\\ 0:r14=1)\n',
    'rc.litmus',
  );
  assert.equal(runLitmus(t, { runs: 5, seed: 1, placement: 'cores' }).hits, 5);
  assert.equal(checkCondition(t).quantifierHolds, true, 'the checker agrees');
  // and. of the loaded value, then a branch and isync: ctrlisync, MP's relaxed outcome forbidden.
  const mp = parseLitmus(
    'PPC MP+lwsync+ctrlisync-rc\n{ 0:r2=x; 0:r4=y; 1:r2=y; 1:r4=x; }\n P0 | P1 ;\n li r1,1 | lwz r1,0(r2) ;\n stw r1,0(r2) | and. r9,r1,r1 ;\n lwsync | beq L ;\n stw r1,0(r4) | L: isync ;\n | lwz r3,0(r4) ;\nexists (1:r1=1 /\\ 1:r3=0)\n',
    'mprc.litmus',
  );
  assert.equal(checkCondition(mp).verdict, 'Forbidden');
  assert.equal(runLitmus(mp, { runs: 3000, seed: 3, placement: 'cores' }).hits, 0);
  assert.throws(() => parseLitmus('PPC a\n{ }\n P0 ;\n andi r1,r2,1 ;\nexists (0:r1=0)\n', 'a.litmus'), /a\.litmus:4: .*written `andi\.`/);
});
