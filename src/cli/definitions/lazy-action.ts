/**
 * A command's action, loaded when the command runs: the definitions (names, options, help) cost
 * next to nothing to load, so `marketer --help` and `marketer send --help` never load the AWS
 * SDK, MJML or Postgres, and each command loads only what it uses.
 */
export function lazyAction<M, A extends unknown[]>(load: () => Promise<M>, pick: (m: M) => (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    const action = pick(await load());
    // `MARKETER_DEBUG=startup` marks when a command starts its work (bench/startup.ts reads it).
    if (process.env.MARKETER_DEBUG === 'startup') process.stderr.write(`startup: ${performance.now().toFixed(1)} ms\n`);
    await action(...args);
  };
}
