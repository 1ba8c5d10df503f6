// Runs the compiled test files of the named tiers with Node's test runner.
// Usage: node scripts/run-tests.mjs unit integration e2e
import { readdirSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const tiers = process.argv.slice(2);
const files = [];
function walk(dir) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.js')) files.push(p);
  }
}
for (const tier of tiers) {
  const dir = join('dist', 'test', tier);
  if (existsSync(dir)) walk(dir);
}
if (files.length === 0) {
  console.error(`no test files found for ${tiers.join(', ')}`);
  process.exit(1);
}
const conc = process.env.IPISCOPE_TEST_CONCURRENCY ?? '2';
const r = spawnSync(process.execPath, ['--test', `--test-concurrency=${conc}`, ...files], {
  stdio: 'inherit',
});
process.exit(r.status ?? 1);
