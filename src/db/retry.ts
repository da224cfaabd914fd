import retry from 'async-retry';

/**
 * Errors worth another try: the server was briefly unreachable or chose a victim.
 * 40001 serialization_failure, 40P01 deadlock_detected, 57P01 admin_shutdown (a restart killed
 * the connection), 57P03 cannot_connect_now (starting up),
 * 08xxx connection exceptions, plus socket-level refusals and resets.
 */
const TRANSIENT_SQLSTATES = new Set(['40001', '40P01', '57P01', '57P03', '08000', '08001', '08003', '08004', '08006']);
const TRANSIENT_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN']);

export function isTransientDbError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (TRANSIENT_SQLSTATES.has(code) || TRANSIENT_ERRNOS.has(code))) return true;
  const message = (err as { message?: unknown }).message;
  return typeof message === 'string' && /Connection terminated unexpectedly|the database system is starting up|Client has encountered a connection error|terminating connection due to administrator command/.test(message);
}

export interface RetryOptions {
  retries?: number;
  minTimeout?: number;
  maxTimeout?: number;
  onRetry?: (err: unknown, attempt: number) => void;
}

/** Run `fn` again on transient Postgres errors (exponential backoff with jitter); others surface at once. */
export async function withDbRetry<T>(fn: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  return retry(
    async (bail) => {
      try {
        return await fn();
      } catch (err) {
        if (!isTransientDbError(err)) {
          bail(err as Error);
          return undefined as never;
        }
        throw err;
      }
    },
    {
      retries: options.retries ?? 5,
      minTimeout: options.minTimeout ?? 100,
      maxTimeout: options.maxTimeout ?? 3000,
      randomize: true,
      onRetry: (err, attempt) => options.onRetry?.(err, attempt),
    },
  );
}

/** The SQLSTATE of a Postgres error, if it has one. */
export function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}
