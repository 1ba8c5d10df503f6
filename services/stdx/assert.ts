/** A violated invariant: a bug in ipiscope, never a user error. It stops the run loudly. */
export class AssertionError extends Error {
  override name = 'AssertionError';
}

/**
 * Asserts an invariant. Never compiled out: a model that breaks its own contract must stop.
 * A message that interpolates values is given as a function, so that hot paths (every step, every
 * bus message) do not build a string that is only read when the invariant breaks.
 */
export function assert(cond: unknown, msg: string | (() => string)): asserts cond {
  if (!cond) throw new AssertionError(typeof msg === 'string' ? msg : msg());
}

/** Marks the end of an exhaustive switch: the type checker proves it unreachable. */
export function assertNever(x: never, what = 'value'): never {
  throw new AssertionError(`unexpected ${what}: ${JSON.stringify(x)}`);
}
