/**
 * Coalesces many small writes into one statement: `add` resolves, with that item's result, once
 * the batch holding it has been flushed. Flushes when `maxItems` are waiting or `maxDelayMs`
 * after the first. A failed flush rejects every waiter of that batch.
 */
export class BatchWriter<T, R = void> {
  private items: T[] = [];
  private waiters: { resolve: (r: R) => void; reject: (e: unknown) => void }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    /** Must return one result per item, in order. */
    private readonly flushFn: (items: T[]) => Promise<R[]>,
    private readonly options: { maxItems: number; maxDelayMs: number },
  ) {}

  add(item: T): Promise<R> {
    const p = new Promise<R>((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.items.push(item);
    if (this.items.length >= this.options.maxItems) this.flushNow();
    else this.timer ??= setTimeout(() => this.flushNow(), this.options.maxDelayMs);
    return p;
  }

  private flushNow(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.items.length === 0) return;
    const items = this.items;
    const waiters = this.waiters;
    this.items = [];
    this.waiters = [];
    const run = this.flushFn(items).then(
      (results) => waiters.forEach((w, i) => w.resolve(results[i] as R)),
      (err) => waiters.forEach((w) => w.reject(err)),
    );
    this.inFlight.add(run);
    void run.finally(() => this.inFlight.delete(run));
  }

  /** Flush what is waiting and wait for every flush to finish. */
  async drain(): Promise<void> {
    this.flushNow();
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }
}
