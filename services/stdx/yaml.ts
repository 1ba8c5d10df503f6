/**
 * The `yaml` package, loaded on first use. Scenario, machine and fault-plan files are parsed by
 * the CLI and the controller; a core process gets them as JSON and never needs the parser, whose
 * loading cost every core 66 ms of CPU at start (2 s of CPU for a 32-process run on 2 CPUs).
 */
import { createRequire } from 'node:module';

type Yaml = typeof import('yaml');

let loaded: Yaml | undefined;

export function yaml(): Yaml {
  loaded ??= createRequire(import.meta.url)('yaml') as Yaml;
  return loaded;
}
