// Span files: one OTLP/JSON ExportTraceServiceRequest per line (JSON Lines), the format
// `ipiscope sim --trace-file` writes. A bad line is reported as `file:line: reason` and skipped
// whole (the same all-or-nothing rule as a request), and every good line is kept.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { InputError } from '../stdx/index.js';
import { decodeOtlpJson, OtlpDecodeError, type SpanRecord } from './otlp-decode.js';
import type { OtlpJsonRequest } from './otlp-encode.js';

export interface ReadSpanFileOptions {
  /** Lines longer than this (UTF-16 code units) are rejected unparsed. Default 64 MiB. */
  lineCharsMax?: number;
  /** Errors kept in `errors`; the rest are only counted in `errorCountDropped`. Default 1000. */
  errorsMax?: number;
}

export interface SpanFileResult {
  spans: SpanRecord[];
  /** One per bad line, in file order: `InputError` with `file`, `line` (1-based), `detail`. */
  errors: InputError[];
  /** Bad lines beyond `errorsMax`. */
  errorCountDropped: number;
  /** Lines read, blank lines included. */
  lineCount: number;
  /** Lines that decoded (blank lines excluded). */
  lineCountGood: number;
}

/** Reads a span file; fails only when the file itself cannot be read. */
export async function readSpanFile(
  path: string,
  opts: ReadSpanFileOptions = {},
): Promise<SpanFileResult> {
  const lineCharsMax = opts.lineCharsMax ?? 64 << 20;
  const errorsMax = opts.errorsMax ?? 1000;
  const result: SpanFileResult = {
    spans: [],
    errors: [],
    errorCountDropped: 0,
    lineCount: 0,
    lineCountGood: 0,
  };
  const input = createReadStream(path, { encoding: 'utf8' });
  const lines = createInterface({ input, crlfDelay: Infinity });
  try {
    for await (const line of lines) {
      result.lineCount++;
      const reason = readLine(line, lineCharsMax, result.spans);
      if (reason === undefined) {
        if (line.trim() !== '') result.lineCountGood++;
        continue;
      }
      if (result.errors.length < errorsMax) {
        result.errors.push(new InputError(path, result.lineCount, reason));
      } else {
        result.errorCountDropped++;
      }
    }
  } catch (e) {
    // Only I/O failures (ENOENT, EISDIR, ...) are the user's; anything else is a bug.
    if (e instanceof Error && 'code' in e) {
      throw new InputError(path, undefined, `cannot read span file: ${e.message}`);
    }
    throw e;
  } finally {
    lines.close();
    input.destroy();
  }
  return result;
}

/** Decodes one line into `spans`; returns the reason when the line is bad. */
function readLine(line: string, lineCharsMax: number, spans: SpanRecord[]): string | undefined {
  if (line.trim() === '') return undefined;
  if (line.length > lineCharsMax) return `line longer than ${lineCharsMax} characters`;
  try {
    const decoded = decodeOtlpJson(line);
    for (const s of decoded) spans.push(s);
    return undefined;
  } catch (e) {
    if (e instanceof OtlpDecodeError) return e.message;
    throw e;
  }
}

/** One span-file line (with its `\n`) for an OTLP/JSON request; bigints become strings. */
export function writeSpanFileLine(req: OtlpJsonRequest | object): string {
  let text: string;
  try {
    // Fast path: encodeOtlpJson already writes 64-bit integers as strings.
    text = JSON.stringify(req);
  } catch (e) {
    if (!(e instanceof TypeError)) throw e;
    text = JSON.stringify(req, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  }
  // JSON.stringify without indentation escapes every newline, so one request is one line.
  return `${text}\n`;
}
