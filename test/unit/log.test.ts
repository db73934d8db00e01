// The text log format: ServerKit's one line per event.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger, formatText, quote } from '../../src/log.js';

function capture(format: 'text' | 'json') {
  const lines: string[] = [];
  const log = createLogger({
    identity: 'server',
    level: 'info',
    format,
    destination: { write: (s: string) => lines.push(s) },
  });
  return { log, lines };
}

test('a session event reads like r2d2', () => {
  const { log, lines } = capture('text');
  log
    .child({ module: 'pop3' })
    .child({ session: 1 })
    .info({ sequence: 'upsUr4d4q', delays: 3 }, 'disconnected: peer quit,');
  assert.deepEqual(lines, [
    `server.pop3[${process.pid}]: [1] disconnected: peer quit, sequence="upsUr4d4q" delays="3"\n`,
  ]);
});

test('host lines, levels and errors', () => {
  const { log, lines } = capture('text');
  const host = log.child({ module: 'host' });
  host.info('started');
  host.warn({ soft_limit: 1024 }, 'low limit');
  host.debug('not shown at info');
  host.error({ err: Object.assign(new Error('boom'), { code: 'LISTEN' }) }, 'failed');
  assert.equal(lines.length, 3);
  assert.equal(lines[0], `server.host[${process.pid}]: started\n`);
  assert.equal(lines[1], `server.host[${process.pid}]: warn: low limit soft_limit="1024"\n`);
  assert.match(lines[2], /^server\.host\[\d+\]: error: failed err="Error LISTEN: boom"\n$/);
});

test('quotes, backslashes and newlines cannot break a line', () => {
  const { log, lines } = capture('text');
  log.child({ module: 'pop3' }).info({ user: 'a"b\\c\nd', obj: { k: 'v' } }, 'multi\nline');
  assert.equal(lines.length, 1);
  assert.equal(lines[0].split('\n').length, 2, 'exactly one newline, at the end');
  assert.match(lines[0], /multi\\nline user="a\\"b\\\\c\\nd" obj="\{\\"k\\":\\"v\\"\}"/);
  assert.equal(quote('x\u0001'), '"x\\x01"');
});

test('json format is plain pino', () => {
  const { log, lines } = capture('json');
  log.child({ module: 'pop3' }).child({ session: 7 }).info({ delays: 2 }, 'disconnected');
  const rec = JSON.parse(lines[0]);
  assert.equal(rec.module, 'pop3');
  assert.equal(rec.session, 7);
  assert.equal(rec.delays, 2);
  assert.equal(rec.msg, 'disconnected');
  assert.equal(rec.level, 30);
});

test('formatText works on a record without module or session', () => {
  assert.equal(formatText('mx', { level: 30, pid: 5, msg: 'hi' }), 'mx.host[5]: hi\n');
});
