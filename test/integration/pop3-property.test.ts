// Property: no sequence of commands (valid, invalid, out of state, garbage) crashes a session or
// breaks the protocol: every answer starts with +OK/-ERR (or `+ ` for SASL), multi-line answers end
// with `.`, and the session still answers NOOP/QUIT afterwards unless it was closed on purpose.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { type Harness, startHarness } from '../helpers/pop3-doubles.js';
import { checkScript, commandArb } from '../helpers/pop3-fuzz.js';

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

test('random command sequences never break a session', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(commandArb, { maxLength: 25 }), fc.boolean(), async (cmds, logIn) => {
      await checkScript(h.port, logIn ? ['USER joe', 'PASS secret'] : [], cmds);
    }),
    { numRuns: 150 },
  );
  // Every session was logged and released: no lock left behind.
  const deadline = Date.now() + 3000;
  while (h.store.locked.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.equal(h.store.locked.size, 0);
});
