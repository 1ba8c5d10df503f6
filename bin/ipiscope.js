#!/usr/bin/env node
// The ipiscope command. The TypeScript sources are compiled to dist/ by `npm install` (prepare).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const entry = join(root, 'dist', 'services', 'cli', 'main.js');
if (!existsSync(entry)) {
  process.stderr.write('ipiscope is not built yet: run `npm install` (or `npm run build`) in ' + root + '\n');
  process.exit(2);
}
const { main, exitQuietlyOnBrokenPipe } = await import(entry);
exitQuietlyOnBrokenPipe();
process.exitCode = await main(process.argv.slice(2));
