// Goal: loading a mix of good, malformed and missing paths yields one entry per file and never
// stops at a bad one. Method: build a small tree in a temporary directory and load it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError } from '../../../services/stdx/index.js';
import { loadLitmusPaths } from '../../../services/litmus/index.js';

const GOOD = 'PPC %NAME%\n{ 0:r2=x; }\n P0 ;\n li r1,1 ;\n stw r1,0(r2) ;\nexists (x=1)\n';

test('loadLitmusPaths expands and sorts directories, reports bad files, keeps going', () => {
  const root = mkdtempSync(join(tmpdir(), 'ipiscope-litmus-'));
  try {
    mkdirSync(join(root, 'suite', 'sub'), { recursive: true });
    mkdirSync(join(root, 'empty'));
    writeFileSync(join(root, 'suite', 'b.litmus'), GOOD.replace('%NAME%', 'B'));
    writeFileSync(join(root, 'suite', 'a-bad.litmus'), 'PPC A\n{\n 0:r2=x;\n');
    writeFileSync(join(root, 'suite', 'sub', 'c.litmus'), GOOD.replace('%NAME%', 'C'));
    writeFileSync(join(root, 'suite', 'notes.txt'), 'not a test');
    writeFileSync(join(root, 'single.test'), GOOD.replace('%NAME%', 'Single'));
    const missing = join(root, 'missing.litmus');

    const got = loadLitmusPaths([
      join(root, 'suite'),
      missing,
      join(root, 'single.test'),
      join(root, 'empty'),
    ]);
    assert.deepEqual(
      got.map((e) => e.file),
      [
        join(root, 'suite', 'a-bad.litmus'),
        join(root, 'suite', 'b.litmus'),
        join(root, 'suite', 'sub', 'c.litmus'),
        missing,
        join(root, 'single.test'),
        join(root, 'empty'),
      ],
    );
    assert.deepEqual(
      got.map((e) => e.test?.name ?? null),
      [null, 'B', 'C', null, 'Single', null],
    );
    for (const e of got) assert.ok((e.test === undefined) !== (e.error === undefined), e.file);

    const bad = got[0]!.error!;
    assert.ok(bad instanceof InputError);
    assert.equal(bad.file, join(root, 'suite', 'a-bad.litmus'));
    assert.equal(bad.line, 2);
    assert.match(bad.detail, /never closed; expected `}`/);

    const gone = got[3]!.error!;
    assert.ok(gone instanceof InputError);
    assert.equal(gone.file, missing);
    assert.match(gone.message, /missing\.litmus: no such file or directory; check the path\./);

    assert.match(got[5]!.error!.detail, /holds no `\*\.litmus` file/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
