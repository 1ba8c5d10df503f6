export type { Transport } from './bus.js';
export { messageClass } from './bus.js';
export {
  NatsTransport, StartedNatsTransport, RunInvalidError, coreSubject, linkSubject, faultsSubject,
} from './nats-transport.js';
export type { DeliveryMeta, NatsTransportOptions, NatsTransportStats } from './nats-transport.js';
export {
  NatsServer, StartedNatsServer, StoppedNatsServer, NatsCluster, StartedNatsCluster, findNatsServerBinary,
} from './nats-launcher.js';
export type { NatsServerOptions, NatsServerPorts, NatsClusterOptions } from './nats-launcher.js';
export {
  BusDecodeError, MESSAGE_CLASSES, messageClassOf, protoDir, encodeCoreMsg, decodeCoreMsg, encodeEnvelope,
  decodeEnvelope, encodeControlMsg, decodeControlMsg,
} from './codec.js';
export type { MessageClass, Envelope, ControlMsg, ControlKind } from './codec.js';
export {
  faultPlanSchema, emptyFaultPlan, parseFaultPlan, parseFaultPlanValue, loadFaultPlan, FaultInjector, FAULT_KINDS,
} from './fault-plan.js';
export type { FaultPlan, FaultRule, FaultKind, FaultCount } from './fault-plan.js';
