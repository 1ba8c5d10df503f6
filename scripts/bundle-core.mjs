// Bundles the core process into one file, dist/services/core/main.bundle.js: dist/services/core/
// main.js and everything it imports, the packages too (nats, protobufjs, zod), after `tsc`.
//
// Why: `ipiscope run` starts one process per core, 32 of them at once on a 2-CPU machine, and each
// spends about 0.2 s of CPU before it registers, most of it resolving, reading and compiling some
// 70 ES modules and the packages' CommonJS files. One file cuts the 32-process start-up by about
// 0.9 s (2.8-3.4 s against 3.6-4.2 s to register, measured in alternation). Node 20 has no module
// compile cache to do it instead.
//
// The tracing modules stay outside (`../tracing/create-tracing.js` is imported at run time from
// dist/, next to its worker file): a core loads them on its first traced generation only, and the
// controller starts traced cores from main.js itself. Without the bundle, or with one older than
// main.js (`tsc` run alone), the controller starts main.js, so `tsc` alone still gives a working
// build.
import { rmSync } from 'node:fs';

const outfile = 'dist/services/core/main.bundle.js';
let build;
try {
  ({ build } = await import('esbuild'));
} catch (e) {
  // An optimisation only: without esbuild (no dev dependencies, a platform without its binary)
  // the cores start from main.js. An older bundle must not outlive the code it was made from.
  rmSync(outfile, { force: true });
  rmSync(`${outfile}.map`, { force: true });
  console.warn(`ipiscope build: no core bundle (${e.message.split('\n')[0]}); core processes start from dist/services/core/main.js`);
  process.exit(0);
}

await build({
  entryPoints: ['dist/services/core/main.js'],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['../tracing/create-tracing.js'],
  // The packages' CommonJS code calls require() for Node's modules; an ES module has none.
  banner: { js: "import { createRequire as ipiscopeCreateRequire } from 'node:module'; const require = ipiscopeCreateRequire(import.meta.url);" },
  sourcemap: 'linked',
  logLevel: 'warning',
});
