/** Ends a command with an exit code after it has printed its own report. */
export class ReportedExit extends Error {
  constructor(readonly exitCode: number) {
    super(`exit ${exitCode}`);
  }
}
