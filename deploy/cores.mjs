#!/usr/bin/env node
// Prints a compose override that gives docker-compose.yml the core services of a bigger machine:
// core-4 .. core-(N-1), made like core-0..3 (each core's first NATS node in turn). The scenario
// must run on N cores, e.g. host-ipi-2019 on the 32-core POWER9 box:
//
//   node deploy/cores.mjs 32 > deploy/docker-compose.cores.yml
//   IPISCOPE_SCENARIO=host-ipi-2019 IPISCOPE_DURATION=300s \
//     docker compose -f deploy/docker-compose.yml -f deploy/docker-compose.cores.yml up --build
const n = Number(process.argv[2]);
if (!Number.isInteger(n) || n < 5 || n > 4096) {
  process.stderr.write('usage: node deploy/cores.mjs N   (N cores in all, 5..4096; docker-compose.yml has core-0..3)\n');
  process.exit(2);
}
const nodes = ['nats://nats-1:4222', 'nats://nats-2:4222', 'nats://nats-3:4222'];
const lines = [
  `# core-4 .. core-${n - 1} for a ${n}-core machine: made by \`node deploy/cores.mjs ${n}\`; use with docker-compose.yml.`,
  'services:',
];
for (let c = 4; c < n; c++) {
  const order = [0, 1, 2].map((k) => nodes[(c + k) % 3]).join(',');
  lines.push(
    `  core-${c}:`,
    '    image: ipiscope:local',
    '    restart: "no"',
    '    entrypoint: ["node", "dist/services/core/main.js"]',
    `    command: ["--run", "\${IPISCOPE_RUN}", "--core", "${c}", "--nats", "${order}", "--seed", "\${IPISCOPE_SEED}", "--watch-stdin", "no", "--preload-tracing"]`,
    '    environment:',
    `      IPISCOPE_NATS: ${nodes.join(',')}`,
    '      IPISCOPE_OTLP_URL: http://otel-collector:4318/v1/traces',
    '      IPISCOPE_JAEGER_URL: http://localhost:16686',
    '      NODE_OPTIONS: --max-semi-space-size=2 --max-old-space-size=64',
    '    depends_on: [nats-1, nats-2, nats-3, otel-collector]',
  );
}
// The controller waits for every core (the list replaces, or merges with, docker-compose.yml's).
const all = Array.from({ length: n }, (_, c) => `core-${c}`);
lines.push('  controller:', `    depends_on: [nats-1, nats-2, nats-3, otel-collector, ${all.join(', ')}]`);
process.stdout.write(`${lines.join('\n')}\n`);
