/**
 * The one error type users see. Domain code throws it; only the CLI entry prints it and exits.
 * Exit codes: 1 failure, 2 bad input (usage, config, campaign, CSV).
 */
export type ExitCode = 1 | 2;

export interface MarketerErrorOptions {
  hint?: string;
  exitCode?: ExitCode;
  cause?: unknown;
  /** Extra lines (e.g. every problem found by a validation), printed after the message. */
  details?: string[];
}

export class MarketerError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  readonly exitCode: ExitCode;
  readonly details: string[];

  constructor(code: string, message: string, options: MarketerErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MarketerError';
    this.code = code;
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? 1;
    this.details = options.details ?? [];
  }
}

/** Bad input from the user: exit code 2. */
export function inputError(code: string, message: string, options: Omit<MarketerErrorOptions, 'exitCode'> = {}): MarketerError {
  return new MarketerError(code, message, { ...options, exitCode: 2 });
}

export function isMarketerError(err: unknown): err is MarketerError {
  return err instanceof MarketerError;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
