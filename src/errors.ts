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

/**
 * An error that escapes asynchronously (a library's stray promise) would end the process through
 * the wasm runtime's own handler: exit code 7 and a raw stack. This reports it in one line first
 * and exits with `code` (fail closed: a crash never passes the gate).
 */
export function exitOnEscapedError(report: (message: string) => void, code: number): void {
  const crash = (err: unknown) => {
    report(describeError(err));
    process.exit(code);
  };
  process.prependListener('uncaughtException', crash);
  process.prependListener('unhandledRejection', crash);
}

/**
 * Node ends a process whose event loop runs dry with exit code 0 even when the run's promise is
 * still pending (a library awaiting a handle it unref'd): for the CLI that would pass the gate.
 * Returns the function to call once the run has settled; an exit before that is reported and
 * exits with `code` (fail closed). The action needs none: its top-level await exits 13 then.
 */
export function failIfEndedEarly(report: (message: string) => void, code: number): () => void {
  let settled = false;
  process.on('exit', () => {
    if (settled) return;
    report('internal error: the run ended before it finished (nothing was left to wait for)');
    process.exitCode = code;
  });
  return () => {
    settled = true;
  };
}
