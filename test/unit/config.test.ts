// Option typing and every c11n error path, without a server.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ModuleDescriptor, OptionSchema } from '../../src/api.js';
import { parseConfig, toDatabaseConfig } from '../../src/config/c11n.js';
import { inspectorSummary } from '../../src/config/inspect.js';
import { type ConfigIssue, formatIssue, typeSection } from '../../src/config/options.js';
import { nearest, parseDuration, parseList, parseSize } from '../../src/config/values.js';
import { mergeReload } from '../../src/host/reload.js';

const SCHEMA = {
  name: { type: 'string', default: 'x', description: 'a string' },
  count: { type: 'integer', default: 5, min: 1, max: 10, description: 'an integer' },
  flag: { type: 'boolean', default: false, description: 'a boolean' },
  wait: { type: 'duration', default: 30_000, min: 1000, max: 3_600_000, description: 'a duration' },
  cap: { type: 'size', default: 1024, max: 1024 ** 3, description: 'a size' },
  dir: { type: 'path', default: 'mail', description: 'a path' },
  words: { type: 'list', default: [], description: 'a list' },
  mode: {
    type: 'enum',
    values: ['never', 'loopback', 'always'],
    default: 'loopback',
    description: 'an enum',
  },
  query: { type: 'string', required: true, description: 'required' },
  token: { type: 'string', secret: true, description: 'secret' },
  optional: { type: 'integer', description: 'no default' },
} as const satisfies OptionSchema;

function typed(raw: Record<string, unknown>): {
  o: Readonly<Record<string, unknown>>;
  issues: ConfigIssue[];
} {
  const issues: ConfigIssue[] = [];
  const o = typeSection('mod', SCHEMA, { query: 'q', ...raw }, { baseDir: '/p' }, issues);
  return { o, issues };
}

test('durations: bare seconds and units', () => {
  assert.equal(parseDuration('600'), 600_000);
  assert.equal(parseDuration('10m'), 600_000);
  assert.equal(parseDuration('30s'), 30_000);
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('1h'), 3_600_000);
  assert.equal(parseDuration('1.5s'), 1500);
  assert.equal(parseDuration('ten'), undefined);
  assert.equal(parseDuration('-1s'), undefined);
  assert.equal(parseDuration('5 weeks'), undefined);
});

test('sizes: powers of 1024', () => {
  assert.equal(parseSize('1048576'), 1048576);
  assert.equal(parseSize('512k'), 512 * 1024);
  assert.equal(parseSize('10M'), 10 * 1024 ** 2);
  assert.equal(parseSize('1G'), 1024 ** 3);
  assert.equal(parseSize('4kB'), 4096);
  assert.equal(parseSize('lots'), undefined);
});

test('lists: comma or space separated', () => {
  assert.deepEqual(parseList('a, b c,,d'), ['a', 'b', 'c', 'd']);
  assert.deepEqual(parseList('  '), []);
});

test('nearest name suggests plausible typos only', () => {
  assert.equal(nearest('greting', ['greeting', 'port']), 'greeting');
  assert.equal(nearest('zzzzzz', ['greeting', 'port']), undefined);
  assert.equal(nearest('drain', ['drain_time', 'identity']), 'drain_time');
});

test('every type converts, defaults fill in, the result is frozen', () => {
  const { o, issues } = typed({
    name: 'n',
    count: '7',
    flag: true,
    wait: '10m',
    cap: '512k',
    dir: 'data/x',
    words: '10.0.0.0/8, 127.0.0.1',
    mode: 'always',
  });
  assert.deepEqual(issues, []);
  assert.equal(o.name, 'n');
  assert.equal(o.count, 7);
  assert.equal(o.flag, true);
  assert.equal(o.wait, 600_000);
  assert.equal(o.cap, 512 * 1024);
  assert.equal(o.dir, '/p/data/x');
  assert.deepEqual(o.words, ['10.0.0.0/8', '127.0.0.1']);
  assert.equal(o.mode, 'always');
  assert.equal(o.optional, undefined);
  assert.ok(Object.isFrozen(o));
  assert.ok(Object.isFrozen(o.words));
  assert.throws(() => {
    (o as Record<string, unknown>).count = 1;
  }, TypeError);
  const d = typed({}).o;
  assert.equal(d.count, 5);
  assert.equal(d.dir, '/p/mail', 'a relative default path resolves against the personality');
  assert.equal(d.wait, 30_000);
  assert.equal(typed({ dir: '/abs' }).o.dir, '/abs');
  assert.equal(typed({ flag: 'yes' }).o.flag, true);
  assert.equal(typed({ flag: 'off' }).o.flag, false);
});

test('every malformed value is reported with section and key, all at once', () => {
  const { issues } = typed({
    count: 'seven',
    flag: 'maybe',
    wait: 'soon',
    cap: 'huge',
    mode: 'alway',
    dir: true,
    colour: 'red',
    nmae: 'x',
  });
  const text = issues.map(formatIssue);
  assert.equal(issues.length, 8, text.join('\n'));
  assert.ok(issues.every((i) => i.section === 'mod'));
  const by = (k: string) => issues.find((i) => i.key === k)?.message ?? '';
  assert.match(by('count'), /expected an integer, got "seven"/);
  assert.match(by('flag'), /expected true or false/);
  assert.match(by('wait'), /expected a duration/);
  assert.match(by('cap'), /expected a size/);
  assert.match(by('mode'), /one of never, loopback, always.*did you mean always\?/);
  assert.match(by('dir'), /expected a path/);
  assert.match(by('colour'), /^unknown option$/);
  assert.match(by('nmae'), /unknown option \(did you mean name\?\)/);
  assert.match(text.join('\n'), /\[mod\] count: expected an integer/);
});

test('bounds, in the option unit', () => {
  const { issues } = typed({ count: '11', wait: '500ms', cap: '2G' });
  const by = (k: string) => issues.find((i) => i.key === k)?.message ?? '';
  assert.match(by('count'), /at most 10, got 11/);
  assert.match(by('wait'), /at least 1s, got 500ms/);
  assert.match(by('cap'), /at most 1G, got 2G/);
  assert.match(typed({ count: '0' }).issues[0].message, /at least 1/);
});

test('a required option without a value is an error', () => {
  const issues: ConfigIssue[] = [];
  typeSection('mod', SCHEMA, {}, { baseDir: '/p' }, issues);
  assert.deepEqual(issues, [{ section: 'mod', key: 'query', message: 'is required' }]);
});

const echo: ModuleDescriptor = {
  name: 'echo',
  description: 'd',
  version: '1.2.3',
  hostApi: '1.0',
  authors: ['A <a@example.com>', 'B'],
  options: {
    port: { type: 'integer', default: 110, description: 'Port to bind to' },
    address: { type: 'string', default: '0.0.0.0', description: 'Address' },
    database: { type: 'string', description: 'Pool ID' },
    password: { type: 'string', default: 'hunter2', secret: true, description: 'A secret' },
    query: { type: 'string', default: 'SELECT 1 WHERE a = "%u"; --', description: 'SQL' },
  },
  construct: () => ({}),
};

test('c11n layout: host options, [database.ID], module sections; missing section = defaults', () => {
  const r = parseConfig(
    'identity = mx\nlog_format = json\nprocesses = 2\n[database.default]\ndriver = sqlite\npath = data/u.sqlite\n' +
      '[database.big]\ndriver = mysql\nuser = mail\ndatabase = mail\npassword = pw\ntls\n',
    '/p',
    [echo],
  );
  assert.ok(r.ok, JSON.stringify(!r.ok && r.issues));
  const c = r.config;
  assert.equal(c.host.identity, 'mx');
  assert.equal(c.host.log_format, 'json');
  assert.equal(c.host.drain_time, 10_000);
  assert.equal(c.processCount, 2);
  assert.deepEqual(toDatabaseConfig(c.databases.get('default')!), {
    driver: 'sqlite',
    path: '/p/data/u.sqlite',
  });
  const big = toDatabaseConfig(c.databases.get('big')!);
  assert.equal(big.driver, 'mysql');
  assert.ok(big.driver === 'mysql' && big.host === '127.0.0.1' && big.port === 3306 && big.maxConns === 10);
  assert.ok(big.driver === 'mysql' && big.tls?.rejectUnauthorized === true, 'a key without = is true');
  assert.equal(c.modules.get('echo')?.port, 110);
  assert.ok(Object.isFrozen(c));
});

test('c11n errors across sections are all collected', () => {
  const r = parseConfig(
    'identiy = mx\nprocesses = many\nlog_level = loud\n[database.default]\ndriver = sqlite\nhost = h\n' +
      '[database.m]\ndriver = mysql\npath = x\n[database.n]\ndriver = oracle\n[ecoh]\nport = 1\n[echo]\nport = x\n',
    '/p',
    [echo],
  );
  assert.ok(!r.ok);
  const text = r.issues.map(formatIssue);
  for (const want of [
    'identiy: unknown option (did you mean identity?)',
    'processes: expected a number from 1 to 1024 or auto, got "many"',
    'log_level: expected one of trace, debug, info, warn, error, fatal, got "loud"',
    '[database.default] path: is required with driver = sqlite',
    '[database.default] host: applies to driver = mysql only',
    '[database.m] user: is required with driver = mysql',
    '[database.m] database: is required with driver = mysql',
    '[database.m] path: applies to driver = sqlite only',
    '[database.n] driver: expected one of sqlite, mysql, got "oracle"',
    '[ecoh]: unknown section: no module of that name is loaded (did you mean [echo]?)',
    '[echo] port: expected an integer, got "x"',
  ]) {
    assert.ok(text.includes(want), `missing "${want}" in:\n${text.join('\n')}`);
  }
  assert.equal(text.length, 11, text.join('\n'));
});

test('processes = auto is one per core', () => {
  const r = parseConfig('processes = auto\n', '/p', []);
  assert.ok(r.ok && r.config.processCount >= 1);
});

test('inspector summary in ServerKit format, secrets redacted, no default commented out', () => {
  const s = inspectorSummary(echo);
  const lines = s.split('\n');
  assert.deepEqual(lines.slice(0, 8), [
    'ServerKit bundled module inspector',
    '- Summary -',
    'Name: echo',
    'Description: d',
    'Module version: 1.2.3',
    'Host API version: 1.0 (host provides 1.0)',
    'Authors: A <a@example.com>, B',
    '- Supported configuration options & defaults -',
  ]);
  assert.ok(lines.includes('port = 110'));
  assert.ok(lines.includes('address = "0.0.0.0"'));
  assert.ok(lines.includes('# database = '));
  assert.ok(lines.includes('password = "<redacted>"'));
  assert.ok(!s.includes('hunter2'));
  assert.ok(lines.includes('query = "SELECT 1 WHERE a = \\"%u\\"; --"'));
  assert.ok(lines.includes('; Port to bind to (integer)'));
});

test('reload merge: reloadable changes apply, the rest wait for a restart', () => {
  const schema: OptionSchema = {
    greeting: { type: 'string', reloadable: true, description: '' },
    port: { type: 'integer', description: '' },
    list: { type: 'list', reloadable: true, description: '' },
  };
  const m = mergeReload(
    schema,
    { greeting: 'a', port: 1, list: ['x'] },
    { greeting: 'b', port: 2, list: ['x'] },
  );
  assert.deepEqual(m.next, { greeting: 'b', port: 1, list: ['x'] });
  assert.deepEqual(m.applied, ['greeting']);
  assert.deepEqual(m.needRestart, ['port']);
  assert.ok(Object.isFrozen(m.next));
});
