// Goal: final states are listed, printed and judged the way herd does. Method: parse small tests
// with known conditions, then check the variable order, the printed state and the truth of the
// proposition over hand-built final states (integers, addresses, 32-bit wrap-around).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  evalProp,
  formatState,
  obsVarName,
  observedVars,
  parseLitmus,
} from '../../../services/litmus/index.js';
import type { CondExpr, ObsVar } from '../../../services/litmus/index.js';

function withCondition(cond: string, locations = ''): ReturnType<typeof parseLitmus> {
  return parseLitmus(
    `PPC T\n{ 0:r2=x; }\n P0 | P1 ;\n lwz r1,0(r2) | ;\n${locations}\n${cond}\n`,
    't.litmus',
  );
}

/** A final state given as herd prints it: `{ '1:r1': 1, x: 2, '0:r2': 'y' }`. */
function state(values: Record<string, number | string>): (v: ObsVar) => number | string {
  return (v) => {
    const got = values[obsVarName(v)];
    assert.ok(got !== undefined, `the state has no value for ${obsVarName(v)}`);
    return got;
  };
}

// herd's order: registers by thread then register number, then locations by name.
test('observedVars: condition and locations, deduplicated, in herd order', () => {
  const t = withCondition(
    'exists (y=1 /\\ 1:r10=0 /\\ 1:r2=1 /\\ ~(0:r3=x) /\\ x=2 \\/ 1:r2=0 /\\ [a]=0)',
    'locations [z; 1:r2; 0:r1; a;]',
  );
  assert.deepEqual(observedVars(t).map(obsVarName), [
    '0:r1',
    '0:r3',
    '1:r2',
    '1:r10',
    'a',
    'x',
    'y',
    'z',
  ]);
  assert.deepEqual(observedVars(withCondition('forall (true)')), []);
});

test('formatState prints herd style, addresses as location names', () => {
  const t = withCondition('exists (x=2 /\\ 1:r3=0 /\\ 1:r1=1)');
  const vars = observedVars(t);
  assert.equal(formatState(vars, state({ '1:r1': 1, '1:r3': 0, x: 2 })), '1:r1=1; 1:r3=0; x=2;');
  assert.equal(
    formatState(
      observedVars(withCondition('exists (0:r2=x /\\ 0:r1=-1)')),
      state({ '0:r1': -1, '0:r2': 'x' }),
    ),
    '0:r1=-1; 0:r2=x;',
  );
  assert.equal(formatState([], () => 0), '');
});

test('evalProp: connectives, true and false', () => {
  const t = withCondition('exists (1:r1=1 /\\ ~(x=2) \\/ false)');
  assert.equal(evalProp(t.condition, state({ '1:r1': 1, x: 0 })), true);
  assert.equal(evalProp(t.condition, state({ '1:r1': 1, x: 2 })), false);
  assert.equal(evalProp(t.condition, state({ '1:r1': 0, x: 0 })), false);
  const always: CondExpr = { kind: 'or', es: [{ kind: 'false' }, { kind: 'true' }] };
  assert.equal(evalProp(always, () => 0), true);
  assert.equal(evalProp({ kind: 'and', es: [] }, () => 0), true, 'herd: `true` is an empty and');
  assert.equal(evalProp({ kind: 'or', es: [] }, () => 0), false, 'herd: `false` is an empty or');
});

test('evalProp: a register holding an address equals that location and no integer', () => {
  const t = withCondition('exists (0:r2=x)');
  assert.equal(evalProp(t.condition, state({ '0:r2': 'x' })), true);
  assert.equal(evalProp(t.condition, state({ '0:r2': 'y' })), false);
  assert.equal(evalProp(t.condition, state({ '0:r2': 0 })), false);
  const n = withCondition('exists (0:r2=0)');
  assert.equal(evalProp(n.condition, state({ '0:r2': 'x' })), false);
});

test('evalProp: a location is a 32-bit word (its condition value normalised), a register a 64-bit value', () => {
  // Memory holds words signed: a condition's 0xffffffff for a location is the word -1.
  const word = withCondition('exists (x=0xffffffff)');
  assert.equal(evalProp(word.condition, state({ x: -1 })), true);
  assert.equal(evalProp(word.condition, state({ x: -2 })), false);
  // A register is 64-bit: lwz of that word gives 4294967295, which is not -1 (as in herd).
  const reg = withCondition('exists (0:r1=-1)');
  assert.equal(evalProp(reg.condition, state({ '0:r1': -1 })), true);
  assert.equal(evalProp(reg.condition, state({ '0:r1': 0xffffffff })), false);
  const zero = withCondition('exists (0:r1=0)');
  assert.equal(evalProp(zero.condition, state({ '0:r1': 2 ** 32 })), false, 'no wrap beyond a word');
});

test('~exists and forall conditions evaluate as their bare proposition', () => {
  const never = withCondition('~exists (1:r1=1)');
  assert.equal(never.quantifier, '~exists');
  assert.equal(evalProp(never.condition, state({ '1:r1': 1 })), true);
  const always = withCondition('forall (1:r1=1 \\/ 1:r1=0)');
  assert.equal(always.quantifier, 'forall');
  assert.equal(evalProp(always.condition, state({ '1:r1': 2 })), false);
});
