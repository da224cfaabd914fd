import { Resolver } from 'node:dns/promises';

/** found: the records; none: the name or the type does not exist; failed: no answer to trust. */
export type Lookup<T> = { kind: 'found'; values: T[] } | { kind: 'none' } | { kind: 'failed'; error: string };

export interface DnsLookup {
  /** Each TXT record with its character-strings joined, as receivers read SPF and DMARC. */
  txt(name: string): Promise<Lookup<string>>;
  cname(name: string): Promise<Lookup<string>>;
  mx(name: string): Promise<Lookup<{ priority: number; exchange: string }>>;
}

// NXDOMAIN and NODATA are answers; SERVFAIL, timeouts and refusals are not.
const ABSENT = new Set(['ENOTFOUND', 'ENODATA']);

/**
 * DNS through node:dns: the system resolver, or `servers` (`ip` or `ip:port`, `[v6]:port`) when
 * given, so an air-gapped network or a test can point it at its own server. Two tries of 3 s
 * each per question keeps a dead server from stalling doctor for minutes.
 */
export function createDnsLookup(servers: string[] | undefined): DnsLookup {
  const resolver = new Resolver({ timeout: 3_000, tries: 2 });
  if (servers && servers.length > 0) resolver.setServers(servers);
  const ask = async <T>(fn: () => Promise<T[]>): Promise<Lookup<T>> => {
    try {
      const values = await fn();
      return values.length > 0 ? { kind: 'found', values } : { kind: 'none' };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      if (ABSENT.has(code)) return { kind: 'none' };
      return { kind: 'failed', error: code || (err as Error).message };
    }
  };
  return {
    txt: (name) => ask(async () => (await resolver.resolveTxt(name)).map((chunks) => chunks.join(''))),
    cname: (name) => ask(() => resolver.resolveCname(name)),
    mx: (name) => ask(() => resolver.resolveMx(name)),
  };
}
