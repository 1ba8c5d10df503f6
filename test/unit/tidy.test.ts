/**
 * Repository rules a reviewer should not have to check by hand (STYLE-rules 2, 6, 24): every
 * services folder has a public index.ts; model code takes no time or randomness from the
 * environment (the simulator must replay from its seed); no FIXME is left behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const root = process.cwd();
const services = join(root, 'services');

function files(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...files(p));
    else if (name.endsWith('.ts')) out.push(p);
  }
  return out;
}

test('every services/* folder exposes an index.ts', () => {
  const missing = readdirSync(services)
    .filter((d) => statSync(join(services, d)).isDirectory())
    .filter((d) => files(join(services, d)).length > 0 && !existsSync(join(services, d, 'index.ts')));
  assert.deepEqual(missing, [], `folders without index.ts: ${missing.join(', ')}`);
});

test('model code draws no time or randomness from the environment', () => {
  const model = ['stdx', 'machine', 'kernel', 'litmus', 'checker'].map((d) => join(services, d)).filter(existsSync);
  const banned = /\b(Date\.now|Math\.random|performance\.now|setTimeout|setImmediate|setInterval|crypto\.random\w*)\s*\(/;
  const offenders: string[] = [];
  for (const dir of model) {
    for (const f of files(dir)) {
      readFileSync(f, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (banned.test(line) && !line.trimStart().startsWith('//') && !line.trimStart().startsWith('*')) {
            offenders.push(`${f.slice(root.length + 1)}:${i + 1}: ${line.trim()}`);
          }
        });
    }
  }
  assert.deepEqual(offenders, []);
});

test('no FIXME left in services/', () => {
  const found = files(services).filter((f) => /\bFIXME\b/.test(readFileSync(f, 'utf8')));
  assert.deepEqual(found, []);
});
