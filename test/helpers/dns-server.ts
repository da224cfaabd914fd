import dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';

/**
 * A real DNS server on 127.0.0.1 (UDP), authoritative for a fixture zone: enough of RFC 1035 for
 * the resolver in node:dns to ask it for TXT, CNAME and MX records. Names are matched
 * case-insensitively without a trailing dot. A name absent from the zone gets NXDOMAIN; a name
 * present without the asked type gets an empty answer (NODATA); a name listed in `servfail`
 * gets SERVFAIL, as a broken upstream would.
 */
export interface ZoneRecords {
  TXT?: string[];
  CNAME?: string;
  MX?: { priority: number; exchange: string }[];
}

export type Zone = Record<string, ZoneRecords>;

export interface DnsServer {
  /** `127.0.0.1:<port>`, the form `dns_servers` takes. */
  address: string;
  zone: Zone;
  servfail: Set<string>;
  /** Every question asked, as `TYPE name`. */
  queries: string[];
  stop(): Promise<void>;
}

const TYPES: Record<number, keyof ZoneRecords> = { 16: 'TXT', 5: 'CNAME', 15: 'MX' };

export async function startDnsServer(zone: Zone = {}): Promise<DnsServer> {
  const socket = dgram.createSocket('udp4');
  const server: DnsServer = { address: '', zone, servfail: new Set(), queries: [], stop: async () => undefined };
  socket.on('message', (msg, rinfo) => {
    const reply = answer(server, msg);
    if (reply) socket.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  server.address = `127.0.0.1:${(socket.address() as AddressInfo).port}`;
  server.stop = () => new Promise((resolve) => socket.close(() => resolve()));
  return server;
}

function answer(server: DnsServer, msg: Buffer): Buffer | undefined {
  if (msg.length < 12) return undefined;
  const id = msg.readUInt16BE(0);
  const flags = msg.readUInt16BE(2);
  if (msg.readUInt16BE(4) !== 1) return undefined;
  const { name, end } = readName(msg, 12);
  const qtype = msg.readUInt16BE(end);
  const question = msg.subarray(12, end + 4);
  const key = name.toLowerCase().replace(/\.$/, '');
  const type = TYPES[qtype];
  server.queries.push(`${type ?? qtype} ${key}`);
  const records = server.zone[key];
  let rcode = 0;
  const answers: Buffer[] = [];
  if (server.servfail.has(key)) rcode = 2;
  else if (!records) rcode = 3;
  else if (type === 'TXT') for (const txt of records.TXT ?? []) answers.push(rr(16, txtData(txt)));
  else if (type === 'CNAME' && records.CNAME) answers.push(rr(5, encodeName(records.CNAME)));
  else if (type === 'MX') {
    for (const mx of records.MX ?? []) {
      const pref = Buffer.alloc(2);
      pref.writeUInt16BE(mx.priority);
      answers.push(rr(15, Buffer.concat([pref, encodeName(mx.exchange)])));
    }
  }
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  // QR, the query's opcode and RD, AA, RA, and the response code.
  header.writeUInt16BE(0x8000 | (flags & 0x7900) | 0x0400 | 0x0080 | rcode, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(answers.length, 6);
  return Buffer.concat([header, question, ...answers]);
}

/** One resource record named by a pointer to the question's name (offset 12). */
function rr(type: number, data: Buffer): Buffer {
  const head = Buffer.alloc(12);
  head.writeUInt16BE(0xc00c, 0);
  head.writeUInt16BE(type, 2);
  head.writeUInt16BE(1, 4);
  head.writeUInt32BE(60, 6);
  head.writeUInt16BE(data.length, 10);
  return Buffer.concat([head, data]);
}

/** A TXT record's text as character-strings of at most 255 bytes (long DKIM keys need several). */
function txtData(text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length || i === 0; i += 255) {
    const chunk = bytes.subarray(i, i + 255);
    parts.push(Buffer.from([chunk.length]), chunk);
  }
  return Buffer.concat(parts);
}

function encodeName(name: string): Buffer {
  const parts: Buffer[] = [];
  for (const label of name.replace(/\.$/, '').split('.')) {
    const b = Buffer.from(label, 'ascii');
    parts.push(Buffer.from([b.length]), b);
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

function readName(msg: Buffer, offset: number): { name: string; end: number } {
  const labels: string[] = [];
  let i = offset;
  while (i < msg.length && msg[i]! !== 0) {
    const len = msg[i]!;
    labels.push(msg.subarray(i + 1, i + 1 + len).toString('ascii'));
    i += 1 + len;
  }
  return { name: labels.join('.'), end: i + 1 };
}
