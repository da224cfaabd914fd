import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Python 3 with its email package (`apt-get install python3`), or undefined. */
export function pythonPath(): string | undefined {
  try {
    execFileSync('python3', ['-c', 'import email.policy'], { stdio: 'ignore' });
    return 'python3';
  } catch {
    return undefined;
  }
}

export interface ParsedHeader {
  /** The decoded value, as a reader shows it. */
  value: string;
  addresses?: { display_name: string; addr_spec: string }[];
}

export interface ParsedMessage {
  path: string;
  /** Set when email.policy.strict refused the message outright. */
  error?: string;
  /** Message, part and header defects, each as Python names it. */
  defects: string[];
  /** Lower-cased header name → every occurrence. */
  headers: Record<string, ParsedHeader[]>;
  /** Octets of each line of the header block, CRLF excluded. */
  headerLines: number[];
  /** Octets of the longest line anywhere in the message. */
  longestLine: number;
  /** CR or LF not part of a CRLF pair. */
  bareLineEnds: number;
  /** The decoded text/plain part. */
  text: string | null;
}

// email.policy.strict raises on any defect the parser reports for the message and its parts;
// header defects are only recorded on the header objects, so they are collected by hand.
//
// RFC 2047 §6.2: white space between two adjacent encoded-words is not part of the text. Python
// before 3.14.5 keeps it in display names (CPython gh-128110; Debian's 3.11 has the bug), so a
// name longer than one encoded-word would read back with spaces added. Where the running Python
// shows the bug, the script applies the rule upstream's fix applies, in the same place
// (get_phrase); elsewhere the parser is used as it is.
const SCRIPT = String.raw`
import email, email.policy, json, re, sys
import email._header_value_parser as hvp

def display_name(raw):
    return email.message_from_bytes(raw, policy=email.policy.strict)['From'].addresses[0].display_name

if display_name(b'From: =?utf-8?q?a?= =?utf-8?q?b?= <x@example.com>\r\n\r\n') != 'ab':
    original_get_phrase = hvp.get_phrase
    def get_phrase(value):
        phrase, value = original_get_phrase(value)
        tokens = list(phrase)
        for a, b in zip(tokens, tokens[1:]):
            if a.token_type != 'atom' or b.token_type != 'atom' or len(a) < 2:
                continue
            if a[-1].token_type == 'cfws' and a[-2].token_type == 'encoded-word' and b[0].token_type == 'encoded-word'                     and not any(t.token_type == 'comment' for t in a[-1]):
                a[-1] = hvp.EWWhiteSpaceTerminal(str(a[-1]), 'fws')
        return phrase, value
    hvp.get_phrase = get_phrase
    assert display_name(b'From: =?utf-8?q?a?= =?utf-8?q?b?= c <x@example.com>\r\n\r\n') == 'ab c'

out = []
for path in sys.argv[1:]:
    raw = open(path, 'rb').read()
    entry = {'path': path, 'defects': [], 'headers': {}, 'text': None}
    head = raw.split(b'\r\n\r\n', 1)[0]
    entry['headerLines'] = [len(l) for l in head.split(b'\r\n')]
    entry['longestLine'] = max(len(l) for l in raw.split(b'\r\n'))
    entry['bareLineEnds'] = len(re.findall(rb'\r(?!\n)|(?<!\r)\n', raw))
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.strict)
        for part in msg.walk():
            entry['defects'] += [repr(d) for d in part.defects]
        for name in dict.fromkeys(k.lower() for k in msg.keys()):
            values = []
            for h in msg.get_all(name):
                entry['defects'] += ['%s: %r' % (name, d) for d in h.defects]
                v = {'value': str(h)}
                if hasattr(h, 'addresses'):
                    v['addresses'] = [{'display_name': a.display_name, 'addr_spec': a.addr_spec} for a in h.addresses]
                values.append(v)
            entry['headers'][name] = values
        body = msg.get_body(('plain',))
        entry['text'] = body.get_content() if body is not None else None
    except Exception as e:
        entry['error'] = '%s: %s' % (type(e).__name__, e)
    out.append(entry)
json.dump(out, sys.stdout)
`;

/** Parse .eml files with Python's email package under email.policy.strict. */
export async function parseWithPython(python: string, files: string[]): Promise<ParsedMessage[]> {
  const { stdout } = await run(python, ['-c', SCRIPT, ...files], { maxBuffer: 64 << 20 });
  return JSON.parse(stdout) as ParsedMessage[];
}
