/**
 * Operating errors: things a user can hit (bad file, bad flag, missing binary, untrustworthy run).
 * Their messages say what, where, and what to do. Programming errors are assertions instead.
 */
export class UserError extends Error {
  override name = 'UserError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A malformed input file: names the file, the line (1-based) when known, and what is wrong. */
export class InputError extends UserError {
  override name = 'InputError';
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    readonly detail: string,
  ) {
    super(`${file}${line !== undefined ? `:${line}` : ''}: ${detail}`);
  }
}

/** A bad command-line flag or value. */
export class UsageError extends UserError {
  override name = 'UsageError';
}
