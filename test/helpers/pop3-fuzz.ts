// Random POP3 command scripts for property tests (fast-check), and the protocol checker that runs
// one over a real socket: every first line is +OK/-ERR (or `+ ` for SASL, cancelled), multi-line
// answers end with `.`, a session closed on purpose is closed, the rest answer QUIT.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { connect } from './pop3.js';

const VERBS = [
  'USER',
  'PASS',
  'APOP',
  'AUTH',
  'STLS',
  'CAPA',
  'STAT',
  'LIST',
  'UIDL',
  'RETR',
  'TOP',
  'DELE',
  'RSET',
  'NOOP',
];

const arg = fc.oneof(
  fc.constantFrom(
    '',
    '1',
    '2',
    '3',
    '4',
    '0',
    '-1',
    'joe',
    'secret',
    'PLAIN',
    '1 0',
    '2 5',
    'abc',
    '99999999999',
  ),
  fc.string({ maxLength: 12 }).map((s) => s.replace(/[\r\n]/g, '')),
);

export const commandArb: fc.Arbitrary<string> = fc.oneof(
  fc.tuple(fc.constantFrom(...VERBS), arg, fc.boolean()).map(([v, a, lower]) => {
    const verb = lower ? v.toLowerCase() : v;
    return a === '' ? verb : `${verb} ${a}`;
  }),
  fc.string({ maxLength: 20 }).map((s) => s.replace(/[\r\n]/g, '')),
);

function expectsMulti(line: string, first: string): boolean {
  if (!first.startsWith('+OK')) return false;
  const [v, ...rest] = line.split(' ');
  const verb = v.toUpperCase();
  const args = rest.join(' ').trim();
  if (verb === 'CAPA') return true;
  if (verb === 'AUTH') return args === '';
  if (verb === 'RETR' || verb === 'TOP') return true;
  return (verb === 'LIST' || verb === 'UIDL') && args === '';
}

/** Runs `prefix` then `cmds` on a new connection and checks the protocol invariants. */
export async function checkScript(
  port: number,
  prefix: readonly string[],
  cmds: readonly string[],
): Promise<void> {
  const c = await connect(port);
  try {
    for (const line of [...prefix, ...cmds]) {
      if (c.isClosed) return;
      // STLS would need a TLS handshake the script does not model: skip it.
      if (/^stls\b/i.test(line)) continue;
      const first = await c.command(line);
      if (first === '+ ') {
        assert.match(await c.command('*'), /^-ERR/);
        continue;
      }
      assert.match(first, /^(\+OK|-ERR)/, `reply to ${JSON.stringify(line)}`);
      assert.ok(Buffer.byteLength(first) <= 510, 'first line within 512 octets');
      if (expectsMulti(line, first)) await c.readBody();
      if (/^QUIT$/i.test(line) || /closing/.test(first)) {
        await c.waitClosed();
        return;
      }
    }
    if (!c.isClosed) assert.match(await c.command('QUIT'), /^(\+OK|-ERR)/);
  } finally {
    c.close();
  }
}
