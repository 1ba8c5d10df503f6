/**
 * The transport seam. A core hands every outgoing message to a `Transport` and receives
 * everything through `Core.receive`. The simulated bus (virtual time, seeded delays) and the NATS
 * transport (one process per core) are the two implementations; the machine knows neither.
 */
import type { CoreMsg } from '../machine/index.js';

export interface Transport {
  /** Queue `msg` from core `src` to core `dst` (src !== dst). Delivery order per link is FIFO. */
  send(src: number, dst: number, msg: CoreMsg): void;
}

/** The message class a fault plan matches on. */
export function messageClass(msg: CoreMsg): 'memory' | 'ipi' {
  return msg.t === 'dbell' || msg.t === 'mfrr' ? 'ipi' : 'memory';
}
