// `node dist/bench/lmtp.js [--clients 20] [--seconds 5] [--big-mb 25]`: issue 4's figures. Starts our
// host with the lmtp module on a temporary personality (SQLite users, Maildirs under /tmp), then
//   1. deliveries per second: N clients, each looping MAIL/RCPT/DATA (pipelined) with a 4 KB message;
//   2. MB/s for one big message (DATA to the final 250).
// Every delivery is fsynced (file and new/), so the figures depend on the disk as much as on us.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect, type Socket } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    clients: { type: 'string', default: '20' },
    seconds: { type: 'string', default: '5' },
    'big-mb': { type: 'string', default: '25' },
    'max-threads': { type: 'string', default: '8' },
  },
});
const clients = Number(args.clients);
const seconds = Number(args.seconds);
const bigMb = Number(args['big-mb']);

const outDir = fileURLToPath(new URL('../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'bench-lmtp-'));
mkdirSync(join(dir, 'modules'));
symlinkSync(join(outDir, 'modules/lmtp/index.js'), join(dir, 'modules', 'lmtp.js'));
interface SqliteDb {
  exec(sql: string): void;
  close(): void;
}
const Sqlite = createRequire(import.meta.url)('better-sqlite3') as new (path: string) => SqliteDb;
const db = new Sqlite(join(dir, 'users.sqlite'));
db.exec(`CREATE TABLE mailbox (address TEXT PRIMARY KEY, maildrop TEXT NOT NULL, active INTEGER NOT NULL DEFAULT 1);
  INSERT INTO mailbox VALUES ('load@example.com', 'load', 1), ('big@example.com', 'big', 1);`);
db.close();
for (const u of ['load', 'big'])
  for (const s of ['tmp', 'new', 'cur']) mkdirSync(join(dir, 'mail', u, s), { recursive: true });
writeFileSync(
  join(dir, 'c11n'),
  `executes_as_root = true\nlog_level = info\nlog_format = json\n[database.default]\ndriver = sqlite\npath = users.sqlite\n` +
    `[lmtp]\nport = 0\nmaildir_root = mail\nmax_threads = ${args['max-threads']}\nmax_message_size = ${bigMb + 10}M\n`,
);

/** Reads whole replies (multi-line ones to their last line) off a socket. */
class Client {
  private buf = '';
  private wake: (() => void) | undefined;
  constructor(readonly s: Socket) {
    s.setEncoding('latin1');
    s.on('data', (d: string) => {
      this.buf += d;
      this.wake?.();
    });
  }
  async line(): Promise<string> {
    for (;;) {
      const m = /(^|\r\n)(\d{3}) [^\r\n]*\r\n/.exec(this.buf);
      if (m) {
        const end = m.index + m[0].length;
        const last = m[0].slice(m[1].length, -2);
        this.buf = this.buf.slice(end);
        return last;
      }
      await new Promise<void>((r) => {
        this.wake = r;
      });
    }
  }
}

async function open(port: number): Promise<Client> {
  const s = connect(port, '127.0.0.1');
  await new Promise((r) => s.once('connect', r));
  s.setNoDelay(true);
  const c = new Client(s);
  await c.line();
  s.write('LHLO bench\r\n');
  await c.line();
  return c;
}

async function send(c: Client, rcpt: string, body: string): Promise<void> {
  c.s.write(`MAIL FROM:<bench@example.org>\r\nRCPT TO:<${rcpt}>\r\nDATA\r\n`);
  for (let i = 0; i < 3; i++) await c.line();
  if (!c.s.write(body)) await new Promise((r) => c.s.once('drain', r));
  const r = await c.line();
  if (!r.startsWith('250')) throw new Error(r);
}

// BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof": flags for the host's node (not allowed in NODE_OPTIONS).
const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
const host = spawn(process.execPath, [...nodeArgs, join(outDir, 'src/cli/main.js'), 'start', dir], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
const port = await new Promise<number>((resolve, reject) => {
  let out = '';
  host.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    const m = /"listener":"lmtp".*?"port":(\d+)/.exec(out);
    if (m) {
      resolve(Number(m[1]));
      out = '';
      host.stdout.removeAllListeners('data');
      host.stdout.resume(); // per-message log lines: read and dropped
    }
  });
  host.on('exit', (code) => reject(new Error(`host exited ${code}: ${out}`)));
});

try {
  const body4k = `Subject: bench\r\n\r\n${`${'x'.repeat(78)}\r\n`.repeat(51)}.\r\n`;
  const conns = await Promise.all(Array.from({ length: clients }, () => open(port)));
  let done = 0;
  const until = Date.now() + seconds * 1000;
  const cpu0 = process.cpuUsage();
  const t0 = Date.now();
  await Promise.all(
    conns.map(async (c) => {
      while (Date.now() < until) {
        await send(c, 'load@example.com', body4k);
        done++;
      }
    }),
  );
  const ms = Date.now() - t0;
  const clientCpu = process.cpuUsage(cpu0);
  for (const c of conns) c.s.end('QUIT\r\n');
  const files = readdirSync(join(dir, 'mail', 'load', 'new')).length;
  process.stdout.write(
    `4 KB messages, ${clients} clients, ${(ms / 1000).toFixed(1)} s: ${done} delivered (${files} files), ` +
      `${Math.round((done * 1000) / ms)} deliveries/s [${cpus().length} cores; bench client cpu ${((clientCpu.user + clientCpu.system) / 1000 / ms).toFixed(2)}]\n`,
  );

  const line = `${'y'.repeat(76)}\r\n`;
  const big = `Subject: big\r\n\r\n${line.repeat(Math.ceil((bigMb * 1048576) / line.length))}.\r\n`;
  const c = await open(port);
  const t1 = Date.now();
  await send(c, 'big@example.com', big);
  const bigMs = Date.now() - t1;
  c.s.end('QUIT\r\n');
  process.stdout.write(
    `one ${(big.length / 1048576).toFixed(1)} MB message: ${bigMs} ms, ${((big.length / 1048576 / bigMs) * 1000).toFixed(1)} MB/s\n`,
  );
} finally {
  host.kill('SIGTERM');
  await new Promise((r) => host.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
}
