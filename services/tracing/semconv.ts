/**
 * Attribute and span names the tracer writes and the analyzer reads: the contract between the
 * two, so both import them from here. `emu.*` attributes are the emulator's own; `messaging.*`
 * follow the OpenTelemetry messaging semantic conventions for the NATS hop.
 *
 * Every span event that stands for a machine event carries `emu.e` (the event kind of
 * `machine/events.ts`) and the fields needed to rebuild that event exactly: the analyzer feeds
 * the rebuilt events to the same checker the sim runs online.
 */
export const ATTR = {
  /** Machine event kind of a span event (`store`, `version`, `rmw`, `tp`, ...). */
  e: 'emu.e',
  core: 'emu.core',
  cpu: 'emu.cpu',
  /** The emitting core's Lamport clock. */
  clock: 'emu.clock',
  /** The emitting core's tick (virtual time in sim; the core's step counter live). */
  tick: 'emu.tick',
  /** Location name, e.g. `ipi_message[42]` (span events carry the name only: it is the identity). */
  loc: 'emu.loc',
  /** Location id of the machine's table (on a few span attributes, for people). */
  locId: 'emu.loc_id',
  /** Write id (machine-unique). */
  wid: 'emu.wid',
  /** Coherence version (of the write ordered, or read). On a `store` span event: the version
   * the home gave that store, with the home's core, Lamport clock, tick and the merged word value
   * below (the `version` machine event, folded into its store's event). */
  version: 'emu.version',
  versionCore: 'emu.version.core',
  versionClock: 'emu.version.clock',
  versionTick: 'emu.version.tick',
  versionValue: 'emu.version.value',
  value: 'emu.value',
  lane: 'emu.lane',
  old: 'emu.old',
  oldVersion: 'emu.old_version',
  op: 'emu.op',
  own: 'emu.own',
  kind: 'emu.kind',
  phase: 'emu.phase',
  via: 'emu.via',
  target: 'emu.target',
  source: 'emu.source',
  sendId: 'emu.send_id',
  tpName: 'emu.tp.name',
  /** JSON of a tracepoint's attributes. */
  tpAttrs: 'emu.tp.attrs',
  ipiId: 'emu.ipi.id',
  ipiSender: 'emu.ipi.sender_cpu',
  ipiTarget: 'emu.ipi.target_cpu',
  ipiMsg: 'emu.ipi.msg',
  ipiMsgName: 'emu.ipi.msg_name',
  /** `pending` | `handled` | `late` | `ignored` | `dropped` (a doorbell taken as a guest wake-up). */
  ipiOutcome: 'emu.ipi.outcome',
  /** Messages a demux found (names, comma separated). */
  demuxFound: 'emu.demux.found',
  waitOutcome: 'emu.wait.outcome',
  waitPolls: 'emu.wait.polls',
  waitFor: 'emu.wait.for_cpu',
  /** Run summary (on the `ipiscope.run` span). */
  runTickEnd: 'emu.run.tick_end',
  runSettleTicks: 'emu.run.settle_ticks',
  runNsPerTick: 'emu.run.ns_per_tick',
  runMessageLocs: 'emu.run.message_locs',
  runIpisTraced: 'emu.run.ipis_traced',
  runSpansDropped: 'emu.run.spans_dropped',
  /** Live: the machine's core count (each core process writes a run span of its own). */
  runCores: 'emu.run.cores',
} as const;

export const SPAN = {
  send: 'smp_muxed_ipi_message_pass',
  store: 'store',
  publish: 'publish',
  receive: 'receive',
  irq: 'interrupt',
  /** An interrupt frame that ran the host's XICS IPI action (icp_native_ipi_action). */
  xicsAction: 'xics_ipi_action',
  /** An interrupt frame (or a replay after a guest exit) that ran doorbell_exception. */
  doorbellException: 'doorbell_exception',
  handler: 'ipi_message_handle',
  wait: 'csd_lock_wait',
  verdict: 'ipi.verdict',
  run: 'ipiscope.run',
} as const;

export const SERVICE_NAME = 'ipiscope-core';
export const SCOPE_NAME = 'ipiscope.machine';

export const IPI_OUTCOMES = ['pending', 'handled', 'late', 'ignored', 'dropped'] as const;
export type IpiOutcome = (typeof IPI_OUTCOMES)[number];

/** Message names by byte lane of ipi_message (arch/powerpc/include/asm/smp.h). */
export const MSG_NAMES = ['CALL_FUNCTION', 'RESCHEDULE', 'TICK_BROADCAST', 'NMI_IPI'] as const;

export function msgName(msg: number): string {
  return MSG_NAMES[msg] ?? `msg${msg}`;
}

/** NATS subject of the core-to-core doorbell hop (what the distributed transport publishes on). */
export function doorbellSubject(dstCore: number): string {
  return `ipiscope.core.${dstCore}.ipi`;
}
