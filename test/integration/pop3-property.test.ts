// Property: no sequence of commands (valid, invalid, out of state, garbage) crashes a session or
// breaks the protocol: every answer starts with +OK/-ERR (or `+ ` for SASL), multi-line answers end
// with `.`, and the session still answers NOOP/QUIT afterwards unless it was closed on purpose.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { connect } from '../helpers/pop3.js';
import { type Harness, startHarness } from '../helpers/pop3-doubles.js';

let h: Harness;
before(async () => {
  h = await startHarness({
    users: { joe: 'secret' },
    boxes: {
      joe: [Buffer.from('Subject: a\n\nbody\n.x\n'), Buffer.from('Subject: b\n\n'), Buffer.from('x')],
    },
  });
});
after(() => h.close());

const MULTI_ALWAYS = new Set(['CAPA', 'AUTH']);
const verbs = [
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
const command = fc.oneof(
  fc.tuple(fc.constantFrom(...verbs), arg, fc.boolean()).map(([v, a, lower]) => {
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
  if (MULTI_ALWAYS.has(verb)) return verb === 'CAPA' || args === '';
  if (verb === 'RETR' || verb === 'TOP') return true;
  return (verb === 'LIST' || verb === 'UIDL') && args === '';
}

test('random command sequences never break a session', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(command, { maxLength: 25 }), fc.boolean(), async (cmds, logIn) => {
      const c = await connect(h.port);
      try {
        const script = logIn ? ['USER joe', 'PASS secret', ...cmds] : cmds;
        for (const line of script) {
          if (c.isClosed) break;
          const first = await c.command(line);
          if (first === '+ ') {
            // SASL continuation: cancel.
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
    }),
    { numRuns: 150 },
  );
  // Every session was logged and released: no lock left behind.
  const deadline = Date.now() + 3000;
  while (h.store.locked.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.equal(h.store.locked.size, 0);
});
