/**
 * Records that do not fit in memory.
 *
 * A long distributed run takes millions of inputs (a 32-core v5.4 run of 100,000 IPIs takes about
 * ten million), so neither a core process nor the controller may hold its inbox. Inputs go to
 * disk as the run goes, in JSON lines, each line an array of up to `INBOX_CHUNK` inbox entries, and
 * are read back one chunk at a time by replay (a core's replay needs only its own inputs, in order).
 *
 * The record file (version 2) is one header line, a `RunRecord` whose cores carry, instead of
 * their inbox, `inboxAt: [offset, bytes]`: where their section of chunk lines lies, counted from
 * the end of the header line. Sections follow in core order. Version 1 (one JSON value with every
 * inbox inline) is still read. A record is written to a temporary file and renamed into place, so
 * an interrupted write never leaves a half record under the asked name.
 */
import { closeSync, fstatSync, openSync, readSync, renameSync, writeSync, mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { InputError } from '../stdx/index.js';
import { hostIpisAreDoorbells, resolveKernel } from '../kernel/index.js';
import type { CoreMsg, Topology } from '../machine/index.js';
import type { CoreRecord, InboxEntry, RunRecord } from './replay.js';

export const RECORD_FORMAT = 'ipiscope-record';
/** Written: 2 (streamed sections). Read: 1 and 2. */
export const RECORD_VERSION = 2;
/**
 * The machine model a record was made with (`software.model`; absent: 1). Raised whenever a
 * change makes the same inputs give another run (the memory model, the kernel model, the
 * workload, how cores are built): such a record cannot be replayed bit for bit any more, and
 * replay says so instead of reporting divergences. 2: kernel core processes keep view history.
 * 3: the final states report tasks asleep until a task they woke has run, offline threads' wake-ups
 * and offline CPUs, and the verdict judges them (model 2 said ok of runs with the 2012 wake_list
 * hang or the 2015 storm in them). 4: a vCPU thread that takes an XICS interrupt in a guest and
 * exits for it returns hard-disabled (model 3 took it again at once, for ever: every KVM machine
 * whose host IPIs go over XICS hung, the fixed kernel too). Model-3 records in which no XICS IPI
 * can reach a guest replay unchanged and are still read (`replaysUnderModel`).
 */
export const MODEL_VERSION = 4;

/**
 * Whether a record made with machine model `model` replays bit for bit under this one. Model 4
 * changed only an XICS interrupt taken in a guest, so a model-3 record does when none could be:
 * a litmus test, a machine without KVM or guests, or a POWER9 whose kernel sends every IPI as a global
 * doorbell (b866cc2199d6 and 6b3edefefa67, as v5.3 and v5.4 do). Anything unreadable: no.
 */
export function replaysUnderModel(model: unknown, spec: unknown, topology: unknown): boolean {
  if (model === MODEL_VERSION) return true;
  if (model !== 3) return false;
  try {
    const sp = spec as { kind?: unknown; scenario?: { kvm?: unknown; guests?: unknown }; kernel?: string; patches?: string[]; revert?: string[] };
    if (sp.kind === 'litmus') return true;
    if (sp.kind !== 'scenario' || typeof sp.scenario !== 'object' || sp.scenario === null) return false;
    if (sp.scenario.kvm === false || (Array.isArray(sp.scenario.guests) && sp.scenario.guests.length === 0)) return true;
    const k = resolveKernel({ kernel: sp.kernel, patches: sp.patches, revert: sp.revert });
    return hostIpisAreDoorbells((topology as Topology).cpuModel, (c) => k.has(c));
  } catch {
    return false;
  }
}

/** Entries per line of an inbox stream (a line is about 50 KB: the core's write buffers stay
 * below glibc's mmap threshold, and the reader parses a line at a time). */
export const INBOX_CHUNK = 512;

/** Where a core's inputs lie on disk: chunk lines in `path`, from byte `at`, `bytes` long. */
export interface InboxFile {
  path: string;
  at: number;
  bytes: number;
}

function writeAll(fd: number, b: Buffer): number {
  let off = 0;
  while (off < b.length) off += writeSync(fd, b, off, b.length - off);
  return b.length;
}

/** A core's inbox as it grows, on disk (the core process's record). */
export class InboxWriter {
  private readonly fd: number;
  private buf: InboxEntry[] = [];
  private closed = false;
  count = 0;
  bytes = 0;

  constructor(readonly path: string) {
    mkdirSync(dirname(path), { recursive: true });
    this.fd = openSync(path, 'w');
  }

  push(e: InboxEntry): void {
    this.buf.push(e);
    this.count++;
    if (this.buf.length >= INBOX_CHUNK) this.flush();
  }

  flush(): void {
    if (this.buf.length === 0 || this.closed) return;
    this.bytes += writeAll(this.fd, Buffer.from(JSON.stringify(this.buf) + '\n'));
    this.buf = [];
  }

  /** Writes what is buffered and closes the file (idempotent). */
  close(): InboxFile {
    if (!this.closed) {
      this.flush();
      closeSync(this.fd);
      this.closed = true;
    }
    return { path: this.path, at: 0, bytes: this.bytes };
  }
}

const READ_BLOCK = 1 << 20;

/** What a core's recorded inputs must be: see `InboxChecker`. */
export interface InboxCheck {
  core: number;
  endStep: number;
  /** The count the record's header gives, when it gives one. */
  inputs?: number;
  /** The machine's core count, when known. */
  cores?: number;
}

/**
 * Checks a core's inputs as they are read, before replay takes any of them: a core takes inputs
 * between its steps, so their steps never go back and never pass its end step, and each comes
 * from another core of the machine; and there are as many as the header says. A record that
 * breaks this was damaged (or edited) after the run: an InputError naming the file, the core and
 * the entry, where the replay would have tripped an assertion or, worse, replayed.
 */
class InboxChecker {
  private stepLast = 0;
  private count = 0;

  constructor(
    private readonly c: InboxCheck,
    private readonly file: string,
  ) {}

  entries(es: readonly InboxEntry[], where: string): void {
    const { core, endStep, cores } = this.c;
    for (let i = 0; i < es.length; i++) {
      const [step, src] = es[i] as InboxEntry;
      const at = `${where}, entry ${i} (input ${this.count + i + 1} of the core)`;
      if (!Number.isInteger(step) || step < 0) throw this.error(`${at}: step ${step} is not a step number`);
      if (step < this.stepLast) throw this.error(`${at}: step ${step} comes before step ${this.stepLast} of the input before it: the inputs are out of step order`);
      if (step > endStep) throw this.error(`${at}: step ${step} is after the core's end step ${endStep}`);
      if (!Number.isInteger(src) || src < 0 || (cores !== undefined && src >= cores) || src === core) {
        throw this.error(`${at}: sent by core ${src}, which is not another core of this ${cores ?? '?'}-core machine`);
      }
      this.stepLast = step;
    }
    this.count += es.length;
  }

  end(what: string): void {
    if (this.c.inputs !== undefined && this.count !== this.c.inputs) {
      throw this.error(`${what}: ${this.count} inputs, where the header says ${this.c.inputs}`);
    }
  }

  private error(detail: string): InputError {
    return new InputError(this.file, undefined, `${detail} (a corrupt record, or one made by another version)`);
  }
}

/**
 * The chunks of an inbox stream, one at a time. `what` names the stream in errors (a record file
 * and a core): a truncated section or a line that is not a chunk of entries is an InputError that
 * says which byte and which line; with `check`, so is an input out of place (see `InboxChecker`).
 */
export function* readInboxChunks(src: InboxFile, what: string, check?: InboxCheck): Generator<InboxEntry[]> {
  const checker = check !== undefined ? new InboxChecker(check, src.path) : undefined;
  let fd: number;
  try {
    fd = openSync(src.path, 'r');
  } catch (e) {
    throw new InputError(src.path, undefined, `${what}: cannot read the inputs: ${(e as Error).message}`);
  }
  try {
    const block = Buffer.allocUnsafe(READ_BLOCK);
    const end = src.at + src.bytes;
    let pos = src.at;
    let carry: Buffer[] = [];
    let line = 0;
    while (pos < end) {
      const n = readSync(fd, block, 0, Math.min(READ_BLOCK, end - pos), pos);
      if (n === 0) throw new InputError(src.path, undefined, `${what}: the inputs end at byte ${pos}, before byte ${end}: the record is truncated`);
      pos += n;
      const got = block.subarray(0, n);
      let start = 0;
      for (let nl = got.indexOf(10); nl !== -1; nl = got.indexOf(10, start)) {
        const piece = got.subarray(start, nl);
        const text = carry.length === 0 ? piece.toString('utf8') : Buffer.concat([...carry, piece]).toString('utf8');
        carry = [];
        start = nl + 1;
        line++;
        const where = `${what}, line ${line} of its inputs`;
        const chunk = parseChunk(text, src.path, where);
        checker?.entries(chunk, where);
        yield chunk;
      }
      if (start < n) carry.push(Buffer.from(got.subarray(start)));
    }
    if (carry.length > 0) throw new InputError(src.path, undefined, `${what}: the last line of its inputs is cut off (no newline at byte ${end})`);
    checker?.end(what);
  } finally {
    closeSync(fd);
  }
}

function parseChunk(text: string, file: string, where: string): InboxEntry[] {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new InputError(file, undefined, `${where}: not JSON: ${(e as Error).message}`);
  }
  return entriesOf(v, file, where);
}

/** `v` as inbox entries, each checked for its shape. */
function entriesOf(v: unknown, file: string, where: string): InboxEntry[] {
  if (!Array.isArray(v)) throw new InputError(file, undefined, `${where}: not an array of inbox entries`);
  for (let i = 0; i < v.length; i++) {
    const e: unknown = v[i];
    if (
      !Array.isArray(e) || e.length !== 4 || typeof e[0] !== 'number' || typeof e[1] !== 'number' || typeof e[2] !== 'number' ||
      typeof e[3] !== 'object' || e[3] === null || typeof (e[3] as { t?: unknown }).t !== 'string'
    ) {
      throw new InputError(file, undefined, `${where}, entry ${i}: not [step, src, link seq, message]: ${JSON.stringify(e).slice(0, 120)}`);
    }
  }
  return v as InboxEntry[];
}

/**
 * A core record's inputs, chunk by chunk, wherever they are (inline or on disk). Read from disk,
 * they are checked as they come (`InboxChecker`; `cores`: the machine's core count, when known);
 * inline ones were checked when their file was read, or were made in this process.
 */
export function inboxChunks(cr: CoreRecord, what = `core ${cr.core}`, cores?: number): Iterable<InboxEntry[]> {
  if (cr.inbox !== undefined) return [cr.inbox];
  if (cr.inboxFile !== undefined) {
    return readInboxChunks(cr.inboxFile, what, {
      core: cr.core,
      endStep: cr.endStep,
      ...(cr.inputs !== undefined ? { inputs: cr.inputs } : {}),
      ...(cores !== undefined ? { cores } : {}),
    });
  }
  return [];
}

/** Reads inputs in order, one entry at a time, over chunks. */
export class InboxCursor {
  private readonly it: Iterator<InboxEntry[]>;
  private chunk: InboxEntry[] = [];
  private i = 0;
  /** Entries handed out so far. */
  taken = 0;

  constructor(chunks: Iterable<InboxEntry[]>) {
    this.it = chunks[Symbol.iterator]();
    this.fill();
  }

  private fill(): void {
    while (this.i >= this.chunk.length) {
      const r = this.it.next();
      if (r.done === true) {
        this.chunk = [];
        this.i = 0;
        return;
      }
      this.chunk = r.value;
      this.i = 0;
    }
  }

  /** The step of the next entry (Infinity: none left). */
  peekStep(): number {
    return this.i < this.chunk.length ? (this.chunk[this.i] as InboxEntry)[0] : Infinity;
  }

  get done(): boolean {
    return this.i >= this.chunk.length;
  }

  next(): InboxEntry {
    const e = this.chunk[this.i++] as InboxEntry;
    this.taken++;
    if (this.i >= this.chunk.length) this.fill();
    return e;
  }

  /** Entries left (reads the rest of the stream). */
  rest(): number {
    let n = this.chunk.length - this.i;
    for (let r = this.it.next(); r.done !== true; r = this.it.next()) n += r.value.length;
    this.chunk = [];
    this.i = 0;
    return n;
  }
}

/** The number of inputs a core record holds (counted from the stream if it does not say). */
export function inputsOf(cr: CoreRecord): number {
  if (cr.inbox !== undefined) return cr.inbox.length;
  if (cr.inputs !== undefined) return cr.inputs;
  let n = 0;
  for (const c of inboxChunks(cr)) n += c.length;
  return n;
}

type HeaderCore = Omit<CoreRecord, 'inbox' | 'inboxFile'> & { inboxAt: [number, number] };

/**
 * Writes a record (version 2): the header line, then each core's section of chunk lines, copied
 * from its inbox file or written from memory. Atomic: a temporary file renamed into place.
 */
export function writeRecordFile(file: string, rec: RunRecord): void {
  // The directory is not made here: it is the user's path (`run --record` checks it before the run).
  const cores = [...rec.cores].sort((a, b) => a.core - b.core);
  const inline = new Map<number, Buffer>();
  const header: HeaderCore[] = [];
  let off = 0;
  for (const cr of cores) {
    let bytes: number;
    if (cr.inbox !== undefined) {
      const lines: string[] = [];
      for (let i = 0; i < cr.inbox.length; i += INBOX_CHUNK) lines.push(JSON.stringify(cr.inbox.slice(i, i + INBOX_CHUNK)) + '\n');
      const b = Buffer.from(lines.join(''));
      inline.set(cr.core, b);
      bytes = b.length;
    } else bytes = cr.inboxFile?.bytes ?? 0;
    const { inbox: _i, inboxFile: _f, ...meta } = cr;
    header.push({ ...meta, inputs: inputsOf(cr), inboxAt: [off, bytes] });
    off += bytes;
  }
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    writeAll(fd, Buffer.from(JSON.stringify({ ...rec, version: RECORD_VERSION, cores: header }) + '\n'));
    const block = Buffer.allocUnsafe(READ_BLOCK);
    for (const cr of cores) {
      const b = inline.get(cr.core);
      if (b !== undefined) {
        writeAll(fd, b);
        continue;
      }
      const src = cr.inboxFile;
      if (src === undefined || src.bytes === 0) continue;
      const sfd = openSync(src.path, 'r');
      try {
        for (let pos = src.at, end = src.at + src.bytes; pos < end; ) {
          const n = readSync(sfd, block, 0, Math.min(READ_BLOCK, end - pos), pos);
          if (n === 0) throw new Error(`core ${cr.core}: its inbox file ${src.path} ends at byte ${pos}, before ${end}`);
          writeAll(fd, block.subarray(0, n));
          pos += n;
        }
      } finally {
        closeSync(sfd);
      }
    }
    closeSync(fd);
    renameSync(tmp, file);
  } catch (e) {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
    rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * Reads a record file (version 1 or 2). Version 2: the header only; each core's inputs stay on disk
 * (`inboxFile`) and are read as replay needs them. Errors name the file and what is wrong.
 */
export function readRecordFile(file: string): RunRecord {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    throw new InputError(file, undefined, `cannot read the record: ${(e as Error).message}`);
  }
  let headerText: string;
  let headerBytes: number;
  let size: number;
  try {
    size = fstatSync(fd).size;
    const parts: Buffer[] = [];
    const block = Buffer.allocUnsafe(READ_BLOCK);
    let pos = 0;
    let nl = -1;
    while (nl < 0) {
      const n = readSync(fd, block, 0, READ_BLOCK, pos);
      if (n === 0) break;
      const got = block.subarray(0, n);
      const i = got.indexOf(10);
      if (i >= 0) {
        parts.push(Buffer.from(got.subarray(0, i)));
        nl = pos + i;
      } else parts.push(Buffer.from(got));
      pos += n;
    }
    headerText = Buffer.concat(parts).toString('utf8');
    headerBytes = nl < 0 ? size : nl + 1;
  } finally {
    closeSync(fd);
  }
  let v: unknown;
  try {
    v = JSON.parse(headerText);
  } catch (e) {
    throw new InputError(file, 1, `cannot read the record: ${(e as Error).message}`);
  }
  const r = v as Omit<Partial<RunRecord>, 'version' | 'cores'> & { version?: unknown; cores?: Array<Partial<HeaderCore> & Partial<CoreRecord>> };
  if (typeof v !== 'object' || v === null || r.format !== RECORD_FORMAT) throw new InputError(file, 1, `not an ipiscope record (format ${String(r?.format)})`);
  if (r.version !== 1 && r.version !== 2) throw new InputError(file, 1, `record version ${String(r.version)}; this ipiscope reads versions 1 and 2`);
  const model = (r.software as { model?: unknown } | undefined)?.model ?? 1;
  if (!replaysUnderModel(model, r.spec, r.topology)) {
    throw new InputError(
      file, 1,
      `recorded with machine model ${String(model)}, and this ipiscope runs model ${MODEL_VERSION}: its memory or kernel ` +
        'model, or what its final states report, changed since, so the run cannot be replayed bit for bit; record it again with this version',
    );
  }
  if (!Array.isArray(r.cores) || r.spec === undefined || r.topology === undefined || !Array.isArray(r.finals)) {
    throw new InputError(file, 1, 'the record lacks its spec, topology, cores or final states');
  }
  const coreCount = checkHeaderCores(file, r.cores, r.topology);
  if (r.version === 1) {
    for (const c of r.cores) {
      if (!Array.isArray(c.inbox)) throw new InputError(file, 1, `core ${String(c.core)}: no inbox`);
      const where = `core ${String(c.core)}, its inbox`;
      const checker = new InboxChecker({ core: c.core as number, endStep: c.endStep as number, ...(coreCount !== undefined ? { cores: coreCount } : {}) }, file);
      checker.entries(entriesOf(c.inbox, file, where), where);
    }
    return { ...(r as unknown as RunRecord), version: RECORD_VERSION };
  }
  const cores: CoreRecord[] = r.cores.map((c) => {
    const at = c.inboxAt;
    if (typeof c.core !== 'number' || !Array.isArray(at) || typeof at[0] !== 'number' || typeof at[1] !== 'number') {
      throw new InputError(file, 1, `core ${String(c.core)}: no [offset, bytes] of its inputs`);
    }
    if (headerBytes + at[0] + at[1] > size) {
      throw new InputError(file, undefined, `core ${c.core}: its inputs end at byte ${headerBytes + at[0] + at[1]}, past the end of the file (${size} bytes): the record is truncated`);
    }
    const { inboxAt: _a, ...meta } = c as HeaderCore;
    return { ...meta, inboxFile: { path: file, at: headerBytes + at[0], bytes: at[1] } };
  });
  return { ...(r as unknown as RunRecord), version: RECORD_VERSION, cores };
}

/**
 * The header's cores, checked before anything is replayed: each a core of the machine, once, with
 * an end step, and a drain step (the step its workload stopped at) no later than it. Returns the
 * machine's core count.
 */
function checkHeaderCores(file: string, cores: ReadonlyArray<Partial<CoreRecord> & { drainStep?: unknown }>, topology: unknown): number | undefined {
  const t = topology as { sockets?: unknown; coresPerSocket?: unknown };
  const n = typeof t.sockets === 'number' && typeof t.coresPerSocket === 'number' ? t.sockets * t.coresPerSocket : undefined;
  const bad = (detail: string): InputError => new InputError(file, 1, `${detail}: the record is inconsistent (a corrupt record, or one made by another version)`);
  const seen = new Set<number>();
  for (const c of cores) {
    const id = c.core;
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || (n !== undefined && id >= n)) throw bad(`core ${String(id)} is not a core of this ${n ?? '?'}-core machine`);
    if (seen.has(id)) throw bad(`core ${id} has two sections`);
    seen.add(id);
    const end = c.endStep;
    if (typeof end !== 'number' || !Number.isInteger(end) || end < 0) throw bad(`core ${id}: end step ${String(end)} is not a step number`);
    const drain = c.drainStep;
    if (drain !== undefined && (typeof drain !== 'number' || !Number.isInteger(drain) || drain < 0)) throw bad(`core ${id}: drain step ${String(drain)} is not a step number`);
    if (typeof drain === 'number' && drain > end) throw bad(`core ${id}: drain step ${drain} after the end step ${end}`);
    if (c.inputs !== undefined && (!Number.isInteger(c.inputs) || c.inputs < 0)) throw bad(`core ${id}: ${String(c.inputs)} inputs is not a count`);
  }
  return n;
}

/** A record with every core's inputs in memory (small records: tests, tampering, litmus). */
export function loadInboxes(rec: RunRecord): RunRecord {
  return {
    ...rec,
    cores: rec.cores.map((c) => {
      const inbox: InboxEntry[] = [];
      for (const ch of inboxChunks(c)) for (const e of ch) inbox.push(e);
      const { inboxFile: _f, ...meta } = c;
      return { ...meta, inbox };
    }),
  };
}

/**
 * A 53-bit content hash of a message (replay's divergence check compares what a core sent with
 * what its peer took, a message a core built against one read back from its record): two FNV-1a
 * style passes with different offsets over the message's fields in order, as its JSON has them
 * (keys and values; an undefined field is left out, as JSON leaves it out; -0 is 0; a
 * non-finite number is null). It walks the object instead of
 * hashing `JSON.stringify(m)`, whose string cost a run's judgement about 15% of its time.
 */
export function msgHash(m: CoreMsg): number {
  ha = 0x811c9dc5;
  hb = 0x01000193 ^ 0x5bd1e995;
  hashValue(m);
  return (hb & 0x1fffff) * 4294967296 + (ha >>> 0);
}

/** msgHash's two running states (module-level: no allocation per message). */
let ha = 0;
let hb = 0;

function mix(c: number): void {
  ha = Math.imul(ha ^ c, 0x01000193);
  hb = Math.imul(hb ^ c, 0x01000193) ^ (hb >>> 15);
}

function hashString(s: string): void {
  mix(0x53);
  for (let i = 0; i < s.length; i++) mix(s.charCodeAt(i));
  mix(s.length);
}

function hashValue(v: unknown): void {
  if (typeof v === 'number') {
    // JSON writes a non-finite number as null.
    if (!Number.isFinite(v)) mix(0x6e);
    else if (Number.isSafeInteger(v)) {
      mix(0x4e);
      mix(v | 0);
      mix(Math.floor(v / 4294967296) | 0);
    } else {
      mix(0x4e);
      hashString(JSON.stringify(v));
    }
  } else if (typeof v === 'string') hashString(v);
  else if (Array.isArray(v)) {
    mix(0x5b);
    for (const x of v) hashValue(x === undefined ? null : x);
    mix(v.length);
  } else if (v === null) mix(0x6e);
  else if (typeof v === 'boolean') mix(v ? 0x74 : 0x66);
  else if (typeof v === 'object') {
    mix(0x7b);
    const o = v as Record<string, unknown>;
    for (const k in o) {
      const x = o[k];
      if (x === undefined || typeof x === 'function') continue;
      hashString(k);
      hashValue(x);
    }
    mix(0x7d);
  }
}
