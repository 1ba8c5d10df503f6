/**
 * A parser for herdtools7 `PPC` litmus tests, written against the files herd and diy produce.
 *
 * Layout of a test, in order: the header `PPC <name>` (an optional quoted doc string may follow),
 * doc strings and `key=value` lines, the initial state `{ ... }` with `;`-separated items, the
 * thread table (a `P0 | P1 | ... ;` header, then one row per line, `|` between cells and `;` at
 * the end), an optional `locations [...]` clause and the final condition. OCaml-style comments
 * `(* ... *)`, nested or not, may appear anywhere. The proposition grammar and its precedence
 * (`\/` below `/\` below `=>` below `~`) follow herd's `lib/stateParser.mly`.
 *
 * Every malformed input throws `InputError` with the 1-based line and a sentence saying what is
 * wrong and what was expected; any other exception escaping `parseLitmus` is a bug.
 */
import { InputError } from '../stdx/index.js';
import type {
  AccessWidth,
  CondExpr,
  Instr,
  LitmusTest,
  LitmusThread,
  LitmusValue,
  ObsVar,
  Quantifier,
} from './ast.js';
import { isBranch, litmusAddr, LITMUS_LOCATIONS_MAX } from './ast.js';

/** Bounds on what one test may contain, so a hostile file cannot exhaust the stack or memory. */
const LIMITS = {
  textCharsMax: 1 << 20,
  threadCountMax: 64,
  instrCountMaxPerThread: 4096,
  condDepthMax: 100,
} as const;

const KEY_VALUE_RE = /^[A-Za-z][\w.-]*\s*=/;
const NAME_RE = /^[A-Za-z_][\w.]*$/;
const NUMBER_RE = /^(-?)(0x[0-9a-f]+|\d+)$/i;
const CONDITION_START_RE =
  /^(?:exists|forall|final|locations|filter|observed|with|cases)\b|^~|^\(|^not\s+exists\b/;

/** Parses the text of one herd PPC litmus test read from `file` (used in error messages). */
export function parseLitmus(text: string, file: string): LitmusTest {
  return new Parser(text, file).parse();
}

/** Shortens text quoted in an error message. */
function clip(s: string): string {
  const t = s.trim();
  return t.length > 40 ? `${t.slice(0, 37)}...` : t;
}

/** An integer that fits a 32-bit word (immediates, memory), or with `exact` any within ±2^53. */
function parseNumber(s: string, exact = false): number | undefined {
  const m = NUMBER_RE.exec(s.trim());
  if (!m) return undefined;
  const n = Number(m[2]) * (m[1] === '-' ? -1 : 1);
  if (!Number.isSafeInteger(n) || (!exact && (n < -(2 ** 31) || n >= 2 ** 32))) return undefined;
  return n;
}

/**
 * A value of the initial state or a condition. A register is 64-bit (held exactly within ±2^53);
 * a memory word is 32-bit, held signed: `x=-1` and `x=0xffffffff` are the same word.
 */
function parseValueFor(s: string, kind: ObsVar['kind']): number | undefined {
  const n = parseNumber(s, kind === 'reg');
  return n === undefined || kind === 'reg' ? n : n | 0;
}

/** The record forms executed: the operation, then CR0 from the result (`stwcx.` is its own). */
const RECORD_FORMS = new Set(['add.', 'and.', 'or.', 'xor.', 'nor.', 'subf.', 'sub.', 'neg.', 'mullw.', 'slw.', 'srw.', 'sraw.', 'srawi.', 'divw.', 'divwu.', 'andi.']);

/** The byte, halfword and doubleword forms of the memory instructions and the doubleword compares:
 * the word form they are parsed as, and their width (bytes) or whole-register compare. */
const SIZED_FORMS: ReadonlyMap<string, { base: string; width?: AccessWidth; dword?: true }> = new Map<string, { base: string; width?: AccessWidth; dword?: true }>([
  ['stb', { base: 'stw', width: 1 }], ['sth', { base: 'stw', width: 2 }], ['std', { base: 'stw', width: 8 }],
  ['stbx', { base: 'stwx', width: 1 }], ['sthx', { base: 'stwx', width: 2 }], ['stdx', { base: 'stwx', width: 8 }],
  ['lbz', { base: 'lwz', width: 1 }], ['lhz', { base: 'lwz', width: 2 }], ['lha', { base: 'lwa', width: 2 }], ['ld', { base: 'lwz', width: 8 }],
  ['lbzx', { base: 'lwzx', width: 1 }], ['lhzx', { base: 'lwzx', width: 2 }], ['lhax', { base: 'lwax', width: 2 }], ['ldx', { base: 'lwzx', width: 8 }],
  ['lbarx', { base: 'lwarx', width: 1 }], ['lharx', { base: 'lwarx', width: 2 }], ['ldarx', { base: 'lwarx', width: 8 }],
  ['stbcx.', { base: 'stwcx.', width: 1 }], ['sthcx.', { base: 'stwcx.', width: 2 }], ['stdcx.', { base: 'stwcx.', width: 8 }],
  ['cmpd', { base: 'cmpw', dword: true }], ['cmpdi', { base: 'cmpwi', dword: true }],
  ['cmpld', { base: 'cmplw', dword: true }], ['cmpldi', { base: 'cmplwi', dword: true }],
]);

/** herd's symbolic registers (`%x0`): any thread that names one gets its own register of that name. */
const SYMBOLIC_REG_RE = /^%[A-Za-z_]\w*$/;

function parseRegName(s: string): string | undefined {
  if (SYMBOLIC_REG_RE.test(s.trim())) return s.trim();
  const m = /^r(\d{1,2})$/i.exec(s.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  return n <= 31 ? `r${n}` : undefined;
}

/**
 * Replaces `(* ... *)` comments by spaces, keeping newlines so line numbers stay true. Comments
 * nest as in OCaml. Double-quoted strings (doc strings) are copied untouched.
 */
function stripComments(text: string, file: string): string {
  const out: string[] = [];
  let depth = 0;
  let line = 1;
  let commentLine = 0;
  let stringLine = 0;
  const lastQuote = text.lastIndexOf('"');
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\n') {
      line++;
      out.push(c);
      continue;
    }
    if (stringLine !== 0) {
      if (c === '"') stringLine = 0;
      out.push(c);
      continue;
    }
    if (c === '(' && text[i + 1] === '*') {
      if (depth === 0) commentLine = line;
      depth++;
      out.push('  ');
      i++;
      continue;
    }
    if (depth > 0) {
      if (c === '*' && text[i + 1] === ')') {
        depth--;
        out.push('  ');
        i++;
      } else {
        out.push(' ');
      }
      continue;
    }
    // A quote that nothing closes is plain text (herd skips such a doc line, as in its co8).
    if (c === '"' && i < lastQuote) stringLine = line;
    out.push(c);
  }
  if (depth > 0) {
    throw new InputError(
      file,
      commentLine,
      'the comment opened here with `(*` is never closed; expected a matching `*)`.',
    );
  }
  return out.join('');
}

type TokKind = 'word' | 'num' | 'punct';
interface Tok {
  kind: TokKind;
  text: string;
  line: number;
}

const TOKEN_RES: Array<[TokKind | 'space', RegExp]> = [
  ['space', /\s+/y],
  ['punct', /\/\\|\\\/|=>|==|!=|<>|[[\];():=~*&]/y],
  ['num', /-?(?:0x[0-9a-fA-F]+|\d+)(?![\w.])/y],
  ['word', /[A-Za-z_][\w.]*/y],
];

interface BranchRef {
  label: string;
  line: number;
}

class Parser {
  private readonly lines: string[];
  private pos = 0;
  private readonly locations: string[] = [];
  private readonly locationSet = new Set<string>();
  private readonly initRegs = new Map<number, Map<string, LitmusValue>>();
  /** Initial values of symbolic registers (`%x0=x`), given to every thread that uses them. */
  private readonly symbolicInit = new Map<string, LitmusValue>();
  private readonly initRegLine = new Map<number, number>();
  private readonly initMem = new Map<string, number>();
  /** Locations initialised with another location's address (`p=x`). */
  private readonly pointerInit = new Map<string, string>();
  private readonly threads: LitmusThread[] = [];
  private readonly observed: ObsVar[] = [];
  private toks: Tok[] = [];
  private tokPos = 0;
  private condDepth = 0;

  constructor(
    text: string,
    private readonly file: string,
  ) {
    if (text.length > LIMITS.textCharsMax) {
      throw new InputError(
        file,
        undefined,
        `the file has ${text.length} characters, more than the ${LIMITS.textCharsMax} a litmus ` +
          'test may have; is it really a litmus test?',
      );
    }
    const normal = text.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n');
    this.lines = stripComments(normal, file).split('\n');
  }

  private fail(line: number, detail: string): InputError {
    return new InputError(this.file, line, detail);
  }

  private lastLine(): number {
    let i = this.lines.length;
    while (i > 1 && this.lines[i - 1]!.trim() === '') i--;
    return Math.max(i, 1);
  }

  private skipBlank(): boolean {
    while (this.pos < this.lines.length && this.lines[this.pos]!.trim() === '') this.pos++;
    return this.pos < this.lines.length;
  }

  private noteLoc(loc: string): void {
    if (this.locationSet.has(loc)) return;
    this.locationSet.add(loc);
    this.locations.push(loc);
  }

  parse(): LitmusTest {
    const { arch, name } = this.header();
    this.preamble();
    this.initBlock();
    this.threadTable();
    this.bindSymbolicRegisters();
    const { quantifier, condition, filter } = this.conditionSection();
    if (this.locations.length > LITMUS_LOCATIONS_MAX) {
      throw this.fail(1, `the test names ${this.locations.length} locations, more than the ${LITMUS_LOCATIONS_MAX} ipiscope gives addresses to.`);
    }
    for (const [loc, to] of this.pointerInit) this.initMem.set(loc, litmusAddr(this.locations.indexOf(to)));
    return {
      arch,
      name,
      file: this.file,
      initRegs: this.initRegs,
      initMem: this.initMem,
      locations: this.locations,
      threads: this.threads,
      quantifier,
      condition,
      ...(filter !== undefined ? { filter } : {}),
      observed: this.observed,
    };
  }

  private header(): { arch: string; name: string } {
    if (!this.skipBlank()) {
      throw this.fail(1, 'the file is empty; expected a header line such as `PPC MP+lwsyncs`.');
    }
    const line = this.pos + 1;
    const text = this.lines[this.pos]!.trim();
    this.pos++;
    const words = text.split(/\s+/);
    const arch = words[0]!;
    if (arch !== 'PPC') {
      throw this.fail(
        line,
        /^[A-Z][A-Za-z0-9]*$/.test(arch)
          ? `this is a \`${arch}\` test; ipiscope runs herd \`PPC\` tests only.`
          : `expected a header line such as \`PPC MP+lwsyncs\`, found \`${clip(text)}\`.`,
      );
    }
    // herd's `ARCH name (altname)`: the alternate (TeX) name in parentheses is allowed and ignored.
    const m = /^PPC\s+([^\s"(]+)\s*(\([^)]*\))?\s*("[^"]*")?\s*$/.exec(text);
    if (!m) {
      throw this.fail(
        line,
        words.length < 2 || words[1]!.startsWith('"')
          ? 'the header names no test; expected `PPC <name>`, e.g. `PPC MP+lwsyncs`.'
          : 'expected the header `PPC <name>` optionally followed by an alternate name in parentheses and a quoted doc string, ' +
              `found \`${clip(text)}\`.`,
      );
    }
    return { arch, name: m[1]! };
  }

  /** Doc strings and key=value lines (`Cycle=...`, `Hash=...`) before the initial state. */
  private preamble(): void {
    for (;;) {
      if (!this.skipBlank()) {
        throw this.fail(
          this.lastLine(),
          'the file ends before the initial state; expected a block `{ ... }` after the header.',
        );
      }
      const text = this.lines[this.pos]!.trim();
      if (text.startsWith('{')) return;
      if (text.startsWith('"')) {
        if (this.quoteClosesLater()) this.skipString();
        // A doc string that nothing closes: herd's splitter takes the line as text to skip before
        // the initial state (herdtools7's co8 has one).
        else this.pos++;
        continue;
      }
      if (KEY_VALUE_RE.test(text)) {
        this.pos++;
        continue;
      }
      throw this.fail(
        this.pos + 1,
        'expected the initial state `{ ... }`, a doc string "..." or a `key=value` line, found ' +
          `\`${clip(text)}\`.`,
      );
    }
  }

  /** Whether the quote that starts the current line is closed on it or on a later line. */
  private quoteClosesLater(): boolean {
    if (this.lines[this.pos]!.trim().indexOf('"', 1) >= 0) return true;
    for (let i = this.pos + 1; i < this.lines.length; i++) if (this.lines[i]!.includes('"')) return true;
    return false;
  }

  /** Skips a doc string starting on the current line; it may span lines. */
  private skipString(): void {
    const startLine = this.pos + 1;
    let text = this.lines[this.pos]!.trim().slice(1);
    for (;;) {
      const close = text.indexOf('"');
      if (close >= 0) {
        if (text.slice(close + 1).trim() !== '') {
          throw this.fail(
            this.pos + 1,
            `unexpected \`${clip(text.slice(close + 1))}\` after the doc string that starts at ` +
              `line ${startLine}; expected the end of the line.`,
          );
        }
        this.pos++;
        return;
      }
      this.pos++;
      if (this.pos >= this.lines.length) {
        throw this.fail(startLine, 'the doc string opened here is never closed; expected `"`.');
      }
      text = this.lines[this.pos]!;
    }
  }

  private initBlock(): void {
    const openLine = this.pos + 1;
    let l = this.pos;
    let c = this.lines[l]!.indexOf('{') + 1;
    const items: Array<{ text: string; line: number }> = [];
    let cur = '';
    let curLine = 0;
    const push = (): void => {
      if (cur.trim() !== '') items.push({ text: cur.trim(), line: curLine });
      cur = '';
    };
    let closed = false;
    while (l < this.lines.length && !closed) {
      const s = this.lines[l]!;
      for (; c < s.length; c++) {
        const ch = s[c]!;
        if (ch === '}') {
          push();
          closed = true;
          break;
        }
        if (ch === ';') {
          push();
          continue;
        }
        if (ch === '|' || ch === '{') {
          throw this.fail(
            l + 1,
            `found \`${ch}\` inside the initial state: the block opened with \`{\` at line ` +
              `${openLine} is missing its closing \`}\`.`,
          );
        }
        if (cur === '' && /\s/.test(ch)) continue;
        if (cur === '') curLine = l + 1;
        cur += ch;
      }
      if (closed) break;
      if (cur !== '') cur += ' ';
      l++;
      c = 0;
    }
    if (!closed) {
      throw this.fail(
        openLine,
        'the initial-state block opened here with `{` is never closed; expected `}`.',
      );
    }
    const after = this.lines[l]!.slice(c + 1);
    if (after.trim() !== '') {
      throw this.fail(
        l + 1,
        `unexpected \`${clip(after)}\` after the \`}\` closing the initial state; the thread ` +
          'table header `P0 | P1 | ... ;` goes on the next line.',
      );
    }
    this.pos = l + 1;
    for (const item of items) this.initItem(item.text, item.line);
  }

  /** One initial-state item: `0:r2=x`, `x=1`, `int x=0`, `uint32_t y`, `[x]=1`, `0:r1`. */
  private initItem(raw: string, line: number): void {
    const text = raw
      .replace(/\s*:\s*/g, ':')
      .replace(/\[\s*/g, '[')
      .replace(/\s*\]/g, ']');
    const parts = text.split('=');
    if (parts.length > 2) {
      throw this.fail(
        line,
        `\`${clip(raw)}\` has more than one \`=\`; separate initial-state items with \`;\`.`,
      );
    }
    const lhs = parts[0]!.trim();
    const rhs = parts[1]?.trim();
    if (lhs.includes('*') || rhs?.startsWith('*')) {
      throw this.fail(line, `\`${clip(raw)}\`: pointer-typed initial values are not supported.`);
    }
    const words = lhs.split(/\s+/).filter((w) => w !== '');
    if (words.length === 0) {
      throw this.fail(line, `\`${clip(raw)}\` names nothing; expected e.g. \`0:r2=x\` or \`x=1\`.`);
    }
    if (words.length > 2 || (words.length === 2 && !NAME_RE.test(words[0]!))) {
      throw this.fail(
        line,
        `cannot read \`${clip(raw)}\` as an initial-state item; expected \`0:r2=x\`, \`x=1\` or ` +
          '`int x=0`, separated by `;`.',
      );
    }
    if (words.length === 2 && words[0] === 'ins_t') {
      throw this.fail(line, `\`${clip(raw)}\`: instruction-typed values (\`ins_t\`, herd's tests of code that stores instructions) are not supported.`);
    }
    const last = words[words.length - 1]!;
    if (last.startsWith('%')) {
      if (!SYMBOLIC_REG_RE.test(last)) throw this.fail(line, `\`${clip(raw)}\`: \`${last}\` is not a symbolic register; expected e.g. \`%x0\`.`);
      if (this.symbolicInit.has(last)) throw this.fail(line, `${last} is initialised twice.`);
      if (rhs === undefined || rhs === '') throw this.fail(line, `\`${clip(raw)}\`: expected a value after \`=\`.`);
      this.symbolicInit.set(last, this.parseStateValue(rhs, line, raw, 'reg'));
      return;
    }
    const target = this.parseStateVar(last, line, raw);
    let value: LitmusValue = { kind: 'int', value: 0 };
    if (rhs !== undefined) {
      if (rhs === '') throw this.fail(line, `\`${clip(raw)}\`: expected a value after \`=\`.`);
      value = this.parseStateValue(rhs, line, raw, target.kind);
    }
    if (target.kind === 'reg') {
      const regs = this.initRegs.get(target.thread) ?? new Map<string, LitmusValue>();
      if (regs.has(target.reg)) {
        throw this.fail(line, `${target.thread}:${target.reg} is initialised twice.`);
      }
      regs.set(target.reg, value);
      this.initRegs.set(target.thread, regs);
      if (!this.initRegLine.has(target.thread)) this.initRegLine.set(target.thread, line);
      if (value.kind === 'addr') this.noteLoc(value.loc);
      return;
    }
    this.noteLoc(target.loc);
    if (this.initMem.has(target.loc) || this.pointerInit.has(target.loc)) {
      throw this.fail(line, `location \`${target.loc}\` is initialised twice.`);
    }
    if (value.kind === 'addr') {
      // A pointer (herd: `p=x`): the address is known once every location has its place.
      this.noteLoc(value.loc);
      this.pointerInit.set(target.loc, value.loc);
      return;
    }
    this.initMem.set(target.loc, value.value);
  }

  /** `0:r2`, `P0:r2` (a register), `x` or `[x]` (a location), in the initial state. */
  private parseStateVar(word: string, line: number, raw: string): ObsVar {
    const reg = /^P?(\d+):(.*)$/.exec(word);
    if (reg) {
      const name = parseRegName(reg[2]!);
      if (name === undefined) {
        throw this.fail(
          line,
          `\`${clip(raw)}\`: \`${reg[2]}\` is not a register; expected r0..r31 or a symbolic \`%name\`.`,
        );
      }
      return { kind: 'reg', thread: Number(reg[1]), reg: name };
    }
    const loc = /^\[(.*)\]$/.exec(word)?.[1] ?? word;
    if (!NAME_RE.test(loc)) {
      throw this.fail(
        line,
        `\`${clip(raw)}\`: \`${word}\` is neither a register \`<thread>:r<n>\` nor a ` +
          'location name.',
      );
    }
    return { kind: 'loc', loc };
  }

  private parseStateValue(rhs: string, line: number, raw: string, kind: ObsVar['kind']): LitmusValue {
    const n = parseValueFor(rhs, kind);
    if (n !== undefined) return { kind: 'int', value: n };
    const name = rhs.replace(/^&\s*/, '');
    if (NAME_RE.test(name)) return { kind: 'addr', loc: name };
    throw this.fail(
      line,
      `\`${clip(raw)}\`: \`${rhs}\` is neither ${kind === 'loc' ? 'a 32-bit integer' : 'an integer within ±2^53'} nor a location name.`,
    );
  }

  /** Gives each thread that uses a symbolic register its initial value (herd's `%x0=x`). */
  private bindSymbolicRegisters(): void {
    for (const th of this.threads) {
      const used = new Set<string>();
      for (const { instr } of th.code) {
        for (const v of Object.values(instr)) if (typeof v === 'string' && v.startsWith('%')) used.add(v);
      }
      for (const r of used) {
        const init = this.symbolicInit.get(r);
        if (init === undefined) continue;
        const regs = this.initRegs.get(th.index) ?? new Map<string, LitmusValue>();
        regs.set(r, init);
        this.initRegs.set(th.index, regs);
        if (init.kind === 'addr') this.noteLoc(init.loc);
      }
    }
  }

  private threadTable(): void {
    if (!this.skipBlank()) {
      throw this.fail(
        this.lastLine(),
        'the file ends after the initial state; expected the thread table header ' +
          '`P0 | P1 | ... ;`.',
      );
    }
    const headerLine = this.pos + 1;
    const header = this.lines[this.pos]!.trim();
    this.pos++;
    if (!header.endsWith(';')) {
      throw this.fail(
        headerLine,
        `expected the thread table header \`P0 | P1 | ... ;\` ending with \`;\`, found ` +
          `\`${clip(header)}\`.`,
      );
    }
    const names = header.slice(0, -1).split('|').map((s) => s.trim());
    if (names.length > LIMITS.threadCountMax) {
      throw this.fail(
        headerLine,
        `the test has ${names.length} threads; ipiscope runs at most ${LIMITS.threadCountMax}.`,
      );
    }
    names.forEach((name, i) => {
      if (name !== `P${i}`) {
        throw this.fail(
          headerLine,
          `expected \`P${i}\` in column ${i + 1} of the thread table header, found ` +
            `\`${clip(name)}\`; threads are named P0, P1, ... in order.`,
        );
      }
      this.threads.push({ index: i, code: [] });
    });
    const labels = this.threads.map(() => new Map<string, number>());
    const branches = this.threads.map((): BranchRef[] => []);
    for (; this.pos < this.lines.length; this.pos++) {
      const line = this.pos + 1;
      const text = this.lines[this.pos]!.trim();
      if (text === '') continue;
      if (CONDITION_START_RE.test(text)) break;
      if (!text.endsWith(';')) {
        throw this.fail(
          line,
          `expected this thread-table row to end with \`;\`, found \`${clip(text)}\`.`,
        );
      }
      const cells = text.slice(0, -1).split('|');
      if (cells.length !== this.threads.length) {
        throw this.fail(
          line,
          `this row has ${cells.length} column(s) but the header declares ` +
            `${this.threads.length} thread(s); separate cells with \`|\` and leave unused cells ` +
            'empty.',
        );
      }
      cells.forEach((cell, t) => this.cell(cell, line, t, labels[t]!, branches[t]!));
    }
    this.threads.forEach((thread, t) => {
      for (const ref of branches[t]!) {
        if (!labels[t]!.has(ref.label)) {
          throw this.fail(
            ref.line,
            `branch target \`${ref.label}\` is not a label of P${t}; define it with ` +
              `\`${ref.label}:\` in the same column.`,
          );
        }
      }
      if (thread.code.length > LIMITS.instrCountMaxPerThread) {
        throw this.fail(
          thread.code[LIMITS.instrCountMaxPerThread]!.line,
          `P${t} has more than ${LIMITS.instrCountMaxPerThread} instructions.`,
        );
      }
    });
    for (const [thread, line] of this.initRegLine) {
      if (thread >= this.threads.length) {
        throw this.fail(
          line,
          `the initial state sets a register of thread ${thread}, but the test has only ` +
            `${this.threads.length} thread(s), P0..P${this.threads.length - 1}.`,
        );
      }
    }
  }

  private cell(
    raw: string,
    line: number,
    t: number,
    labels: Map<string, number>,
    branches: BranchRef[],
  ): void {
    let text = raw.trim();
    if (text === '') return;
    const code = this.threads[t]!.code;
    const label = /^([A-Za-z_][\w.]*)\s*:\s*(.*)$/.exec(text);
    if (label) {
      const name = label[1]!;
      const prev = labels.get(name);
      if (prev !== undefined) {
        throw this.fail(line, `label \`${name}\` of P${t} is already defined at line ${prev}.`);
      }
      labels.set(name, line);
      code.push({ instr: { op: 'label', name }, line });
      text = label[2]!.trim();
      if (text === '') return;
    }
    const instr = this.instr(text, line, t);
    if (isBranch(instr)) {
      branches.push({ label: instr.label, line });
    }
    code.push({ instr, line });
  }

  /** One instruction; mnemonics are case-insensitive, operands are separated by commas. */
  private instr(text: string, line: number, t: number): Instr {
    const m = /^(\S+)\s*(.*)$/.exec(text)!;
    const written = m[1]!.toLowerCase();
    // Record forms (`add.`): the operation, then CR0 from its result compared with 0.
    const recorded = RECORD_FORMS.has(written);
    const mnem = recorded ? written.slice(0, -1) : written;
    const ops = m[2]!.trim() === '' ? [] : m[2]!.split(',').map((s) => s.trim());
    const where = `in P${t}, \`${clip(text)}\``;
    const arity = (usage: string, ...counts: number[]): void => {
      if (!counts.includes(ops.length)) {
        throw this.fail(
          line,
          `${where}: \`${mnem}\` takes ${counts.join(' or ')} operand(s) (\`${usage}\`), ` +
            `but ${ops.length} were given.`,
        );
      }
      if (ops.some((o) => o === '')) {
        throw this.fail(line, `${where}: an operand is empty; expected \`${usage}\`.`);
      }
    };
    const reg = (s: string): string => {
      const r = parseRegName(s);
      if (r === undefined) {
        throw this.fail(line, `${where}: \`${s}\` is not a register; expected r0..r31 or a symbolic \`%name\`.`);
      }
      return r;
    };
    // PPC's rA=0 rule: a base register written `0` or `r0` reads as the value zero.
    const base = (s: string): string => (s === '0' || /^r0$/i.test(s) ? '0' : reg(s));
    const imm = (s: string): number => {
      const n = parseNumber(s);
      if (n === undefined) {
        if (NUMBER_RE.test(s.trim())) {
          throw this.fail(line, `${where}: the immediate \`${s}\` is out of range (an instruction's immediate is at most 32 bits).`);
        }
        throw this.fail(
          line,
          `${where}: \`${s}\` is not an integer; expected e.g. \`1\` or \`-4\`.`,
        );
      }
      return n;
    };
    // lis/addis: a 16-bit SI field, written signed or as its unsigned bits (0xffff is -1).
    const si16 = (s: string): number => {
      const n = imm(s);
      if (n < -0x8000 || n > 0xffff) throw this.fail(line, `${where}: the immediate \`${s}\` does not fit the 16-bit field (-32768..65535).`);
      return n;
    };
    const dform = (s: string): { disp: number; ra: string } => {
      const d = /^(.+?)\s*\(\s*(\S+?)\s*\)$/.exec(s);
      if (!d) {
        throw this.fail(line, `${where}: \`${s}\` is not a memory operand; expected \`d(rA)\`.`);
      }
      return { disp: imm(d[1]!), ra: base(d[2]!) };
    };
    // An update form's registers: rA may not be r0, nor, for a load, the register loaded.
    const updateForm = (ra: string, rd: string | undefined): void => {
      if (ra === '0') throw this.fail(line, `${where}: an update form needs a base register other than r0 (the form is invalid).`);
      if (rd !== undefined && rd === ra) throw this.fail(line, `${where}: an update load may not load into its base register (the form is invalid).`);
    };
    // The D-form operand after rD/rS: `d(rA)`, or herd's two operands `d,rA`.
    const dOperand = (): { disp: number; ra: string } => (ops.length === 3 ? { disp: imm(ops[1]!), ra: base(ops[2]!) } : dform(ops[1]!));
    const cr = (s: string): number => {
      const c = /^cr([0-7])$/i.exec(s);
      if (!c) {
        throw this.fail(line, `${where}: \`${s}\` is not a condition register; expected cr0..cr7.`);
      }
      return Number(c[1]);
    };
    const withCr = (i: Instr, field: number): Instr =>
      field === 0 ? i : ({ ...i, cr: field } as Instr);
    const label = (s: string): string => {
      if (!NAME_RE.test(s)) {
        throw this.fail(line, `${where}: \`${s}\` is not a label name; expected e.g. \`LC00\`.`);
      }
      return s;
    };
    const field = (s: string, max: number, what: string): number => {
      const n = imm(s);
      if (n < 0 || n > max) throw this.fail(line, `${where}: ${what} \`${s}\` is out of range 0..${max}.`);
      return n;
    };
    // The byte, halfword and doubleword forms: the word form's operands, with a width (and the
    // doubleword compares: whole registers).
    const sized = SIZED_FORMS.get(mnem);
    const sz = <T extends Instr>(i: T): T =>
      sized === undefined ? i : ({ ...i, ...(sized.width !== undefined ? { width: sized.width } : {}), ...(sized.dword === true ? { dword: true } : {}) } as T);
    const base0 = sized?.base ?? mnem;
    switch (base0) {
      case 'sync':
      case 'lwsync':
      case 'isync':
      case 'eieio':
        arity(mnem, 0);
        return { op: base0 };
      case 'hwsync':
        arity(mnem, 0);
        return { op: 'sync' };
      case 'nop':
        arity(mnem, 0);
        return { op: 'nop' };
      case 'li':
        arity('li rD,imm', 2);
        return { op: 'li', rd: reg(ops[0]!), imm: imm(ops[1]!) };
      case 'lis':
        arity('lis rD,imm', 2);
        return { op: 'li', rd: reg(ops[0]!), imm: (si16(ops[1]!) << 16) | 0 };
      case 'addi':
        arity('addi rD,rA,imm', 3);
        return { op: 'addi', rd: reg(ops[0]!), ra: base(ops[1]!), imm: imm(ops[2]!) };
      case 'addis':
        arity('addis rD,rA,imm', 3);
        return { op: 'addi', rd: reg(ops[0]!), ra: base(ops[1]!), imm: (si16(ops[2]!) << 16) | 0 };
      case 'ori':
      case 'xori':
        arity(`${mnem} rA,rS,uimm`, 3);
        return { op: base0, rd: reg(ops[0]!), rs: reg(ops[1]!), imm: field(ops[2]!, 0xffff, 'the immediate') };
      case 'mr':
      case 'extsw':
        arity(`${mnem} rD,rS`, 2);
        return { op: base0, rd: reg(ops[0]!), rs: reg(ops[1]!) };
      case 'rlwinm':
      case 'rlwimi':
        arity(`${mnem} rA,rS,SH,MB,ME`, 5);
        return {
          op: base0, rd: reg(ops[0]!), rs: reg(ops[1]!),
          sh: field(ops[2]!, 31, 'the shift'), mb: field(ops[3]!, 31, 'the mask begin'), me: field(ops[4]!, 31, 'the mask end'),
        };
      case 'clrldi':
        // rldicl rA,rS,0,n: keeps the low 64-n bits.
        arity('clrldi rA,rS,n', 3);
        return { op: 'clrldi', rd: reg(ops[0]!), rs: reg(ops[1]!), n: field(ops[2]!, 63, 'the bit count') };
      case 'xor':
      case 'add':
      case 'and':
      case 'or':
      case 'subf':
      case 'nor':
      case 'mullw':
      case 'divw':
      case 'divwu':
        arity(`${written} rD,rA,rB`, 3);
        return { op: base0, rd: reg(ops[0]!), ra: reg(ops[1]!), rb: reg(ops[2]!), ...(recorded ? { rc: true as const } : {}) };
      case 'slw':
      case 'srw':
      case 'sraw':
        arity(`${written} rA,rS,rB`, 3);
        return { op: base0, rd: reg(ops[0]!), ra: reg(ops[1]!), rb: reg(ops[2]!), ...(recorded ? { rc: true as const } : {}) };
      case 'sub':
        // Extended mnemonic: sub rD,rA,rB = subf rD,rB,rA (rA - rB).
        arity(`${written} rD,rA,rB`, 3);
        return { op: 'subf', rd: reg(ops[0]!), ra: reg(ops[2]!), rb: reg(ops[1]!), ...(recorded ? { rc: true as const } : {}) };
      case 'andi':
        if (!recorded) throw this.fail(line, `${where}: the AND immediate is written \`andi.\`, with its dot (it always sets CR0).`);
        arity('andi. rA,rS,uimm', 3);
        return { op: 'andi', rd: reg(ops[0]!), rs: reg(ops[1]!), imm: field(ops[2]!, 0xffff, 'the immediate'), rc: true };
      case 'subi':
        arity('subi rD,rA,imm', 3);
        return { op: 'addi', rd: reg(ops[0]!), ra: base(ops[1]!), imm: -imm(ops[2]!) };
      case 'neg':
        arity(`${written} rD,rA`, 2);
        return { op: 'neg', rd: reg(ops[0]!), ra: reg(ops[1]!), ...(recorded ? { rc: true as const } : {}) };
      case 'srawi':
        arity(`${written} rA,rS,SH`, 3);
        return { op: 'srawi', rd: reg(ops[0]!), rs: reg(ops[1]!), sh: field(ops[2]!, 31, 'the shift'), ...(recorded ? { rc: true as const } : {}) };
      case 'mulli':
        arity('mulli rD,rA,imm', 3);
        return { op: 'mulli', rd: reg(ops[0]!), ra: reg(ops[1]!), imm: imm(ops[2]!) };
      case 'slwi':
      case 'srwi':
      case 'clrlwi': {
        // Extended mnemonics of rlwinm.
        arity(`${mnem} rA,rS,n`, 3);
        const n = field(ops[2]!, 31, 'the bit count');
        const [sh, mb, me] = mnem === 'slwi' ? [n, 0, 31 - n] : mnem === 'srwi' ? [(32 - n) % 32, n, 31] : [0, n, 31];
        return { op: 'rlwinm', rd: reg(ops[0]!), rs: reg(ops[1]!), sh, mb, me };
      }
      case 'stw': {
        // stw rS,d(rA), or herd's stw rS,d,rA.
        arity(`${mnem} rS,d(rA)`, 2, 3);
        const { disp, ra } = dOperand();
        return sz({ op: 'stw', rs: reg(ops[0]!), disp, ra });
      }
      case 'lwzu':
      case 'stwu': {
        // The update forms: the access at rA+d, then rA gets that address.
        const load = mnem === 'lwzu';
        arity(`${mnem} ${load ? 'rD' : 'rS'},d(rA)`, 2, 3);
        const { disp, ra } = dOperand();
        const r = reg(ops[0]!);
        updateForm(ra, load ? r : undefined);
        return load ? { op: 'lwz', rd: r, disp, ra, update: true } : { op: 'stw', rs: r, disp, ra, update: true };
      }
      case 'lwzux':
      case 'stwux': {
        const load = mnem === 'lwzux';
        arity(`${mnem} ${load ? 'rD' : 'rS'},rA,rB`, 3);
        const r = reg(ops[0]!);
        const ra = base(ops[1]!);
        const rb = reg(ops[2]!);
        updateForm(ra, load ? r : undefined);
        return load ? { op: 'lwzx', rd: r, ra, rb, update: true } : { op: 'stwx', rs: r, ra, rb, update: true };
      }
      case 'lwz':
      case 'lwa': {
        // lwa sign-extends the word into the 64-bit register, lwz zero-extends it. herd also
        // writes the D-form as rD,d,rA.
        arity(`${mnem} rD,d(rA)`, 2, 3);
        const { disp, ra } = dOperand();
        return sz({ op: 'lwz', rd: reg(ops[0]!), disp, ra, ...(base0 === 'lwa' ? { signed: true as const } : {}) });
      }
      case 'lwax':
        arity(`${mnem} rD,rA,rB`, 3);
        return sz({ op: 'lwzx', rd: reg(ops[0]!), ra: base(ops[1]!), rb: reg(ops[2]!), signed: true });
      case 'stwx':
        arity(`${mnem} rS,rA,rB`, 3);
        return sz({ op: 'stwx', rs: reg(ops[0]!), ra: base(ops[1]!), rb: reg(ops[2]!) });
      case 'lwzx':
      case 'lwarx':
        arity(`${mnem} rD,rA,rB`, 3);
        return sz({ op: base0, rd: reg(ops[0]!), ra: base(ops[1]!), rb: reg(ops[2]!) });
      case 'stwcx.':
        arity(`${mnem} rS,rA,rB`, 3);
        return sz({ op: 'stwcx', rs: reg(ops[0]!), ra: base(ops[1]!), rb: reg(ops[2]!) });
      case 'stwcx':
      case 'stdcx':
      case 'sthcx':
      case 'stbcx':
        throw this.fail(
          line,
          `${where}: the store-conditional is written \`${mnem}.\`, with its dot.`,
        );
      case 'cmpw':
      case 'cmplw':
      case 'cmpwi':
      case 'cmplwi': {
        // [crN,]rA,rB for the register forms; [crN,]rA,imm (signed) or uimm (unsigned) otherwise.
        const immediate = mnem.endsWith('i');
        arity(`${mnem} [crN,]rA,${immediate ? (mnem === 'cmplwi' ? 'uimm' : 'imm') : 'rB'}`, 2, 3);
        const ra = reg(ops[ops.length - 2]!);
        const last = ops[ops.length - 1]!;
        const i: Instr =
          base0 === 'cmpw' || base0 === 'cmplw'
            ? { op: base0, ra, rb: reg(last) }
            : { op: base0, ra, imm: base0 === 'cmplwi' ? field(last, 0xffff, 'the immediate') : imm(last) };
        return withCr(sz(i), ops.length === 3 ? cr(ops[0]!) : 0);
      }
      case 'b':
        arity('b LABEL', 1);
        return { op: 'b', label: label(ops[0]!) };
      case 'beq':
      case 'bne':
      case 'blt':
      case 'bgt':
      case 'ble':
      case 'bge':
      case 'bnl':
      case 'bng': {
        arity(`${mnem} [crN,]LABEL`, 1, 2);
        // bnl (not less) is bge, bng (not greater) is ble.
        const op = base0 === 'bnl' ? 'bge' : base0 === 'bng' ? 'ble' : base0;
        return withCr(
          { op, label: label(ops[ops.length - 1]!) },
          ops.length === 2 ? cr(ops[0]!) : 0,
        );
      }
      default:
        throw this.fail(
          line,
          `${where}: unknown or unsupported mnemonic \`${m[1]}\`; ipiscope executes li, lis, addi, addis, subi, ` +
            'ori, xori, mr, extsw, rlwinm, rlwimi, slwi, srwi, clrlwi, clrldi, xor, add, and, or, nor, subf, sub, neg, mullw, mulli, ' +
            'slw, srw, sraw, srawi, divw, divwu, ' +
            'stw, stwx, lwz, lwa, lwzx, lwax, lwarx, stwcx., the update forms lwzu, stwu, lwzux, stwux, their byte, halfword and doubleword forms (stb, sth, std, lbz, lhz, lha, ld, ' +
            'the x forms, lbarx, lharx, ldarx, stbcx., sthcx., stdcx.), sync (hwsync), lwsync, isync, eieio, nop, cmpw, cmpwi, cmplw, cmplwi, ' +
            'cmpd, cmpdi, cmpld, cmpldi, b, beq, bne, blt, bgt, ble, bge, bnl and bng, and the record forms add., and., or., xor., nor., ' +
            'subf., sub., neg., mullw., slw., srw., sraw., srawi., divw., divwu. and andi. (one location must be reached with one width: mixed-size tests are not).',
        );
    }
  }

  private tokenize(): void {
    for (; this.pos < this.lines.length; this.pos++) {
      const s = this.lines[this.pos]!;
      let i = 0;
      next: while (i < s.length) {
        for (const [kind, re] of TOKEN_RES) {
          re.lastIndex = i;
          const m = re.exec(s);
          if (!m) continue;
          if (kind !== 'space') this.toks.push({ kind, text: m[0], line: this.pos + 1 });
          i += m[0].length;
          continue next;
        }
        throw this.fail(
          this.pos + 1,
          `unexpected \`${clip(s.slice(i, i + 10))}\` in the condition; expected a proposition ` +
            'such as `(0:r1=1 /\\ x=2)`.',
        );
      }
    }
  }

  private peek(): Tok | undefined {
    return this.toks[this.tokPos];
  }

  private peekText(): string | undefined {
    return this.toks[this.tokPos]?.text;
  }

  private take(what: string): Tok {
    const tok = this.toks[this.tokPos];
    if (tok === undefined) {
      throw this.fail(this.lastLine(), `the file ends too early; expected ${what}.`);
    }
    this.tokPos++;
    return tok;
  }

  private expect(text: string, what: string): Tok {
    const tok = this.take(what);
    if (tok.text !== text) {
      throw this.fail(tok.line, `expected ${what}, found \`${tok.text}\`.`);
    }
    return tok;
  }

  private conditionSection(): { quantifier: Quantifier; condition: CondExpr; filter?: CondExpr } {
    this.tokenize();
    const withLocations = this.peekText() === 'locations';
    if (withLocations) this.locationsClause();
    // herd's `filter PROP`: executions whose final state fails it are left out before the
    // condition is judged.
    let filter: CondExpr | undefined;
    if (this.peekText() === 'filter') {
      this.tokPos++;
      filter = this.prop();
      if (this.peekText() === ';') this.tokPos++;
    }
    const tok = this.peek();
    // herd reads a test that only lists `locations [...]` as `forall true`: it observes, it claims nothing.
    // So does it a test with no condition at all.
    if (tok === undefined) return { quantifier: 'forall', condition: { kind: 'true' }, ...(filter !== undefined ? { filter } : {}) };
    let quantifier: Quantifier;
    switch (tok.text) {
      case 'exists':
      case 'final':
        this.tokPos++;
        quantifier = 'exists';
        break;
      case 'forall':
        this.tokPos++;
        quantifier = 'forall';
        break;
      case '~':
      case 'not':
        this.tokPos++;
        this.expect('exists', '`exists` after `~` in the quantifier `~exists`');
        quantifier = '~exists';
        break;
      case '(':
        // herd reads a bare parenthesised proposition as `exists`.
        quantifier = 'exists';
        break;
      case 'locations':
        throw this.fail(tok.line, 'a test has at most one `locations [...]` clause.');
      case 'filter':
        throw this.fail(tok.line, 'a test has at most one `filter`, before the final condition.');
      case 'observed':
      case 'cases':
      case 'with':
        throw this.fail(
          tok.line,
          `herd's \`${tok.text}\` clauses are not supported; write the final condition as ` +
            '`exists`, `~exists` or `forall` followed by a proposition.',
        );
      default:
        throw this.fail(
          tok.line,
          `expected the final condition (\`exists\`, \`~exists\` or \`forall\`), found ` +
            `\`${tok.text}\`.`,
        );
    }
    const condition = this.prop();
    if (this.peekText() === ';') this.tokPos++;
    const rest = this.peek();
    if (rest !== undefined) {
      throw this.fail(
        rest.line,
        rest.text === 'with'
          ? "herd's `with` clauses are not supported; remove it."
          : `unexpected \`${rest.text}\` after the final condition; expected the end of the file ` +
              '(combine propositions with `/\\` or `\\/`).',
      );
    }
    return { quantifier, condition, ...(filter !== undefined ? { filter } : {}) };
  }

  /** `locations [x; 0:r1; y int;]`: extra variables to show in the final state. */
  private locationsClause(): void {
    this.tokPos++;
    const open = this.expect('[', '`[` after `locations`');
    const unclosed = (line: number, found: string): InputError =>
      this.fail(
        line,
        `the \`locations [\` list opened at line ${open.line} is not closed; expected \`]\`` +
          (found === '' ? '.' : ` before \`${found}\`.`),
      );
    for (;;) {
      const tok = this.peek();
      if (tok === undefined) throw unclosed(this.lastLine(), '');
      const startsVar = tok.text === '[' || tok.kind === 'num' || tok.kind === 'word';
      if (!startsVar || /^(?:exists|forall|final|filter|not)$/.test(tok.text)) {
        if (tok.text !== ']' && tok.text !== ';') throw unclosed(tok.line, tok.text);
      }
      if (tok.text === ']') {
        this.tokPos++;
        return;
      }
      if (tok.text === ';') {
        this.tokPos++;
        continue;
      }
      const v = this.obsVar();
      this.observed.push(v);
      if (v.kind === 'loc') this.noteLoc(v.loc);
      // herd allows a type after each location (`x int`, `x int*`); it changes nothing here.
      if (this.peek()?.kind === 'word') this.tokPos++;
      if (this.peekText() === '*') this.tokPos++;
      const sep = this.peek();
      if (sep !== undefined && sep.text !== ';' && sep.text !== ']') {
        throw this.fail(
          sep.line,
          `expected \`;\` or \`]\` in the \`locations\` list, found \`${sep.text}\`.`,
        );
      }
    }
  }

  /** A register `0:r1` / `P0:r1` or a location `x` / `[x]`, in the condition or `locations`. */
  private obsVar(): ObsVar {
    const tok = this.take('a register such as `0:r1` or a location such as `x`');
    if (tok.text === '[') {
      const loc = this.take('a location name after `[`');
      if (loc.kind !== 'word') {
        throw this.fail(loc.line, `expected a location name after \`[\`, found \`${loc.text}\`.`);
      }
      this.expect(']', `\`]\` after \`[${loc.text}\``);
      return { kind: 'loc', loc: loc.text };
    }
    const procWord = tok.kind === 'word' && /^P\d+$/.test(tok.text);
    if ((tok.kind === 'num' && /^\d+$/.test(tok.text)) || procWord) {
      if (this.peekText() !== ':' && tok.kind === 'num') {
        throw this.fail(
          tok.line,
          `expected \`:\` after thread number \`${tok.text}\` (as in \`${tok.text}:r1\`).`,
        );
      }
      if (this.peekText() === ':') {
        this.tokPos++;
        const thread = Number(procWord ? tok.text.slice(1) : tok.text);
        const regTok = this.take(`a register after \`${tok.text}:\``);
        const reg = parseRegName(regTok.text);
        if (reg === undefined) {
          throw this.fail(
            regTok.line,
            `\`${tok.text}:${regTok.text}\`: \`${regTok.text}\` is not a register; expected ` +
              'r0..r31.',
          );
        }
        if (thread >= this.threads.length) {
          throw this.fail(
            tok.line,
            `the condition names \`${thread}:${reg}\`, but the test has only ` +
              `${this.threads.length} thread(s), P0..P${this.threads.length - 1}.`,
          );
        }
        return { kind: 'reg', thread, reg };
      }
    }
    if (tok.kind !== 'word') {
      throw this.fail(
        tok.line,
        `expected a register such as \`0:r1\` or a location such as \`x\`, found \`${tok.text}\`.`,
      );
    }
    return { kind: 'loc', loc: tok.text };
  }

  private nest<T>(line: number, f: () => T): T {
    if (++this.condDepth > LIMITS.condDepthMax) {
      throw this.fail(
        line,
        `the condition nests deeper than ${LIMITS.condDepthMax} levels; simplify it.`,
      );
    }
    try {
      return f();
    } finally {
      this.condDepth--;
    }
  }

  /** Disjunction, the loosest operator. */
  private prop(): CondExpr {
    const es = [this.conj()];
    while (this.peekText() === '\\/') {
      this.tokPos++;
      es.push(this.conj());
    }
    return es.length === 1 ? es[0]! : { kind: 'or', es };
  }

  private conj(): CondExpr {
    const es = [this.implication()];
    while (this.peekText() === '/\\') {
      this.tokPos++;
      es.push(this.implication());
    }
    return es.length === 1 ? es[0]! : { kind: 'and', es };
  }

  /** `a => b`, right-associative and binding tighter than `/\` as in herd; read as `~a \/ b`. */
  private implication(): CondExpr {
    const a = this.unary();
    const tok = this.peek();
    if (tok?.text !== '=>') return a;
    this.tokPos++;
    const b = this.nest(tok.line, () => this.implication());
    return { kind: 'or', es: [{ kind: 'not', e: a }, b] };
  }

  private unary(): CondExpr {
    const tok = this.take('a proposition such as `0:r1=1`, `x=2`, `true` or `(...)`');
    switch (tok.text) {
      case '~':
      case 'not':
        return { kind: 'not', e: this.nest(tok.line, () => this.unary()) };
      case 'true':
        return { kind: 'true' };
      case 'false':
        return { kind: 'false' };
      case '(': {
        const e = this.nest(tok.line, () => this.prop());
        const close = this.peek();
        if (close?.text !== ')') {
          throw this.fail(
            close?.line ?? this.lastLine(),
            `the \`(\` opened at line ${tok.line} is never closed; expected \`)\`` +
              (close ? `, found \`${close.text}\`.` : '.'),
          );
        }
        this.tokPos++;
        return e;
      }
      default:
        this.tokPos--;
        return this.atom();
    }
  }

  /** `0:r1=1`, `x=2`, `[x]=2`, `0:r1=x` (an address), `0:r1!=1`, `0:r1<>1`, `x==1`. */
  private atom(): CondExpr {
    const v = this.obsVar();
    if (v.kind === 'loc') this.noteLoc(v.loc);
    const opTok = this.take('`=` after a register or location');
    const negated = opTok.text === '!=' || opTok.text === '<>';
    if (opTok.text !== '=' && opTok.text !== '==' && !negated) {
      throw this.fail(
        opTok.line,
        `expected \`=\` after \`${v.kind === 'reg' ? `${v.thread}:${v.reg}` : v.loc}\`, found ` +
          `\`${opTok.text}\`.`,
      );
    }
    // Another variable on the right: a register (`0:r3`, `P1:r3`) or a location's value (`[y]`).
    const next = this.peek();
    const after = this.toks[this.tokPos + 1];
    if (next !== undefined && (next.text === '[' || (after?.text === ':' && (next.kind === 'num' || /^P\d+$/.test(next.text))))) {
      const w = this.obsVar();
      if (w.kind === 'loc') this.noteLoc(w.loc);
      const same: CondExpr = { kind: 'same', v, w };
      return negated ? { kind: 'not', e: same } : same;
    }
    const valTok = this.take('a value (an integer or a location name) after `=`');
    let value: LitmusValue;
    if (valTok.kind === 'num') {
      const n = parseValueFor(valTok.text, v.kind);
      if (n === undefined) {
        throw this.fail(valTok.line, `\`${valTok.text}\` does not fit ${v.kind === 'loc' ? 'a 32-bit word' : 'a register held exactly (±2^53)'}.`);
      }
      value = { kind: 'int', value: n };
    } else {
      let nameTok = valTok;
      if (valTok.text === '&') nameTok = this.take('a location name after `&`');
      if (nameTok.kind !== 'word' || nameTok.text === 'true' || nameTok.text === 'false') {
        throw this.fail(
          nameTok.line,
          `expected an integer or a location name after \`${opTok.text}\`, found ` +
            `\`${nameTok.text}\`.`,
        );
      }
      this.noteLoc(nameTok.text);
      value = { kind: 'addr', loc: nameTok.text };
    }
    const eq: CondExpr = { kind: 'eq', v, value };
    return negated ? { kind: 'not', e: eq } : eq;
  }
}
