/**
 * Final states of a litmus test: which variables a run reports, how a state prints, and whether
 * it satisfies the test's condition.
 *
 * A run "satisfies the condition" (a hit) when its final state satisfies the proposition, whatever
 * the quantifier: for `exists` a hit is the state the test asks about, for `~exists` it is the
 * state the test says never happens, and for `forall` a hit is a state that conforms (so a
 * `forall` test fails on a run that is not a hit). Deciding what hits mean for a verdict is the
 * caller's job; this module only evaluates the proposition.
 */
import type { CondExpr, LitmusTest, LitmusValue, ObsVar } from './ast.js';

/** herd's name for a variable: `1:r3` for a register, `x` for a location. */
export function obsVarName(v: ObsVar): string {
  return v.kind === 'reg' ? `${v.thread}:${v.reg}` : v.loc;
}

function valueText(v: LitmusValue): string {
  return v.kind === 'int' ? String(v.value) : v.loc;
}

/**
 * A condition's proposition in herd's syntax, parenthesised only where precedence needs it
 * (`/\` binds tighter than `\/`); `parseLitmus` reads it back to the same expression.
 */
export function conditionText(e: CondExpr): string {
  switch (e.kind) {
    case 'true':
      return 'true';
    case 'false':
      return 'false';
    case 'eq':
      return `${obsVarName(e.v)}=${valueText(e.value)}`;
    case 'same':
      // A location on the right is written `[y]` (a bare `y` there would be its address).
      return `${obsVarName(e.v)}=${e.w.kind === 'loc' ? `[${e.w.loc}]` : obsVarName(e.w)}`;
    case 'not':
      return `~(${conditionText(e.e)})`;
    case 'and':
      return e.es.length === 0 ? 'true' : e.es.map((x) => (x.kind === 'or' ? `(${conditionText(x)})` : conditionText(x))).join(' /\\ ');
    case 'or':
      return e.es.length === 0 ? 'false' : e.es.map((x) => (x.kind === 'and' ? `(${conditionText(x)})` : conditionText(x))).join(' \\/ ');
  }
}

function regNumber(reg: string): number {
  const m = /^r(\d+)$/.exec(reg);
  return m ? Number(m[1]) : -1;
}

function compareVars(a: ObsVar, b: ObsVar): number {
  if (a.kind === 'reg' && b.kind === 'reg') {
    if (a.thread !== b.thread) return a.thread - b.thread;
    const byNumber = regNumber(a.reg) - regNumber(b.reg);
    if (byNumber !== 0) return byNumber;
    return a.reg < b.reg ? -1 : a.reg > b.reg ? 1 : 0;
  }
  if (a.kind === 'reg') return -1;
  if (b.kind === 'reg') return 1;
  return a.loc < b.loc ? -1 : a.loc > b.loc ? 1 : 0;
}

function collectVars(e: CondExpr, out: ObsVar[]): void {
  switch (e.kind) {
    case 'true':
    case 'false':
      return;
    case 'eq':
      out.push(e.v);
      return;
    case 'same':
      out.push(e.v, e.w);
      return;
    case 'not':
      collectVars(e.e, out);
      return;
    case 'and':
    case 'or':
      for (const sub of e.es) collectVars(sub, out);
      return;
  }
}

/**
 * The variables a run of `test` reports, in herd's order: the condition's variables and the
 * `locations` clause, without duplicates, registers first (by thread, then register number),
 * then locations by name.
 */
export function observedVars(test: LitmusTest): ObsVar[] {
  const all: ObsVar[] = [];
  collectVars(test.condition, all);
  all.push(...test.observed);
  const byName = new Map<string, ObsVar>();
  for (const v of all) if (!byName.has(obsVarName(v))) byName.set(obsVarName(v), v);
  return [...byName.values()].sort(compareVars);
}

/**
 * A final state in herd's style, `1:r1=1; 1:r3=0; x=2;`: `name=value;` per variable, joined by
 * single spaces. `value` returns a number, or the location's name when the variable holds that
 * location's address, which then prints as the name (`0:r2=x;`).
 */
export function formatState(vars: ObsVar[], value: (v: ObsVar) => number | string): string {
  return vars.map((v) => `${obsVarName(v)}=${value(v)};`).join(' ');
}

/**
 * Evaluates the proposition `e` over a final state. `value` returns a variable's final value: a
 * number, or a location's name when the variable holds that location's address; such a variable
 * equals `{kind: 'addr', loc}` and no integer. See the module comment for what a hit means.
 */
export function evalProp(e: CondExpr, value: (v: ObsVar) => number | string): boolean {
  switch (e.kind) {
    case 'true':
      return true;
    case 'false':
      return false;
    case 'eq': {
      const actual = value(e.v);
      if (e.value.kind === 'addr') return actual === e.value.loc;
      // Exactly: registers are 64-bit (a `lwz` of 0xffffffff is 4294967295, not -1, as in herd),
      // and a location's word is held signed on both sides (the parser normalises its values).
      return actual === e.value.value;
    }
    case 'same':
      return value(e.v) === value(e.w);
    case 'not':
      return !evalProp(e.e, value);
    case 'and':
      return e.es.every((sub) => evalProp(sub, value));
    case 'or':
      return e.es.some((sub) => evalProp(sub, value));
  }
}
