/** Exit codes of the CLI and the error that carries one. */

/** Exit codes: 0 done; 1 failed (Temporal unreachable, no such entry, no answer in time, ...); 2 refused. */
export const ExitCode = {
  Ok: 0,
  /** Something went wrong: Temporal unreachable, no workflow for the entry, no answer in time, bad configuration. */
  Failed: 1,
  /** The request was refused: by the workflow's validator (e.g. expedite on a live entry) or as invalid input. */
  Refused: 2,
} as const;

/** One of {@link ExitCode}'s values. */
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** An error the CLI reports as `message` on stderr (nothing else, no stack) and exits with `exitCode`. */
export class CliError extends Error {
  override readonly name = 'CliError';

  constructor(
    readonly exitCode: ExitCode,
    message: string,
  ) {
    super(message);
  }
}

/** A refusal: exit code 2 with `message`. */
export function refused(message: string): CliError {
  return new CliError(ExitCode.Refused, message);
}

/** A failure: exit code 1 with `message`. */
export function failed(message: string): CliError {
  return new CliError(ExitCode.Failed, message);
}
