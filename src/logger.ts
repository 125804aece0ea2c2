// Code below the entry points logs through this interface, never through @actions/core directly.
export interface Logger {
  info(message: string): void;
  notice(message: string): void;
  warning(message: string): void;
  error(message: string): void;
  debug(message: string): void;
}

/** CLI logger: progress to stderr so that stdout stays machine-readable. */
export class ConsoleLogger implements Logger {
  constructor(private readonly verbose = false) {}
  info(message: string): void {
    process.stderr.write(`${message}\n`);
  }
  notice(message: string): void {
    process.stderr.write(`notice: ${message}\n`);
  }
  warning(message: string): void {
    process.stderr.write(`warning: ${message}\n`);
  }
  error(message: string): void {
    process.stderr.write(`error: ${message}\n`);
  }
  debug(message: string): void {
    if (this.verbose) process.stderr.write(`debug: ${message}\n`);
  }
}

/** Collects messages; for tests. */
export class MemoryLogger implements Logger {
  readonly lines: string[] = [];
  info(m: string): void {
    this.lines.push(`info: ${m}`);
  }
  notice(m: string): void {
    this.lines.push(`notice: ${m}`);
  }
  warning(m: string): void {
    this.lines.push(`warning: ${m}`);
  }
  error(m: string): void {
    this.lines.push(`error: ${m}`);
  }
  debug(m: string): void {
    this.lines.push(`debug: ${m}`);
  }
}
