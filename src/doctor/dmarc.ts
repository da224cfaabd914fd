export interface DmarcRecord {
  policy: string | undefined;
  subdomainPolicy: string | undefined;
  /** 'r' (relaxed, the default) or 's' (strict). */
  adkim: string;
  aspf: string;
}

/** The tags of a `v=DMARC1; p=…` record that decide whether mail passes (RFC 7489 §6.3). */
export function parseDmarc(text: string): DmarcRecord {
  const tags = new Map<string, string>();
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    tags.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim().toLowerCase());
  }
  return { policy: tags.get('p') || undefined, subdomainPolicy: tags.get('sp') || undefined, adkim: tags.get('adkim') || 'r', aspf: tags.get('aspf') || 'r' };
}
