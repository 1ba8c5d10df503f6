/**
 * Machine shapes: presets, machine files, and the O(1) arithmetic between Linux logical CPU
 * numbers, cores, sockets, thread-in-core ids (TIR) and hardware processor ids (PIR).
 *
 * Numbering contract (see `Topology`): logical CPUs are dense and socket-major,
 * `cpu = core * threadsPerCore + tir`, `core = socket * coresPerSocket + coreInSocket`.
 */
import { readFileSync, statSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { yaml } from '../stdx/yaml.js';
import type { Node as YamlNode } from 'yaml';
import { z } from 'zod';
import { assert, assertNever } from '../stdx/assert.js';
import { InputError, UsageError } from '../stdx/errors.js';
import { lineOfJsonError } from '../stdx/json-error.js';
import { CPU_MODELS } from './topology-types.js';
import type { CpuModel, Topology } from './topology-types.js';
import { editDistance } from '../stdx/edit-distance.js';

export const SOCKET_COUNT_MAX = 64;
export const CORE_COUNT_MAX = 1024;
export const THREADS_PER_CORE_VALUES = [1, 2, 4, 8] as const;

/**
 * Highest SMT mode we model per CPU model. POWER9 SMT8 parts (the "scale-up" chips) exist, but
 * there an SMT8 core is two SMT4 cores fused for the OS: doorbell reach, the PIR layout and
 * KVM's thread handling differ, and none of the modelled bugs needs them. So POWER9 stops at 4.
 */
export const SMT_MAX: Readonly<Record<CpuModel, number>> = { power8: 8, power9: 4 };

/** The doorbell tag is the target's TIR in 7 bits (arch/powerpc/include/asm/dbell.h). */
export const DOORBELL_TAG_LIMIT = 128;

/**
 * Our PIR encoding, not a copy of any firmware's: `socket << 8 | coreInSocket << shift | tir`,
 * with one slot of 2^shift threads per core (POWER9: 4, POWER8: 8) whatever the SMT mode, so a
 * thread's PIR does not change when the SMT mode does. The core field has 8 - shift bits, which
 * bounds the cores per socket.
 */
const PIR_SOCKET_SHIFT = 8;
const PIR_CORE_SHIFT: Readonly<Record<CpuModel, number>> = { power8: 3, power9: 2 };

/** Cores per socket that fit the PIR core field: 32 on POWER8, 64 on POWER9. */
export function coresPerSocketMax(cpuModel: CpuModel): number {
  return 1 << (PIR_SOCKET_SHIFT - PIR_CORE_SHIFT[cpuModel]);
}

const PRESETS = {
  power8: { name: 'power8', cpuModel: 'power8', sockets: 1, coresPerSocket: 4, threadsPerCore: 8 },
  power9: { name: 'power9', cpuModel: 'power9', sockets: 1, coresPerSocket: 4, threadsPerCore: 4 },
  // The 2-socket POWER9 host of the report fixed by Linux 3a83f677a6ee (host_ipi race).
  'seed-2019': {
    name: 'seed-2019',
    cpuModel: 'power9',
    sockets: 2,
    coresPerSocket: 16,
    threadsPerCore: 4,
  },
} as const satisfies Record<string, Topology>;

export type PresetName = keyof typeof PRESETS;

export function presetNames(): PresetName[] {
  return Object.keys(PRESETS) as PresetName[];
}

function isPresetName(name: string): name is PresetName {
  return Object.hasOwn(PRESETS, name);
}

/** A fresh copy of a preset; UsageError naming the valid presets when `name` is unknown. */
export function getPreset(name: string): Topology {
  if (!isPresetName(name)) {
    throw new UsageError(
      `unknown machine preset "${name}"${suggestion(name, presetNames())}; ` +
        `valid presets are ${presetNames().join(', ')}`,
    );
  }
  return { ...PRESETS[name] };
}

// Shape arithmetic. All O(1) (siblings is O(threadsPerCore) <= 8).

export function coreCount(t: Topology): number {
  return t.sockets * t.coresPerSocket;
}

export function cpuCount(t: Topology): number {
  return coreCount(t) * t.threadsPerCore;
}

function assertCpu(t: Topology, cpu: number): void {
  assert(Number.isInteger(cpu), () => `cpu ${cpu} is not an integer`);
  assert(cpu >= 0, () => `cpu ${cpu} is negative`);
  assert(cpu < cpuCount(t), () => `cpu ${cpu} out of range: ${t.name} has ${cpuCount(t)} cpus`);
}

function assertCore(t: Topology, core: number): void {
  assert(Number.isInteger(core), () => `core ${core} is not an integer`);
  assert(core >= 0, () => `core ${core} is negative`);
  assert(core < coreCount(t), () => `core ${core} out of range: ${t.name} has ${coreCount(t)} cores`);
}

export function coreOfCpu(t: Topology, cpu: number): number {
  assertCpu(t, cpu);
  return Math.floor(cpu / t.threadsPerCore);
}

/** The thread-in-core id (TIR): the 7-bit tag `msgsndp`/`msgsnd` use within a core. */
export function threadInCore(t: Topology, cpu: number): number {
  assertCpu(t, cpu);
  const tir = cpu % t.threadsPerCore;
  assert(tir < DOORBELL_TAG_LIMIT, () => `tir ${tir} does not fit the 7-bit doorbell tag`);
  return tir;
}

export function cpuOf(t: Topology, core: number, tir: number): number {
  assertCore(t, core);
  assert(Number.isInteger(tir) && tir >= 0, () => `tir ${tir} is not a non-negative integer`);
  assert(tir < t.threadsPerCore, () => `tir ${tir} out of range: SMT${t.threadsPerCore}`);
  return core * t.threadsPerCore + tir;
}

export function socketOfCore(t: Topology, core: number): number {
  assertCore(t, core);
  return Math.floor(core / t.coresPerSocket);
}

export function socketOfCpu(t: Topology, cpu: number): number {
  return socketOfCore(t, coreOfCpu(t, cpu));
}

/** Hardware processor id of a logical CPU, in our encoding (see PIR_CORE_SHIFT). */
export function pirOfCpu(t: Topology, cpu: number): number {
  const core = coreOfCpu(t, cpu);
  const socket = Math.floor(core / t.coresPerSocket);
  const coreInSocket = core % t.coresPerSocket;
  const shift = PIR_CORE_SHIFT[t.cpuModel];
  assert(coreInSocket < coresPerSocketMax(t.cpuModel), () => `core ${core} overflows the PIR`);
  return (socket << PIR_SOCKET_SHIFT) | (coreInSocket << shift) | threadInCore(t, cpu);
}

/** Inverse of `pirOfCpu`. A PIR that names no thread of `t` is a model bug (asserted). */
export function cpuOfPir(t: Topology, pir: number): number {
  assert(Number.isInteger(pir) && pir >= 0, () => `pir ${pir} is not a non-negative integer`);
  const shift = PIR_CORE_SHIFT[t.cpuModel];
  const socket = pir >>> PIR_SOCKET_SHIFT;
  const coreInSocket = (pir & ((1 << PIR_SOCKET_SHIFT) - 1)) >>> shift;
  const tir = pir & ((1 << shift) - 1);
  assert(socket < t.sockets, () => `pir ${pir}: socket ${socket} does not exist in ${t.name}`);
  assert(coreInSocket < t.coresPerSocket, () => `pir ${pir}: core ${coreInSocket} does not exist`);
  assert(tir < t.threadsPerCore, () => `pir ${pir}: thread ${tir} beyond SMT${t.threadsPerCore}`);
  return cpuOf(t, socket * t.coresPerSocket + coreInSocket, tir);
}

/** The threads of `cpu`'s core, `cpu` included, ascending (Linux `cpu_sibling_mask`). */
export function siblings(t: Topology, cpu: number): number[] {
  const first = coreOfCpu(t, cpu) * t.threadsPerCore;
  const out: number[] = [];
  for (let tir = 0; tir < t.threadsPerCore; tir++) out.push(first + tir);
  return out;
}

export const DOORBELL_INSTRS = ['msgsnd', 'msgsndp'] as const;
export type DoorbellInstr = (typeof DOORBELL_INSTRS)[number];
export type DoorbellReach = 'core' | 'global' | 'none';

/**
 * How a doorbell from `fromCpu` can reach `toCpu`, for a host kernel in hypervisor mode:
 * 'core' within one core (both instructions, both models, the sender itself included);
 * 'global' for POWER9 `msgsnd` to another core, addressed by PIR (ISA 3.0);
 * 'none' otherwise (POWER8 doorbells, and `msgsndp` everywhere, stay inside the core), so the
 * kernel must use the interrupt controller (doorbell_try_core_ipi fails).
 */
export function doorbellReach(
  t: Topology,
  fromCpu: number,
  toCpu: number,
  instr: DoorbellInstr,
): DoorbellReach {
  if (coreOfCpu(t, fromCpu) === coreOfCpu(t, toCpu)) return 'core';
  switch (instr) {
    case 'msgsndp':
      return 'none';
    case 'msgsnd':
      switch (t.cpuModel) {
        case 'power8':
          return 'none';
        case 'power9':
          return 'global';
        default:
          return assertNever(t.cpuModel, 'cpu model');
      }
    default:
      return assertNever(instr, 'doorbell instruction');
  }
}

/** One line, e.g. `seed-2019: power9, 2 sockets x 16 cores x SMT4 = 128 threads`. */
export function describeTopology(t: Topology): string {
  const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
  return (
    `${t.name}: ${t.cpuModel}, ${plural(t.sockets, 'socket')} x ` +
    `${plural(t.coresPerSocket, 'core')} x SMT${t.threadsPerCore} = ` +
    `${plural(cpuCount(t), 'thread')}`
  );
}

// Limits, shared by machine files and by assertTopology.

interface Problem {
  /** Field the problem is blamed on. */
  field: keyof Topology;
  detail: string;
}

function shapeProblems(t: Topology): Problem[] {
  const problems: Problem[] = [];
  const smtMax = SMT_MAX[t.cpuModel];
  if (t.threadsPerCore > smtMax) {
    problems.push({
      field: 'threadsPerCore',
      detail:
        `${t.cpuModel} is modelled with at most SMT${smtMax} (got ${t.threadsPerCore})` +
        (t.cpuModel === 'power9' ? '; use cpuModel power8 for SMT8' : ''),
    });
  }
  const coresMax = coresPerSocketMax(t.cpuModel);
  if (t.coresPerSocket > coresMax) {
    problems.push({
      field: 'coresPerSocket',
      detail: `${t.cpuModel} allows at most ${coresMax} cores per socket (got ${t.coresPerSocket})`,
    });
  }
  if (coreCount(t) > CORE_COUNT_MAX) {
    problems.push({
      field: 'coresPerSocket',
      detail:
        `the machine may have at most ${CORE_COUNT_MAX} cores in total ` +
        `(got ${t.sockets} sockets x ${t.coresPerSocket} = ${coreCount(t)})`,
    });
  }
  return problems;
}

/** Asserts that `t` is within the limits a machine file would be checked against. */
export function assertTopology(t: Topology): void {
  assert(CPU_MODELS.includes(t.cpuModel), () => `unknown cpu model ${String(t.cpuModel)}`);
  assert(Number.isInteger(t.sockets), () => `sockets ${t.sockets} is not an integer`);
  assert(t.sockets >= 1 && t.sockets <= SOCKET_COUNT_MAX, () => `sockets ${t.sockets} out of range`);
  assert(Number.isInteger(t.coresPerSocket), () => `coresPerSocket ${t.coresPerSocket} not an integer`);
  assert(t.coresPerSocket >= 1, () => `coresPerSocket ${t.coresPerSocket} out of range`);
  assert(
    (THREADS_PER_CORE_VALUES as readonly number[]).includes(t.threadsPerCore),
    `threadsPerCore ${t.threadsPerCore} is not 1, 2, 4 or 8`,
  );
  const problems = shapeProblems(t);
  assert(problems.length === 0, () => `${t.name}: ${problems.map((p) => p.detail).join('; ')}`);
}

// Machine files.

/** Machine files are a handful of lines; anything bigger is not a machine file. */
const MACHINE_FILE_BYTES_MAX = 64 * 1024;

const FIELD_EXPECTED = {
  name: 'a non-empty string of at most 64 characters',
  preset: `one of ${presetNames().join(', ')}`,
  cpuModel: `one of ${CPU_MODELS.join(', ')}`,
  sockets: `an integer from 1 to ${SOCKET_COUNT_MAX}`,
  coresPerSocket: `an integer from 1 to ${CORE_COUNT_MAX}`,
  threadsPerCore: `one of ${THREADS_PER_CORE_VALUES.join(', ')}`,
} as const;
type FileField = keyof typeof FIELD_EXPECTED;
const FILE_FIELDS = Object.keys(FIELD_EXPECTED) as FileField[];

const machineFileSchema = z
  .object({
    name: z.string().min(1).max(64),
    preset: z.enum(presetNames() as [PresetName, ...PresetName[]]),
    cpuModel: z.enum(CPU_MODELS),
    sockets: z.number().int().min(1).max(SOCKET_COUNT_MAX),
    coresPerSocket: z.number().int().min(1).max(CORE_COUNT_MAX),
    threadsPerCore: z
      .number()
      .refine((n) => (THREADS_PER_CORE_VALUES as readonly number[]).includes(n)),
  })
  .partial()
  .strict();

interface FileIssue {
  path: (string | number)[];
  detail: string;
}

/**
 * Reads a machine description (YAML, or JSON when the name ends in `.json`), starting from
 * `preset` when given; fields in the file override the preset's. Every problem becomes an
 * InputError naming the file, the line when known, the field and what is wrong.
 */
export function loadMachineFile(path: string): Topology {
  let text: string;
  try {
    const sizeBytes = statSync(path).size;
    if (sizeBytes > MACHINE_FILE_BYTES_MAX) {
      throw new InputError(
        path,
        undefined,
        `file is ${sizeBytes} bytes; a machine file is at most ${MACHINE_FILE_BYTES_MAX}`,
      );
    }
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (err instanceof InputError) throw err;
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : String(err);
    const inputError = new InputError(path, undefined, `cannot read machine file: ${why}`);
    inputError.cause = err;
    throw inputError;
  }
  return parseMachineText(text, path);
}

/** `loadMachineFile` without the I/O: `file` names the source in errors and picks the syntax. */
export function parseMachineText(text: string, file: string): Topology {
  const isJson = extname(file).toLowerCase() === '.json';
  if (isJson) {
    try {
      JSON.parse(text);
    } catch (err) {
      throw new InputError(file, lineOfJsonError(text, err), `invalid JSON: ${(err as Error).message}`);
    }
  }
  // JSON is valid YAML 1.2; the YAML parser gives us source positions for both syntaxes.
  const { LineCounter, parseDocument, isMap, isScalar } = yaml();
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  const yamlError = doc.errors[0];
  if (yamlError !== undefined) {
    const line = lineCounter.linePos(yamlError.pos[0]).line;
    const msg = yamlError.message.split('\n')[0] ?? yamlError.message;
    throw new InputError(file, line, `invalid ${isJson ? 'JSON' : 'YAML'}: ${msg}`);
  }
  const raw: unknown = doc.toJS();
  const lineOf = (path: readonly (string | number)[]): number | undefined => {
    const node = (path.length === 0 ? doc.contents : doc.getIn(path, true)) as YamlNode | null;
    const offset = node?.range?.[0];
    return offset === undefined ? undefined : lineCounter.linePos(offset).line;
  };
  const keyLineOf = (key: string): number | undefined => {
    if (!isMap(doc.contents)) return undefined;
    for (const pair of doc.contents.items) {
      if (isScalar(pair.key) && pair.key.value === key && pair.key.range) {
        return lineCounter.linePos(pair.key.range[0]).line;
      }
    }
    return undefined;
  };
  const fail = (issues: FileIssue[], lineFor: (issue: FileIssue) => number | undefined): never => {
    const sorted = issues
      .map((issue) => ({ issue, line: lineFor(issue) }))
      .sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity));
    const text = (i: FileIssue): string =>
      i.path.length === 0 ? i.detail : `${i.path.join('.')}: ${i.detail}`;
    const [first, ...rest] = sorted;
    assert(first !== undefined, 'fail() needs at least one issue');
    // The first problem is the error; the others follow, one per line, compiler style.
    const more = rest.map(
      ({ issue, line }) => `\n${file}${line !== undefined ? `:${line}` : ''}: ${text(issue)}`,
    );
    throw new InputError(file, first.line, text(first.issue) + more.join(''));
  };

  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return fail(
      [{ path: [], detail: `must be a mapping of machine fields (${FILE_FIELDS.join(', ')})` }],
      () => lineOf([]),
    );
  }
  const parsed = machineFileSchema.safeParse(raw);
  if (!parsed.success) {
    const issues: FileIssue[] = [];
    for (const issue of parsed.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) issues.push({ path: [key], detail: unknownFieldText(key) });
        continue;
      }
      const field = issue.path[0];
      assert(typeof field === 'string' && field in FIELD_EXPECTED, () => `issue at ${issue.path}`);
      const got = (raw as Record<string, unknown>)[field];
      issues.push({
        path: issue.path,
        detail: `must be ${FIELD_EXPECTED[field as FileField]} (got ${showValue(got)})`,
      });
    }
    const isUnknownField = (i: FileIssue): boolean =>
      i.path.length === 1 && !Object.hasOwn(FIELD_EXPECTED, i.path[0] as string);
    return fail(issues, (i) =>
      isUnknownField(i) ? keyLineOf(i.path[0] as string) : lineOf(i.path),
    );
  }

  const fileFields = parsed.data;
  const base: Partial<Topology> = fileFields.preset ? getPreset(fileFields.preset) : {};
  const merged = {
    ...base,
    ...definedOnly(fileFields),
    name: fileFields.name ?? basename(file, extname(file)),
  };
  const missing = (['cpuModel', 'sockets', 'coresPerSocket', 'threadsPerCore'] as const).filter(
    (f) => merged[f] === undefined,
  );
  if (missing.length > 0) {
    return fail(
      missing.map((f) => ({
        path: [f],
        detail: `missing; give ${FIELD_EXPECTED[f]}, or a preset to start from`,
      })),
      () => undefined,
    );
  }
  const topology: Topology = {
    name: merged.name,
    cpuModel: merged.cpuModel as CpuModel,
    sockets: merged.sockets as number,
    coresPerSocket: merged.coresPerSocket as number,
    threadsPerCore: merged.threadsPerCore as number,
  };
  const problems = shapeProblems(topology);
  if (problems.length > 0) {
    // Blame the field where the file set it; when the preset set it, blame the preset line.
    return fail(
      problems.map((p) => ({ path: [p.field], detail: p.detail })),
      (i) => lineOf(i.path) ?? lineOf(['preset']),
    );
  }
  assertTopology(topology);
  return topology;
}

/** Whether `spec` names a machine file, not a preset (see `resolveMachine`). */
export function isMachineFile(spec: string): boolean {
  return !isPresetName(spec) && (spec.includes('/') || /\.(ya?ml|json)$/i.test(spec));
}

/**
 * A preset name or the path of a machine file. Paths are recognised by a `/` or a `.yaml`,
 * `.yml` or `.json` suffix, so a mistyped preset gets a preset suggestion, not ENOENT.
 */
export function resolveMachine(spec: string): Topology {
  if (isPresetName(spec)) return getPreset(spec);
  if (isMachineFile(spec)) return loadMachineFile(spec);
  throw new UsageError(
    `unknown machine "${spec}"${suggestion(spec, presetNames())}: give a preset ` +
      `(${presetNames().join(', ')}) or the path of a machine file (.yaml, .yml or .json)`,
  );
}

function unknownFieldText(key: string): string {
  if (key === 'memory') return 'the memory section is not supported by this version; remove it';
  const hint = suggestion(key, FILE_FIELDS);
  return `unknown field${hint}; valid fields are ${FILE_FIELDS.join(', ')}`;
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function showValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return String(v);
}

/** `; did you mean "x"?` when one candidate is within a small edit distance, else ''. */
function suggestion(word: string, candidates: readonly string[]): string {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  const distanceMax = Math.max(1, Math.floor(word.length / 3));
  return best !== undefined && bestDistance <= distanceMax ? ` (did you mean ${best}?)` : '';
}
