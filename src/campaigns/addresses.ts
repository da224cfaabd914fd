/** Mailbox syntax for From and Reply-To: `addr@domain` or `Display Name <addr@domain>`. */
const BARE = /^[^\s<>@",;]+@[^\s<>@",;]+\.[^\s<>@",;]+$/;
const NAMED = /^(?:"([^"\\]*)"|([^"<>]*?))\s*<([^\s<>@",;]+@[^\s<>@",;]+\.[^\s<>@",;]+)>$/;

/** Why `value` is not a usable mailbox, or undefined when it is. */
export function mailboxProblem(value: string): string | undefined {
  if (/[\r\n]/.test(value)) return 'contains a line break, which would let it inject mail headers';
  const v = value.trim();
  if (BARE.test(v)) return undefined;
  const m = NAMED.exec(v);
  if (!m) return `"${value}" is not an address like jane@example.com or "Jane from App <jane@example.com>"`;
  const name = m[1] ?? m[2] ?? '';
  if (m[2] !== undefined && /[,;:]/.test(name)) return `the display name "${name}" has a comma, semicolon or colon: put it in double quotes`;
  return undefined;
}

export function hasLineBreak(value: string): boolean {
  return /[\r\n]/.test(value);
}
