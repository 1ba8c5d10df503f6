/**
 * Goal: every subcommand gets the same strict flag handling. Method: parse representative
 * command lines against one spec covering every flag type, and assert values (types included,
 * checked by the compiler through `satisfies`), precedence (flag > env > default), and the exact
 * UsageError text for each kind of mistake.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatHelp, parseArgs, parseDurationMs } from '../../../services/cli/args.js';
import type { ArgsSpec } from '../../../services/cli/args.js';
import { AssertionError, UsageError } from '../../../services/stdx/index.js';

const spec = {
  summary: 'Run a scenario in one process, in virtual time.',
  flags: {
    seed: { type: 'int', default: 0, min: 0, max: 4294967295, help: 'seed', env: 'IPISCOPE_SEED' },
    ticksMax: { type: 'int', help: 'stop after this many ticks' },
    ratio: { type: 'number', default: 0.5, help: 'fraction of faulty links' },
    machine: { type: 'string', short: 'm', default: 'seed-2019', help: 'preset or file' },
    timeout: { type: 'duration', default: '30s', help: 'wall-clock limit' },
    model: { type: 'enum', values: ['power8', 'power9'], help: 'cpu model override' },
    json: { type: 'boolean', help: 'print JSON' },
    color: { type: 'boolean', default: true, help: 'colour output' },
    tag: { type: 'strings', help: 'label the run', env: 'IPISCOPE_TAGS' },
  },
  positionals: [
    { name: 'scenario', help: 'scenario file or name', required: true },
    { name: 'out', help: 'run directory' },
  ],
} as const satisfies ArgsSpec;

function parsed(argv: string[], env: Record<string, string> = {}) {
  const result = parseArgs(argv, spec, { env });
  assert.equal(result.help, false);
  if (result.help) throw new Error('unreachable');
  return result;
}

test('defaults, and the types the compiler infers', () => {
  const a = parsed(['host-ipi']);
  assert.deepEqual(a.flags, {
    seed: 0,
    ticksMax: undefined,
    ratio: 0.5,
    machine: 'seed-2019',
    timeout: 30_000,
    model: undefined,
    json: false,
    color: true,
    tag: [],
  });
  assert.deepEqual(a.positionals, { scenario: 'host-ipi', out: undefined });
  assert.deepEqual(a.rest, []);
  // Compile-time checks: these fail `tsc` if the inferred types drift.
  a.flags.seed satisfies number;
  a.flags.ticksMax satisfies number | undefined;
  a.flags.model satisfies 'power8' | 'power9' | undefined;
  a.flags.json satisfies boolean;
  a.flags.tag satisfies string[];
  a.positionals.scenario satisfies string;
  a.positionals.out satisfies string | undefined;
});

test('both value forms, short aliases, booleans, repeats and --', () => {
  const a = parsed([
    '--seed=42',
    '--ticks-max',
    '1000',
    '-m',
    'power8',
    '--timeout',
    '1m30s',
    '--model=power9',
    '--json',
    '--no-color',
    '--tag',
    'a',
    '--tag=b',
    'host-ipi',
    '--',
    '--not-a-flag',
  ]);
  assert.equal(a.flags.seed, 42);
  assert.equal(a.flags.ticksMax, 1000);
  assert.equal(a.flags.machine, 'power8');
  assert.equal(a.flags.timeout, 90_000);
  assert.equal(a.flags.model, 'power9');
  assert.equal(a.flags.json, true);
  assert.equal(a.flags.color, false);
  assert.deepEqual(a.flags.tag, ['a', 'b']);
  assert.deepEqual(a.positionals, { scenario: 'host-ipi', out: '--not-a-flag' });
  assert.equal(parsed(['s', '--json=false']).flags.json, false);
  assert.equal(parsed(['s', '--seed', '0x10']).flags.seed, 16);
  assert.equal(parsed(['s', '--ratio', '-0.25e1']).flags.ratio, -2.5);
});

test('flag beats environment beats default', () => {
  assert.equal(parsed(['s'], { IPISCOPE_SEED: '7' }).flags.seed, 7);
  assert.equal(parsed(['s', '--seed', '9'], { IPISCOPE_SEED: '7' }).flags.seed, 9);
  assert.deepEqual(parsed(['s'], { IPISCOPE_TAGS: 'x,y' }).flags.tag, ['x', 'y']);
  assert.throws(() => parsed(['s'], { IPISCOPE_SEED: 'seven' }), {
    name: 'UsageError',
    message: 'IPISCOPE_SEED: must be an integer from 0 to 4294967295 (got "seven")',
  });
});

test('durations', () => {
  assert.equal(parseDurationMs('500ms'), 500);
  assert.equal(parseDurationMs('2m'), 120_000);
  assert.equal(parseDurationMs('1h2m3s'), 3_723_000);
  assert.equal(parseDurationMs('250us'), 0.25);
  assert.equal(parseDurationMs('0'), 0);
  for (const bad of ['30', '', 's', '-1s', '1 s', '1d', '1.s']) {
    assert.equal(parseDurationMs(bad), undefined, bad);
  }
});

test('mistakes are UsageErrors naming the flag and what was expected', () => {
  const cases: [string[], string][] = [
    [['s', '--sed', '1'], 'unknown flag --sed; did you mean --seed? (see --help for the flags)'],
    [
      ['s', '--ticksmax', '1'],
      'unknown flag --ticksmax; did you mean --ticks-max? (see --help for the flags)',
    ],
    [['s', '--frobnicate'], 'unknown flag --frobnicate (see --help for the flags)'],
    [['s', '-x', '1'], 'unknown flag -x (see --help for the flags)'],
    [
      ['s', '--no-seed'],
      'unknown flag --no-seed: --seed takes a value (an integer from 0 to 4294967295) ' +
        'and has no --no- form',
    ],
    [['s', '--seed'], '--seed: missing value; expected an integer from 0 to 4294967295'],
    [['s', '--machine', '--json'], '--machine: missing value; expected a string'],
    [['s', '--seed', '12x'], '--seed: must be an integer from 0 to 4294967295 (got "12x")'],
    [['s', '--seed', '-1'], '--seed: must be an integer from 0 to 4294967295 (got "-1")'],
    [['s', '--seed', '1.5'], '--seed: must be an integer from 0 to 4294967295 (got "1.5")'],
    [['s', '--seed='], '--seed: must be an integer from 0 to 4294967295 (got "")'],
    [['s', '--ratio', 'Infinity'], '--ratio: must be a number (got "Infinity")'],
    [['s', '--timeout', '30'], '--timeout: must be a duration such as 30s, 500ms or 2m (got "30")'],
    [
      ['s', '--model', 'powr9'],
      '--model: must be one of power8, power9 (got "powr9"; did you mean power9?)',
    ],
    [['s', '--model', 'x86'], '--model: must be one of power8, power9 (got "x86")'],
    [['s', '--json=yes'], '--json: must be true or false (got "yes")'],
    [['s', '--no-json=true'], '--no-json: takes no value (got "true")'],
    [['s', '--seed', '1', '--seed', '2'], '--seed: given more than once'],
    [[], 'missing argument <scenario>: scenario file or name'],
    [['s', 'o', 'extra'], 'unexpected argument "extra"; this command takes <scenario> [out]'],
  ];
  for (const [argv, message] of cases) {
    assert.throws(() => parseArgs(argv, spec), (err: unknown) => {
      assert.ok(err instanceof UsageError, `${argv.join(' ')}: ${String(err)}`);
      assert.equal(err.message, message, argv.join(' '));
      return true;
    });
  }
});

test('required flags, rest arguments, commands without arguments', () => {
  const withRest = {
    flags: { nats: { type: 'string', required: true, env: 'IPISCOPE_NATS', help: 'server url' } },
    rest: { name: 'files', help: 'litmus files' },
  } as const satisfies ArgsSpec;
  assert.throws(() => parseArgs(['a.litmus'], withRest), {
    message: '--nats: required (or set IPISCOPE_NATS); expected a string',
  });
  const r = parseArgs(['a.litmus', '--nats', 'nats://x', 'b.litmus'], withRest);
  assert.ok(!r.help);
  assert.equal(r.flags.nats satisfies string, 'nats://x');
  assert.deepEqual(r.rest, ['a.litmus', 'b.litmus']);
  const bare = { flags: {} } as const satisfies ArgsSpec;
  assert.throws(() => parseArgs(['x'], bare), {
    message: 'unexpected argument "x"; this command takes no arguments',
  });
  // A lone "-" is an argument (stdin), a negative number is a value.
  const r2 = parseArgs(['-', '--ratio', '-1'], spec);
  assert.ok(!r2.help);
  assert.equal(r2.positionals.scenario, '-');
  assert.equal(r2.flags.ratio, -1);
});

test('--help wins over everything else, but not after --', () => {
  assert.deepEqual(parseArgs(['--sed', '--help'], spec), { help: true });
  assert.deepEqual(parseArgs(['-h'], spec), { help: true });
  const r = parseArgs(['--', '--help'], spec);
  assert.ok(!r.help);
  assert.equal(r.positionals.scenario, '--help');
});

test('a broken spec is a programming error', () => {
  const badKey = { flags: { 'ticks-max': { type: 'int', help: '' } } } as const;
  assert.throws(() => parseArgs([], badKey), AssertionError);
  const badDefault = {
    flags: { m: { type: 'enum', values: ['a'], default: 'b', help: '' } },
  } as const;
  assert.throws(() => parseArgs([], badDefault), AssertionError);
  const badShort = { flags: { x: { type: 'boolean', short: 'h', help: '' } } } as const;
  assert.throws(() => parseArgs([], badShort), AssertionError);
});

test('formatHelp lists arguments and flags with defaults, env and repeats', () => {
  assert.equal(
    formatHelp('ipiscope sim', spec),
    [
      'Usage: ipiscope sim [options] <scenario> [out]',
      '',
      'Run a scenario in one process, in virtual time.',
      '',
      'Arguments:',
      '  <scenario>               scenario file or name',
      '  [out]                    run directory',
      '',
      'Options:',
      '  --seed <int>             seed (default: 0; env IPISCOPE_SEED)',
      '  --ticks-max <int>        stop after this many ticks',
      '  --ratio <number>         fraction of faulty links (default: 0.5)',
      '  -m, --machine <string>   preset or file (default: seed-2019)',
      '  --timeout <duration>     wall-clock limit (default: 30s)',
      '  --model <power8|power9>  cpu model override',
      '  --[no-]json              print JSON',
      '  --[no-]color             colour output (default: true)',
      '  --tag <string>           label the run (repeatable; env IPISCOPE_TAGS)',
      '  -h, --help               show this help',
      '',
    ].join('\n'),
  );
});

test('an optional boolean is undefined when absent: --x sets true, --no-x false', () => {
  const tri = { flags: { relaxed: { type: 'boolean', optional: true, help: 'ablation (default: the scenario\'s)' } } } as const satisfies ArgsSpec;
  const values = (argv: string[]): boolean | undefined => {
    const r = parseArgs(argv, tri);
    assert.equal(r.help, false);
    if (r.help) throw new Error('unreachable');
    r.flags.relaxed satisfies boolean | undefined;
    return r.flags.relaxed;
  };
  assert.equal(values([]), undefined);
  assert.equal(values(['--relaxed']), true);
  assert.equal(values(['--no-relaxed']), false);
  assert.equal(values(['--relaxed=false']), false);
  assert.match(formatHelp('x', tri), /--\[no-\]relaxed +ablation \(default: the scenario's\)\n/);
});

test('conflicting flags: not both on the command line, and the environment does not stand in for a flag the other replaces', () => {
  const swarm = {
    flags: {
      seed: { type: 'int', min: 0, env: 'IPISCOPE_SEED', conflicts: ['seeds'], help: 'one seed' },
      seeds: { type: 'string', help: 'a list of seeds' },
    },
  } as const satisfies ArgsSpec;
  const flags = (argv: string[], env: Record<string, string>) => {
    const r = parseArgs(argv, swarm, { env });
    if (r.help) throw new Error('unreachable');
    return r.flags;
  };
  // --seeds replaces --seed: IPISCOPE_SEED is neither read nor checked.
  assert.deepEqual(flags(['--seeds', '1-3'], { IPISCOPE_SEED: '-3' }), { seed: undefined, seeds: '1-3' });
  assert.deepEqual(flags(['--seeds', '1-3'], { IPISCOPE_SEED: '5' }), { seed: undefined, seeds: '1-3' });
  // Without --seeds it is --seed's value, and checked as such.
  assert.equal(flags([], { IPISCOPE_SEED: '5' }).seed, 5);
  assert.throws(() => flags([], { IPISCOPE_SEED: '-3' }), { name: 'UsageError', message: 'IPISCOPE_SEED: must be an integer >= 0 (got "-3")' });
  for (const argv of [['--seed', '1', '--seeds', '2'], ['--seeds=2', '--seed=1']]) {
    assert.throws(() => flags(argv, {}), { name: 'UsageError', message: 'give --seed or --seeds, not both' });
  }
  assert.throws(() => parseArgs([], { flags: { a: { type: 'boolean', conflicts: ['b'], help: 'a' } } }), AssertionError);
});
