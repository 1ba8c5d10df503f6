/**
 * A small, strict command-line parser shared by every subcommand.
 *
 * A spec names each flag by a camelCase key (`ticksMax`), spelled `--ticks-max` on the command
 * line, with a type, an optional default and a help line. Accepted forms: `--flag value`,
 * `--flag=value`, `-f value` (when the flag has a `short`), `--flag` / `--no-flag` for booleans,
 * and `--` to end the flags. A flag may also be read from an environment variable (`env`), which
 * the caller passes in: precedence is command line > environment > default (STYLE-rules 19).
 * Every mistake is a UsageError naming the flag, what was expected, and the nearest valid name.
 */
import { assert, assertNever } from '../stdx/assert.js';
import { UsageError } from '../stdx/errors.js';
import { editDistance } from '../stdx/edit-distance.js';

interface FlagCommon {
  /** One line for `--help`. */
  help: string;
  /** One-letter alias, used as `-x value`. */
  short?: string;
  /** Environment variable read when the flag is not on the command line, e.g. IPISCOPE_SEED. */
  env?: string;
  /** Name of the value in `--help` (`--seed <n>`); defaults to the type. */
  metavar?: string;
  /**
   * Flags (keys) that take this one's place, as `--seeds` takes `--seed`'s: the two are not given
   * together, and when one of them is on the command line this flag's environment variable is
   * neither read nor checked (the flag it would default is not used).
   */
  conflicts?: readonly string[];
}

export type FlagSpec =
  | (FlagCommon & { type: 'string'; default?: string; required?: boolean })
  | (FlagCommon & { type: 'int'; default?: number; required?: boolean; min?: number; max?: number })
  | (FlagCommon & {
      type: 'number';
      default?: number;
      required?: boolean;
      min?: number;
      max?: number;
    })
  /** Absent means false unless `default: true`; `--no-flag` sets false. `optional`: absent is
   * undefined, for a switch whose default is someone else's (a scenario's). */
  | (FlagCommon & { type: 'boolean'; default?: boolean; optional?: boolean })
  /** `30s`, `500ms`, `2m`, `1m30s`, units ns us ms s m h; the value is in milliseconds. */
  | (FlagCommon & { type: 'duration'; default?: string; required?: boolean })
  | (FlagCommon & {
      type: 'enum';
      values: readonly string[];
      default?: string;
      required?: boolean;
    })
  /** Repeatable; each occurrence appends. From the environment, a comma-separated list. */
  | (FlagCommon & { type: 'strings' });

export type FlagType = FlagSpec['type'];

export interface PositionalSpec {
  name: string;
  help: string;
  required?: boolean;
}

export interface ArgsSpec {
  /** A sentence under the usage line of `--help`. */
  summary?: string;
  flags: Readonly<Record<string, FlagSpec>>;
  /** Named positionals, in order. */
  positionals?: readonly PositionalSpec[];
  /** Further positionals, collected in `rest`; without it extra arguments are an error. */
  rest?: { name: string; help: string };
}

type BaseValue<F> = F extends { type: 'string' }
  ? string
  : F extends { type: 'int' | 'number' | 'duration' }
    ? number
    : F extends { type: 'enum'; values: readonly (infer V)[] }
      ? V
      : never;

export type FlagValue<F> = F extends { type: 'boolean'; optional: true }
  ? boolean | undefined
  : F extends { type: 'boolean' }
    ? boolean
    : F extends { type: 'strings' }
      ? string[]
      : F extends { default: unknown }
        ? BaseValue<F>
        : F extends { required: true }
          ? BaseValue<F>
          : BaseValue<F> | undefined;

export type FlagValues<S extends ArgsSpec> = { [K in keyof S['flags']]: FlagValue<S['flags'][K]> };

type PositionalsOf<S extends ArgsSpec> = S['positionals'] extends readonly PositionalSpec[]
  ? S['positionals'][number]
  : never;

export type PositionalValues<S extends ArgsSpec> = {
  [P in PositionalsOf<S> as P['name']]: P extends { required: true } ? string : string | undefined;
};

export type ParsedArgs<S extends ArgsSpec> =
  | { help: true }
  | { help: false; flags: FlagValues<S>; positionals: PositionalValues<S>; rest: string[] };

export interface ParseOptions {
  /** Environment to read `env` flags from; pass `process.env` from the entry point. */
  env?: Readonly<Record<string, string | undefined>>;
}

/** `--help`/`-h` anywhere before `--` returns `{ help: true }` without checking anything else. */
export function parseArgs<const S extends ArgsSpec>(
  argv: readonly string[],
  spec: S,
  options: ParseOptions = {},
): ParsedArgs<S> {
  checkSpec(spec);
  const endIndex = argv.indexOf('--');
  const flagPart = endIndex === -1 ? argv : argv.slice(0, endIndex);
  if (flagPart.includes('--help') || flagPart.includes('-h')) return { help: true };

  const byName = new Map<string, string>();
  const byShort = new Map<string, string>();
  for (const [key, flag] of Object.entries(spec.flags)) {
    byName.set(flagName(key), key);
    if (flag.short !== undefined) byShort.set(flag.short, key);
  }

  const given = new Map<string, string[]>();
  const positionals: string[] = [];
  const record = (key: string, text: string): void => {
    const flag = spec.flags[key] as FlagSpec;
    const texts = given.get(key) ?? [];
    if (texts.length > 0 && flag.type !== 'strings') {
      throw new UsageError(`${label(key)}: given more than once`);
    }
    texts.push(text);
    given.set(key, texts);
  };

  let flagsEnded = false;
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i] as string;
    if (flagsEnded || !looksLikeFlag(token)) {
      positionals.push(token);
      continue;
    }
    if (token === '--') {
      flagsEnded = true;
      continue;
    }
    let key: string | undefined;
    let inline: string | undefined;
    if (token.startsWith('--')) {
      const eq = token.indexOf('=');
      const name = eq === -1 ? token.slice(2) : token.slice(2, eq);
      inline = eq === -1 ? undefined : token.slice(eq + 1);
      key = byName.get(name);
      if (key === undefined && name.startsWith('no-')) {
        const negated = byName.get(name.slice(3));
        if (negated !== undefined && spec.flags[negated]?.type === 'boolean') {
          if (inline !== undefined) {
            throw new UsageError(`--${name}: takes no value (got "${inline}")`);
          }
          record(negated, 'false');
          continue;
        }
        if (negated !== undefined) {
          const flag = spec.flags[negated] as FlagSpec;
          throw new UsageError(
            `unknown flag --${name}: ${label(negated)} takes a value (${expected(flag)}) ` +
              'and has no --no- form',
          );
        }
      }
      if (key === undefined) {
        throw unknownFlag(`--${name}`, [...byName.keys()].map((n) => `--${n}`));
      }
    } else {
      key = byShort.get(token.slice(1));
      if (key === undefined) {
        const known = [...byName.keys()].map((n) => `--${n}`);
        for (const s of byShort.keys()) known.push(`-${s}`);
        throw unknownFlag(token, known);
      }
    }
    const flag = spec.flags[key] as FlagSpec;
    if (flag.type === 'boolean') {
      record(key, inline ?? 'true');
      continue;
    }
    if (inline !== undefined) {
      record(key, inline);
      continue;
    }
    const next = argv[i + 1];
    if (next === undefined || next === '--' || (looksLikeFlag(next) && !isNumeric(next))) {
      throw new UsageError(`${label(key)}: missing value; expected ${expected(flag)}`);
    }
    record(key, next);
    i++;
  }

  const replacedBy = (key: string): string | undefined => conflictsOf(spec, key).find((other) => given.has(other));
  for (const key of Object.keys(spec.flags)) {
    const other = given.has(key) ? replacedBy(key) : undefined;
    if (other !== undefined) throw new UsageError(`give ${label(key)} or ${label(other)}, not both`);
  }

  const flags: Record<string, unknown> = {};
  for (const [key, flag] of Object.entries(spec.flags)) {
    const texts = given.get(key);
    const fromEnv = flag.env !== undefined && replacedBy(key) === undefined ? options.env?.[flag.env] : undefined;
    if (texts !== undefined) {
      flags[key] =
        flag.type === 'strings' ? texts : convert(label(key), flag, texts[0] as string);
    } else if (fromEnv !== undefined && flag.env !== undefined) {
      flags[key] =
        flag.type === 'strings'
          ? fromEnv.split(',').filter((s) => s !== '')
          : convert(flag.env, flag, fromEnv);
    } else {
      flags[key] = defaultOf(key, flag);
    }
  }

  const named = spec.positionals ?? [];
  const values: Record<string, string | undefined> = {};
  named.forEach((p, index) => {
    const value = positionals[index];
    if (value === undefined && p.required === true) {
      throw new UsageError(`missing argument <${p.name}>: ${p.help}`);
    }
    values[p.name] = value;
  });
  const rest = positionals.slice(named.length);
  if (rest.length > 0 && spec.rest === undefined) {
    throw new UsageError(
      `unexpected argument "${rest[0]}"` +
        (named.length === 0
          ? '; this command takes no arguments'
          : `; this command takes ${named.map(positionalUsage).join(' ')}`),
    );
  }
  return {
    help: false,
    flags: flags as FlagValues<S>,
    positionals: values as PositionalValues<S>,
    rest,
  };
}

/** The `--help` text: usage line, summary, arguments, and one aligned line per flag. */
/** Whether flag `key` was written on the command line (its value may also come from the environment). */
export function givenOnCommandLine(argv: readonly string[], key: string): boolean {
  const name = `--${flagName(key)}`;
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).some((t) => t === name || t.startsWith(`${name}=`));
}

export function formatHelp(command: string, spec: ArgsSpec): string {
  checkSpec(spec);
  const named = spec.positionals ?? [];
  const usage = [
    `Usage: ${command}`,
    '[options]',
    ...named.map(positionalUsage),
    ...(spec.rest ? [`[${spec.rest.name}...]`] : []),
  ].join(' ');
  const lines = [usage];
  if (spec.summary !== undefined) lines.push('', spec.summary);

  const argRows: [string, string][] = named.map((p) => [positionalUsage(p), p.help]);
  if (spec.rest) argRows.push([`[${spec.rest.name}...]`, spec.rest.help]);
  const flagRows: [string, string][] = Object.entries(spec.flags).map(([key, flag]) => {
    const short = flag.short !== undefined ? `-${flag.short}, ` : '';
    const name =
      flag.type === 'boolean' ? `--[no-]${flagName(key)}` : `--${flagName(key)} <${metavar(flag)}>`;
    const notes: string[] = [];
    const shownDefault = defaultText(flag);
    if (shownDefault !== undefined) notes.push(`default: ${shownDefault}`);
    if ('required' in flag && flag.required === true) notes.push('required');
    if (flag.type === 'strings') notes.push('repeatable');
    if (flag.env !== undefined) notes.push(`env ${flag.env}`);
    const help = notes.length > 0 ? `${flag.help} (${notes.join('; ')})` : flag.help;
    return [`${short}${name}`, help];
  });
  flagRows.push(['-h, --help', 'show this help']);

  const width = Math.min(32, Math.max(...[...argRows, ...flagRows].map(([l]) => l.length)) + 2);
  const row = ([left, right]: [string, string]): string =>
    left.length + 2 > width
      ? `  ${left}\n  ${' '.repeat(width)}${right}`
      : `  ${left.padEnd(width)}${right}`;
  if (argRows.length > 0) lines.push('', 'Arguments:', ...argRows.map(row));
  lines.push('', 'Options:', ...flagRows.map(row));
  return lines.join('\n') + '\n';
}

/** `30s`, `500ms`, `2m`, `1m30s`, `0` → milliseconds; undefined when `text` is not a duration. */
export function parseDurationMs(text: string): number | undefined {
  if (text === '0') return 0;
  if (!/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(text)) return undefined;
  let totalMs = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) {
    totalMs += Number(m[1]) * DURATION_UNIT_MS[m[2] as keyof typeof DURATION_UNIT_MS];
  }
  return totalMs;
}

const DURATION_UNIT_MS = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
} as const;

function convert(where: string, flag: FlagSpec, text: string): unknown {
  const bad = (): UsageError =>
    new UsageError(`${where}: must be ${expected(flag)} (got ${JSON.stringify(text)})`);
  switch (flag.type) {
    case 'string':
      return text;
    case 'strings':
      return [text];
    case 'boolean':
      if (text === 'true') return true;
      if (text === 'false') return false;
      throw bad();
    case 'int':
    case 'number': {
      // Number() alone would accept '', ' 1', '1_0' and 'Infinity'; the pattern keeps us strict.
      const ok = flag.type === 'int' ? INT_PATTERN : NUMBER_PATTERN;
      const n = Number(text.replace(/^\+/, ''));
      if (!ok.test(text) || !Number.isFinite(n)) throw bad();
      if (flag.type === 'int' && !Number.isSafeInteger(n)) throw bad();
      if ((flag.min !== undefined && n < flag.min) || (flag.max !== undefined && n > flag.max)) {
        throw bad();
      }
      return n;
    }
    case 'duration': {
      const ms = parseDurationMs(text);
      if (ms === undefined) throw bad();
      return ms;
    }
    case 'enum': {
      if (flag.values.includes(text)) return text;
      const near = closest(text, flag.values);
      const hint = near !== undefined ? `; did you mean ${near}?` : '';
      throw new UsageError(
        `${where}: must be ${expected(flag)} (got ${JSON.stringify(text)}${hint})`,
      );
    }
    default:
      return assertNever(flag, 'flag spec');
  }
}

const INT_PATTERN = /^([+-]?\d+|\+?0x[0-9a-f]+)$/i;
const NUMBER_PATTERN = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

function expected(flag: FlagSpec): string {
  const range = (kind: string, f: { min?: number; max?: number }): string => {
    if (f.min !== undefined && f.max !== undefined) return `${kind} from ${f.min} to ${f.max}`;
    if (f.min !== undefined) return `${kind} >= ${f.min}`;
    if (f.max !== undefined) return `${kind} <= ${f.max}`;
    return kind;
  };
  switch (flag.type) {
    case 'string':
    case 'strings':
      return 'a string';
    case 'int':
      return range('an integer', flag);
    case 'number':
      return range('a number', flag);
    case 'boolean':
      return 'true or false';
    case 'duration':
      return 'a duration such as 30s, 500ms or 2m';
    case 'enum':
      return `one of ${flag.values.join(', ')}`;
    default:
      return assertNever(flag, 'flag spec');
  }
}

function defaultOf(key: string, flag: FlagSpec): unknown {
  switch (flag.type) {
    case 'boolean':
      return flag.optional === true ? undefined : (flag.default ?? false);
    case 'strings':
      return [];
    case 'duration':
      if (flag.required === true) throw missingFlag(key, flag);
      if (flag.default === undefined) return undefined;
      return parseDurationMs(flag.default);
    case 'string':
    case 'int':
    case 'number':
    case 'enum':
      if (flag.required === true) throw missingFlag(key, flag);
      return flag.default;
    default:
      return assertNever(flag, 'flag spec');
  }
}

function missingFlag(key: string, flag: FlagSpec): UsageError {
  const env = flag.env !== undefined ? ` (or set ${flag.env})` : '';
  return new UsageError(`${label(key)}: required${env}; expected ${expected(flag)}`);
}

function defaultText(flag: FlagSpec): string | undefined {
  switch (flag.type) {
    case 'boolean':
      return flag.default === true ? 'true' : undefined;
    case 'strings':
      return undefined;
    case 'string':
    case 'int':
    case 'number':
    case 'duration':
    case 'enum':
      return flag.default === undefined ? undefined : String(flag.default);
    default:
      return assertNever(flag, 'flag spec');
  }
}

function metavar(flag: FlagSpec): string {
  if (flag.metavar !== undefined) return flag.metavar;
  switch (flag.type) {
    case 'enum':
      return flag.values.join('|');
    case 'strings':
      return 'string';
    default:
      return flag.type;
  }
}

/** Programmer errors in a spec are assertions, caught by the first test that uses it. */
function checkSpec(spec: ArgsSpec): void {
  const shorts = new Set<string>();
  for (const [key, flag] of Object.entries(spec.flags)) {
    assert(/^[a-z][a-zA-Z0-9]*$/.test(key), `flag key "${key}" must be camelCase`);
    assert(key !== 'help', 'the help flag is built in');
    if (flag.short !== undefined) {
      assert(/^[a-zA-Z]$/.test(flag.short), `${key}: short alias must be one letter`);
      assert(flag.short !== 'h', `${key}: -h is reserved for --help`);
      assert(!shorts.has(flag.short), `${key}: short alias -${flag.short} used twice`);
      shorts.add(flag.short);
    }
    if (flag.type === 'enum') {
      assert(flag.values.length > 0, `${key}: enum needs values`);
      assert(
        flag.default === undefined || flag.values.includes(flag.default),
        `${key}: default "${flag.default}" is not one of its values`,
      );
    }
    if (flag.type === 'boolean') {
      assert(flag.optional !== true || flag.default === undefined, `${key}: an optional boolean has no default`);
    }
    for (const other of flag.conflicts ?? []) {
      assert(other !== key && Object.hasOwn(spec.flags, other), `${key}: conflicts with an unknown flag "${other}"`);
    }
    if (flag.type === 'duration' && flag.default !== undefined) {
      assert(parseDurationMs(flag.default) !== undefined, `${key}: bad default duration`);
    }
  }
  const named = spec.positionals ?? [];
  const firstOptional = named.findIndex((p) => p.required !== true);
  assert(
    firstOptional === -1 || named.slice(firstOptional).every((p) => p.required !== true),
    'a required positional cannot follow an optional one',
  );
}

/** The flags `key` conflicts with, declared on either side, in spec order. */
function conflictsOf(spec: ArgsSpec, key: string): string[] {
  return Object.entries(spec.flags)
    .filter(([other, flag]) => (spec.flags[key]?.conflicts ?? []).includes(other) || (flag.conflicts ?? []).includes(key))
    .map(([other]) => other);
}

function flagName(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function label(key: string): string {
  return `--${flagName(key)}`;
}

function positionalUsage(p: PositionalSpec): string {
  return p.required === true ? `<${p.name}>` : `[${p.name}]`;
}

function looksLikeFlag(token: string): boolean {
  return token.startsWith('-') && token !== '-' && !isNumeric(token);
}

function isNumeric(token: string): boolean {
  return /^-(\d|\.\d)/.test(token);
}

function unknownFlag(given: string, known: readonly string[]): UsageError {
  const near = closest(given, known);
  const hint = near !== undefined ? `; did you mean ${near}?` : '';
  return new UsageError(`unknown flag ${given}${hint} (see --help for the flags)`);
}

/** The nearest candidate within a small edit distance, if any. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  // One edit per three letters: `--sed` finds `--seed`, but `-x` suggests nothing.
  const distanceMax = Math.floor(word.replace(/^-+/, '').length / 3);
  return bestDistance <= distanceMax ? best : undefined;
}
