// Goal: a span file (one OTLP/JSON request per line) reads back exactly what was written, and a
// bad line costs only that line: it is reported as `file:line: reason` and every good line is
// kept. Method: write lines with writeSpanFileLine into a temp dir, corrupt some, read back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  encodeOtlpJson,
  readSpanFile,
  writeSpanFileLine,
} from '../../../services/analyzer/index.js';
import { InputError } from '../../../services/stdx/index.js';
import { plainSpan, richSpan } from './span-fixtures.js';

async function withTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'ipiscope-span-file-'));
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('span file lines round-trip, one request per line', async () => {
  await withTempDir(async (dir) => {
    const batches = [[richSpan()], [plainSpan(2, { parent: 1 }), plainSpan(3)], [plainSpan(1)]];
    const text = batches.map((b) => writeSpanFileLine(encodeOtlpJson(b))).join('');
    assert.equal(text.split('\n').length, batches.length + 1);
    const path = join(dir, 'trace.jsonl');
    await writeFile(path, text);
    const r = await readSpanFile(path);
    assert.deepEqual(r.errors, []);
    assert.equal(r.lineCount, 3);
    assert.equal(r.lineCountGood, 3);
    assert.deepEqual(r.spans, batches.flat());
  });
});

test('a bad line is reported with its line number and the good lines are kept', async () => {
  await withTempDir(async (dir) => {
    const good = (i: number): string => writeSpanFileLine(encodeOtlpJson([plainSpan(i)]));
    const badId = writeSpanFileLine(encodeOtlpJson([plainSpan(9)])).replace(
      /"spanId":"[0-9a-f]+"/,
      '"spanId":"xyz"',
    );
    const lines = [good(1), '{"resourceSpans": [\n', good(2), '\n', badId, good(3).trimEnd()];
    const path = join(dir, 'trace.jsonl');
    await writeFile(path, lines.join(''));
    const r = await readSpanFile(path);
    assert.deepEqual(
      r.spans.map((s) => s.name),
      ['span-1', 'span-2', 'span-3'],
    );
    assert.equal(r.lineCount, 6);
    assert.equal(r.lineCountGood, 3);
    assert.equal(r.errors.length, 2);
    const [e2, e5] = r.errors;
    assert.ok(e2 instanceof InputError && e5 instanceof InputError);
    assert.equal(e2.line, 2);
    assert.match(e2.message, new RegExp(`^${escape(path)}:2: body: invalid JSON`));
    assert.equal(e5.line, 5);
    assert.equal(
      e5.message,
      `${path}:5: resourceSpans[0].scopeSpans[0].spans[0].spanId: expected 16 hex digits, ` +
        'got 3 characters',
    );
  });
});

test('errors beyond the bound are counted, not kept', async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'bad.jsonl');
    await writeFile(path, 'x\n'.repeat(10) + writeSpanFileLine(encodeOtlpJson([plainSpan(1)])));
    const r = await readSpanFile(path, { errorsMax: 3 });
    assert.equal(r.errors.length, 3);
    assert.equal(r.errorCountDropped, 7);
    assert.equal(r.spans.length, 1);
  });
});

test('an unreadable file is one InputError naming it', async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'missing.jsonl');
    await assert.rejects(readSpanFile(path), (e: unknown) => {
      assert.ok(e instanceof InputError);
      assert.match(e.message, /missing\.jsonl: cannot read span file: ENOENT/);
      return true;
    });
  });
});

test('writeSpanFileLine turns bigints into decimal strings and stays on one line', () => {
  const line = writeSpanFileLine({ a: 1n << 63n, s: 'two\nlines' });
  assert.equal(line, '{"a":"9223372036854775808","s":"two\\nlines"}\n');
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
