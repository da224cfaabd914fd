/**
 * The last line of defence behind the checks in parse-ses-event: should a value still make
 * Postgres refuse a batch, the batch is split in halves until the refused item stands alone,
 * and only that item is lost (reported), never its neighbours. A batch of 2,000 with one such
 * item costs about 22 extra transactions; a batch without one costs nothing.
 */

/**
 * Errors a value can cause, as opposed to the database being unavailable: SQLSTATE class 22
 * (data exception: bad text, a time out of range), 23 (a NOT NULL or CHECK constraint) and 54
 * (program limit exceeded: an index row too large).
 */
export function isDataError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^(22|23|54)/.test(code);
}

/** Store `items` with `store`; an item Postgres refuses goes to `onRefused`, the rest are stored. */
export async function storeIsolatingRefused<T, R>(items: T[], store: (part: T[]) => Promise<R>, onRefused: (item: T, err: unknown) => void): Promise<R[]> {
  try {
    return [await store(items)];
  } catch (err) {
    if (!isDataError(err)) throw err;
    if (items.length === 1) {
      onRefused(items[0]!, err);
      return [];
    }
    const mid = items.length >> 1;
    return [...(await storeIsolatingRefused(items.slice(0, mid), store, onRefused)), ...(await storeIsolatingRefused(items.slice(mid), store, onRefused))];
  }
}
