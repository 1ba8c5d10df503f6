/** A violated invariant: a bug in ipiscope, never a user error. It stops the run loudly. */
export class AssertionError extends Error {
  override name = 'AssertionError';
}

/** Asserts an invariant. Never compiled out: a model that breaks its own contract must stop. */
export function assert(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new AssertionError(msg);
}

/** Marks the end of an exhaustive switch: the type checker proves it unreachable. */
export function assertNever(x: never, what = 'value'): never {
  throw new AssertionError(`unexpected ${what}: ${JSON.stringify(x)}`);
}
