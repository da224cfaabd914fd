/**
 * Pull from `source` ahead of its consumer, keeping up to `depth` items ready. The pull runs
 * while the consumer waits on something else (the database), so that reading and parsing the
 * next items fills time that would otherwise be idle.
 *
 * Items come out in order. An error from the source reaches the consumer after the items
 * before it. When the consumer stops early (break, throw), the source is closed.
 */
export async function* readAhead<T>(source: AsyncIterable<T>, depth: number): AsyncGenerator<T> {
  if (!(depth >= 1)) throw new RangeError(`readAhead needs a depth of at least 1, got ${depth}`);
  const it = source[Symbol.asyncIterator]();
  const ready: T[] = [];
  let failure: { err: unknown } | undefined;
  let done = false;
  let stopped = false;
  // The running pull, undefined when none is: it is cleared by the pull itself as it ends.
  let pulling: Promise<void> | undefined;
  let wake: (() => void) | undefined;

  const pull = async (): Promise<void> => {
    try {
      // startPull checked the condition, so the first pass always awaits the source before
      // this function can end: `pulling` is assigned before the finally below clears it.
      while (!stopped && !done && ready.length < depth) {
        const r = await it.next();
        if (r.done) done = true;
        else ready.push(r.value);
        wake?.();
      }
    } catch (err) {
      failure = { err };
      done = true;
      wake?.();
    } finally {
      pulling = undefined;
    }
  };
  const startPull = () => {
    if (pulling === undefined && !done && !stopped && ready.length < depth) pulling = pull();
  };

  try {
    for (;;) {
      startPull();
      if (ready.length === 0) {
        if (done) break;
        await new Promise<void>((resolve) => { wake = resolve; });
        wake = undefined;
        continue;
      }
      const next = ready.shift() as T;
      startPull();
      yield next;
    }
    if (failure) throw failure.err;
  } finally {
    stopped = true;
    await pulling;
    if (!done) await it.return?.();
  }
}
