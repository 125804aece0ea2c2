// Errors the user can act on. Each names the file (or input) and the problem in one line;
// the entry points print `message` and exit 2 instead of a stack trace.

/** A model, data set or archive that cannot be read or trusted. */
export class InputError extends Error {
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super(`${file}: ${problem}`);
    this.name = 'InputError';
  }
}

/** A bad setting: action input, CLI flag or policy value. */
export class ConfigurationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigurationError';
  }
}

/** A one-line description of any thrown value, for logs and reports. */
export function describeError(err: unknown): string {
  if (err instanceof InputError || err instanceof ConfigurationError) return err.message;
  if (err instanceof Error) return `${err.name === 'Error' ? 'internal error' : err.name}: ${err.message.split('\n')[0]}`;
  return `internal error: ${String(err)}`;
}
