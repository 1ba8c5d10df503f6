/**
 * The shape of an emulated machine. Linux logical CPU numbers are dense:
 * cpu = core * threadsPerCore + threadInCore, cores numbered socket-major.
 */
export const CPU_MODELS = ['power8', 'power9'] as const;
export type CpuModel = (typeof CPU_MODELS)[number];

export interface Topology {
  /** Preset or file name, for reports. */
  name: string;
  /** POWER8: doorbells reach only the sender's core; POWER9 (HV): msgsnd reaches any thread. */
  cpuModel: CpuModel;
  sockets: number;
  coresPerSocket: number;
  /** SMT threads per core: 1, 2, 4 or 8. */
  threadsPerCore: number;
}
