// The host over real sockets with the echo fixture module: loading, start-up order, signals,
// limits, and the check/inspect commands.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { helperPaths, makePersonality, startHost } from '../helpers/host.js';

const fixtures = join(dirname(helperPaths.echoModule), '..');
const ECHO = helperPaths.echoModule;
const QUIET = join(fixtures, 'quiet/index.js');
const WRONG = join(fixtures, 'wrong-api/index.js');
const BASE = 'executes_as_root = true\nlog_format = json\n';

/** A line client with bounded waits. */
class Client {
  private buf = '';
  private waiters: Array<() => void> = [];
  ended = false;
  private constructor(readonly sock: Socket) {
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => {
      this.buf += d;
      this.wake();
    });
    sock.on('close', () => {
      this.ended = true;
      this.wake();
    });
    sock.on('error', () => {});
  }
  private wake() {
    for (const w of this.waiters.splice(0)) w();
  }
  static open(port: number): Promise<Client> {
    return new Promise((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => resolve(new Client(s)));
      s.once('error', reject);
    });
  }
  async line(timeoutMs = 3000): Promise<string> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const i = this.buf.indexOf('\r\n');
      if (i >= 0) {
        const l = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 2);
        return l;
      }
      if (this.ended) throw new Error(`connection closed; left: ${JSON.stringify(this.buf)}`);
      if (Date.now() > until)
        throw new Error(`no line within ${timeoutMs} ms; have ${JSON.stringify(this.buf)}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.max(1, until - Date.now()));
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }
  async ask(text: string): Promise<string> {
    this.sock.write(`${text}\r\n`);
    return this.line();
  }
  async closed(timeoutMs = 3000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (!this.ended) {
      if (Date.now() > until) throw new Error('still open');
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  close() {
    this.sock.destroy();
  }
}

function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, args, {
    encoding: 'utf8',
    timeout: 10_000,
    env: { ...process.env, ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('modules load in name order, lifecycle runs construct, prestart, start; echo serves', async () => {
  const h = await startHost({ c11n: BASE, modules: [QUIET, ECHO] });
  try {
    const started = await h.waitForLog((r) => r.msg === 'started');
    assert.equal(started.modules, 'quiet,echo');
    const steps = h.logs.filter((r) => r.module === 'quiet').map((r) => r.msg);
    assert.deepEqual(steps, ['construct', 'prestart', 'start']);
    const listening = h.logs.findIndex((r) => r.msg === 'listening');
    assert.ok(listening >= 0 && listening < h.logs.indexOf(started));
    const c = await Client.open(h.port('echo'));
    assert.equal(await c.line(), '+echo ready');
    assert.equal(await c.ask('hello there'), 'hello there');
    assert.equal(await c.ask('QUIT'), '+bye');
    await c.closed();
  } finally {
    assert.equal(await h.stop(), 0);
  }
});

test('the reverse name order loads the other way round', async () => {
  const h = await startHost({ c11n: BASE, modules: [ECHO, QUIET] });
  try {
    assert.equal((await h.waitForLog((r) => r.msg === 'started')).modules, 'echo,quiet');
  } finally {
    await h.stop();
  }
});

test('a module built for another host API major is refused', async () => {
  await assert.rejects(startHost({ c11n: BASE, modules: [ECHO, WRONG] }), (e: Error) => {
    assert.match(e.message, /exited \(1\)/);
    assert.match(
      e.message,
      /built for host API 99\.0, this host provides 1\.0 \(same major version required\)/,
    );
    return true;
  });
});

test('two modules with one name are refused', async () => {
  await assert.rejects(startHost({ c11n: BASE, modules: [ECHO, ECHO] }), /module echo is already loaded/);
});

test('a broken c11n stops the start with every problem listed', async () => {
  await assert.rejects(
    startHost({ c11n: `${BASE}drain = 5\n[echo]\nport = x\ngreting = hi\n`, modules: [ECHO] }),
    (e: Error) => {
      assert.match(e.message, /drain: unknown option \(did you mean drain_time\?\)/);
      assert.match(e.message, /\[echo\] port: expected an integer/);
      assert.match(e.message, /\[echo\] greting: unknown option \(did you mean greeting\?\)/);
      return true;
    },
  );
});

test('as root without executes_as_root or uid, the host refuses to start', {
  skip: process.getuid?.() !== 0,
}, async () => {
  await assert.rejects(
    startHost({ c11n: 'log_format = json\n', modules: [ECHO] }),
    /refusing to run as root/,
  );
});

test('uid/gid switch happens after prestart and before start', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, async () => {
  const markers = mkdtempSync(join(tmpdir(), 'mailhost-markers-'));
  chmodSync(markers, 0o777);
  const h = await startHost({
    c11n: `${BASE}uid = nobody\ngid = nogroup\n[echo]\nmarker_dir = ${markers}\n`,
    modules: [ECHO],
  });
  try {
    const pre = statSync(join(markers, 'prestart'));
    const start = statSync(join(markers, 'start'));
    assert.equal(pre.uid, 0, 'prestart runs as root');
    assert.notEqual(start.uid, 0, 'start runs as the configured user');
    assert.equal(start.uid, 65534);
    const c = await Client.open(h.port('echo'));
    assert.equal(await c.line(), '+echo ready', 'the socket bound as root still serves');
    c.close();
  } finally {
    assert.equal(await h.stop(), 0);
    rmSync(markers, { recursive: true, force: true });
  }
});

test('SIGUSR1 writes the status report', async () => {
  const h = await startHost({ c11n: BASE, modules: [ECHO] });
  try {
    const c = await Client.open(h.port('echo'));
    await c.line();
    await c.ask('one');
    h.signal('SIGUSR1');
    const own = await h.waitForLog((r) => r.module === 'echo' && r.msg === 'report');
    assert.equal(own.served, 1);
    assert.equal(own.lines, 1);
    const sessions = h.logs.find((r) => r.module === 'echo' && r.msg === 'report: sessions');
    assert.ok(sessions, 'sessions line');
    assert.equal(sessions.active, 1);
    assert.equal(sessions.max, 100);
    const workers = h.logs.find((r) => r.msg === 'report: workers');
    assert.ok(workers && typeof workers.max === 'number' && typeof workers.queued === 'number');
    c.close();
  } finally {
    await h.stop();
  }
});

test('SIGHUP applies a new greeting and limit without dropping a session; a broken file is refused', async () => {
  const h = await startHost({ c11n: `${BASE}[echo]\ngreeting = one\nport = 0\n`, modules: [ECHO] });
  try {
    const port = h.port('echo');
    const c = await Client.open(port);
    assert.equal(await c.line(), '+one');

    writeFileSync(join(h.dir, 'c11n'), `${BASE}[echo]\ngreeting = two\nmax_sessions = 1\nbacklog = 64\n`);
    h.signal('SIGHUP');
    await h.waitForLog((r) => r.msg === 'reload done');
    const restart = h.logs.find((r) => String(r.msg).startsWith('changed options need a restart'));
    assert.match(String(restart?.options), /\[echo\] backlog/);
    assert.equal(await c.ask('GREETING'), '+two', 'the open session sees the new greeting');
    const busy = await Client.open(port);
    assert.equal(await busy.line(), '-ERR busy', 'the new limit applies');
    await busy.closed();

    writeFileSync(join(h.dir, 'c11n'), `${BASE}[echo]\ngreeting = three\nport = many\n`);
    h.signal('SIGHUP');
    const refused = await h.waitForLog((r) => r.msg === 'reload refused: c11n error');
    assert.match(String(refused.problem), /\[echo\] port: expected an integer/);
    await h.waitForLog((r) => r.msg === 'reload refused: keeping the running configuration');
    assert.equal(await c.ask('GREETING'), '+two', 'the old configuration stays');
    assert.equal(await c.ask('still here'), 'still here');
  } finally {
    await h.stop();
  }
});

test('SIGTERM lets an open session finish, then exits 0', async () => {
  const h = await startHost({ c11n: `${BASE}drain_time = 5s\n`, modules: [ECHO] });
  const c = await Client.open(h.port('echo'));
  await c.line();
  h.signal('SIGTERM');
  await h.waitForLog((r) => r.msg === 'stopping');
  assert.equal(await c.ask('during drain'), 'during drain');
  assert.equal(await c.ask('QUIT'), '+bye');
  const code = await Promise.race([h.exited, new Promise((r) => setTimeout(() => r('hung'), 4000))]);
  assert.equal(code, 0);
  assert.ok(h.logs.some((r) => r.msg === 'stopped'));
  await h.stop();
});

test('SIGTERM closes a session still open at the drain deadline with the shutdown reply', async () => {
  const h = await startHost({ c11n: `${BASE}drain_time = 300ms\n`, modules: [ECHO] });
  const c = await Client.open(h.port('echo'));
  await c.line();
  const t0 = Date.now();
  h.signal('SIGTERM');
  assert.equal(await c.line(), '-ERR shutting down');
  await c.closed();
  assert.equal(await h.exited, 0);
  assert.ok(Date.now() - t0 < 3000);
  await h.stop();
});

test('max_sessions = 2: the third connection gets the busy reply', async () => {
  const h = await startHost({ c11n: `${BASE}[echo]\nmax_sessions = 2\n`, modules: [ECHO] });
  try {
    const port = h.port('echo');
    const a = await Client.open(port);
    const b = await Client.open(port);
    assert.equal(await a.line(), '+echo ready');
    assert.equal(await b.line(), '+echo ready');
    const c = await Client.open(port);
    assert.equal(await c.line(), '-ERR busy');
    await c.closed();
    a.close();
    await h.waitForLog((r) => r.module === 'echo' && r.msg === 'disconnected');
    const d = await Client.open(port);
    assert.equal(await d.line(), '+echo ready', 'a freed slot is reused');
    b.close();
    d.close();
  } finally {
    await h.stop();
  }
});

test('a line over max_line is refused and the session goes on', async () => {
  const h = await startHost({ c11n: `${BASE}[echo]\nmax_line = 16\n`, modules: [ECHO] });
  try {
    const c = await Client.open(h.port('echo'));
    await c.line();
    assert.equal(await c.ask('x'.repeat(16)), 'x'.repeat(16));
    assert.equal(await c.ask('y'.repeat(5000)), '-ERR line too long');
    assert.equal(await c.ask('short'), 'short');
    c.close();
  } finally {
    await h.stop();
  }
});

test('host check: effective configuration with defaults and redacted secrets; errors exit 1', () => {
  const dir = makePersonality({
    c11n: 'identity = mx\n[echo]\ngreeting = "hello ; world"\nsecret_token = s3cr3t\n',
    modules: [ECHO],
  });
  try {
    const ok = run([helperPaths.mainJs, 'check', dir]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^identity = "mx"$/m);
    assert.match(ok.stdout, /^drain_time = 10s$/m);
    assert.match(ok.stdout, /^\[echo\]$/m);
    assert.match(ok.stdout, /^greeting = "hello ; world"$/m);
    assert.match(ok.stdout, /^max_sessions = 100$/m);
    assert.match(ok.stdout, /^secret_token = "<redacted>"$/m);
    assert.match(ok.stdout, /^# marker_dir = $/m);
    assert.ok(!ok.stdout.includes('s3cr3t'));

    writeFileSync(join(dir, 'c11n'), 'log_level = chatty\n[echo]\nmax_line = 1Q\nport = -1\n[pop]\n');
    const bad = run([helperPaths.mainJs, 'check', dir]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /4 problem\(s\)/);
    assert.match(bad.stderr, /log_level: expected one of/);
    assert.match(bad.stderr, /\[echo\] port: must be at least 0, got -1/);
    assert.match(bad.stderr, /\[echo\] max_line: expected a size/);
    assert.match(bad.stderr, /\[pop\]: unknown section/);

    assert.equal(run([helperPaths.mainJs, 'check']).code, 64);

    writeFileSync(
      join(dir, 'c11n'),
      '[database.default]\ndriver = sqlite\npath = u.sqlite\ninit = missing.sql\n',
    );
    const noInit = run([helperPaths.mainJs, 'check', dir]);
    assert.equal(noInit.code, 1);
    assert.match(noInit.stderr, /\[database\.default\] init: .*missing\.sql does not exist/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('host inspect and node <module file> print the same inspector summary', () => {
  const dir = makePersonality({ c11n: '', modules: [ECHO] });
  try {
    const direct = run([ECHO]);
    assert.equal(direct.code, 0, direct.stderr);
    assert.match(direct.stdout, /^ServerKit bundled module inspector\n- Summary -\nName: echo\n/);
    assert.match(direct.stdout, /^greeting = "echo ready"$/m);
    assert.match(direct.stdout, /^# secret_token = $/m);
    const byName = run([helperPaths.mainJs, 'inspect', 'echo', dir]);
    assert.equal(byName.code, 0, byName.stderr);
    assert.equal(byName.stdout, direct.stdout);
    const byEnv = run([helperPaths.mainJs, 'inspect', 'echo'], { SERVER_PERSONALITY_PATH: dir });
    assert.equal(byEnv.stdout, direct.stdout);
    const byPath = run([helperPaths.mainJs, 'inspect', ECHO]);
    assert.equal(byPath.stdout, direct.stdout);
    const symlinked = run([
      readFileSync(join(dir, 'modules', '00-index.js')) && join(dir, 'modules', '00-index.js'),
    ]);
    assert.equal(symlinked.stdout, direct.stdout, 'through the personality symlink too');
    assert.equal(run([helperPaths.mainJs, 'inspect', 'nosuch', dir]).code, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an unknown command prints usage and exits 64', () => {
  const r = run([helperPaths.mainJs, 'frobnicate']);
  assert.equal(r.code, 64);
  assert.match(r.stderr, /unknown command "frobnicate"/);
  assert.match(r.stderr, /usage: host/);
});

test('processes = 2: two copies share the socket; a dead copy is restarted; SIGTERM stops all', async () => {
  const h = await startHost({ c11n: `${BASE}processes = 2\n`, modules: [ECHO] });
  try {
    const startedBy = async (n: number) => {
      const until = Date.now() + 8000;
      for (;;) {
        const pids = h.logs.filter((r) => r.msg === 'started').map((r) => r.pid);
        if (pids.length >= n) return pids as number[];
        if (Date.now() > until) throw new Error(`only ${pids.length} started:\n${h.output()}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    const [first, second] = await startedBy(2);
    assert.notEqual(first, second);
    const ports = new Set(h.logs.filter((r) => r.msg === 'listening').map((r) => r.port));
    assert.equal(ports.size, 1, 'one shared port');
    const c = await Client.open(h.port('echo'));
    assert.equal(await c.line(), '+echo ready');
    c.close();
    // The copies accept by themselves: a stopped primary is not in the path of a connection.
    const primary = h.proc.pid!;
    process.kill(primary, 'SIGSTOP');
    try {
      const d = await Client.open(h.port('echo'));
      assert.equal(await d.line(), '+echo ready');
      d.close();
    } finally {
      process.kill(primary, 'SIGCONT');
    }

    process.kill(first, 'SIGKILL');
    await h.waitForLog((r) => r.msg === 'process died; restarting' && r.worker_pid === first, 4000);
    const third = (await startedBy(3))[2];
    assert.ok(third !== first && third !== second);
  } finally {
    assert.equal(await h.stop(), 0);
    assert.ok(h.logs.some((r) => r.msg === 'all processes stopped'));
  }
});

test('a descriptor limit below max_sessions is warned about', async () => {
  const h = await startHost({ c11n: `${BASE}[echo]\nmax_sessions = 100000000\n`, modules: [ECHO] });
  try {
    const w = await h.waitForLog((r) => String(r.msg).startsWith('the descriptor limit'));
    assert.ok(typeof w.soft_limit === 'number' && (w.needed as number) > 100_000_000);
  } finally {
    await h.stop();
  }
});

test('the sample personality c11n validates against the compiled pop3 and lmtp modules', () => {
  let root = dirname(helperPaths.mainJs);
  while (!existsSync(join(root, 'personality/c11n')) && dirname(root) !== root) root = dirname(root);
  const c11n = readFileSync(join(root, 'personality/c11n'), 'utf8');
  const schema = readFileSync(join(root, 'personality/schema.sql'));
  const dir = makePersonality({
    c11n,
    modules: [helperPaths.pop3Module, helperPaths.lmtpModule],
    files: { 'schema.sql': schema },
  });
  try {
    const r = run([helperPaths.mainJs, 'check', dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^\[pop3\]$/m);
    assert.match(r.stdout, /^port = 1110$/m);
    assert.match(r.stdout, new RegExp(`^maildir_root = "${dir}/mail"$`, 'm'));
    assert.match(r.stdout, /^\[database\.default\]$/m);
    assert.match(r.stdout, /^\[lmtp\]$/m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('host reference prints Markdown tables generated from the schemas', () => {
  const dir = makePersonality({ c11n: '', modules: [ECHO] });
  try {
    const r = run([helperPaths.mainJs, 'reference', dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^### Host options/m);
    assert.match(r.stdout, /^\| `drain_time` \| duration \(0\.\.\) \| `10s` \|/m);
    assert.match(r.stdout, /^### `\[echo\]` — Echoes lines back/m);
    assert.match(r.stdout, /^\| `greeting` \| string \| `"echo ready"` \| yes \|/m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
