/**
 * Everything that crosses a core boundary. The machine speaks only these messages; a transport
 * (the simulated bus, or NATS) carries them and knows nothing of their meaning.
 *
 * Prerequisites (`prereq`) are flat triples [loc, version, value, loc, version, value, ...]: writes
 * a receiver must see no later than this one, values travel with versions so that a receiver never
 * waits for another message to learn a value. The current machine sends them empty: its lwsync
 * holds later stores in the store queue until everything before is visible everywhere, which needs
 * no per-write vectors. Receivers still merge them, so a richer lwsync can come back without a
 * wire change. `entries` of a sync use the same triples.
 */
export type CoreMsg =
  | WriteReq
  | WriteProp
  | RmwReq
  | RmwResp
  | SyncReq
  | SyncAck
  | DoorbellMsg
  | MfrrMsg
  | FetchReq
  | FetchResp
  | Evict;

/** A thread's store travelling to the location's home, which orders it in coherence. */
export interface WriteReq {
  t: 'wreq';
  src: number;
  thread: number;
  /** Write id, unique per machine: (core << 32) + per-core counter, kept < 2^53. */
  wid: number;
  loc: number;
  value: number;
  /** Byte lane for a byte store (0 = most significant byte of the word), or -1 for the word. */
  lane: number;
  prereq: number[];
  /** Sender's logical (Lamport) clock. */
  clock: number;
}

/** The home's announcement of a write in coherence order, to every core. */
export interface WriteProp {
  t: 'wprop';
  home: number;
  loc: number;
  version: number;
  /** The whole word after merging. */
  value: number;
  wid: number;
  writerCore: number;
  writerThread: number;
  prereq: number[];
  clock: number;
  /**
   * The cores the home sends this location's writes to (directory locations; absent for
   * broadcast ones or when unknown). A `sync` needs to reach only these cores: any other core
   * that reads the location fetches the latest write from the home.
   */
  sharers?: number[];
}

export const RMW_OPS = ['xchg', 'cmpxchg', 'add', 'or', 'andc', 'stcx'] as const;
export type RmwOp = (typeof RMW_OPS)[number];

/**
 * An atomic read-modify-write, performed at the home (the successful lwarx/stwcx. pair).
 * `stcx` is a conditional store that succeeds only if the location's latest version is `expect`.
 */
export interface RmwReq {
  t: 'rmwreq';
  src: number;
  thread: number;
  wid: number;
  loc: number;
  op: RmwOp;
  a: number;
  b: number;
  prereq: number[];
  clock: number;
}

export interface RmwResp {
  t: 'rmwresp';
  home: number;
  thread: number;
  wid: number;
  loc: number;
  /** Value and version read (the coherence predecessor of the new write). */
  old: number;
  oldVersion: number;
  /** Prerequisites of the write that was read, which the reader must now see. */
  oldPrereq: number[];
  /** Version of the new write, or -1 when nothing was written (failed stcx / cmpxchg). */
  version: number;
  value: number;
  clock: number;
  /** The location's sharers (see WriteProp.sharers). */
  sharers?: number[];
}

/** A `sync`: the sender's cumulative view, which every core must take in before it acknowledges. */
export interface SyncReq {
  t: 'syncreq';
  src: number;
  thread: number;
  sid: number;
  entries: number[];
  clock: number;
}

export interface SyncAck {
  t: 'syncack';
  src: number;
  thread: number;
  sid: number;
  clock: number;
}

/** A hypervisor doorbell (msgsnd) to a thread of another core (POWER9 global doorbell). */
export interface DoorbellMsg {
  t: 'dbell';
  src: number;
  srcThread: number;
  /** Target Linux CPU number. */
  cpu: number;
  /** Id of the send, for tracing. */
  id: number;
  clock: number;
}

/** A store to a thread's XICS MFRR (an IPI request at a priority, 0xff = none). */
export interface MfrrMsg {
  t: 'mfrr';
  src: number;
  srcThread: number;
  cpu: number;
  priority: number;
  id: number;
  clock: number;
}

/**
 * A read miss: a core that holds no copy of a (directory-tracked) location asks its home for the
 * latest write, and becomes a sharer that is sent every later write.
 */
export interface FetchReq {
  t: 'fetch';
  src: number;
  thread: number;
  loc: number;
  clock: number;
}

export interface FetchResp {
  t: 'fetchresp';
  home: number;
  thread: number;
  loc: number;
  version: number;
  value: number;
  /** Prerequisites of the write returned, which the reader must see with it. */
  prereq: number[];
  clock: number;
  /** The location's sharers after this fetch (see WriteProp.sharers). */
  sharers?: number[];
}

/** A sharer dropped its (cold) copy of a directory-tracked location: the home stops sending it the
 * location's writes. FIFO on the link keeps it ahead of the same core's next fetch. */
export interface Evict {
  t: 'evict';
  src: number;
  loc: number;
  clock: number;
}
