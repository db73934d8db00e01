// Test doubles of the POP3 seams and of the host's Connection, so the protocol engine can be driven
// over a real TCP socket without the host, the Maildir store or a database. The final end-to-end
// tests use the real host (test/helpers/host.ts); these pin the protocol engine alone.

import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { CapaCache } from '../../modules/pop3/capa.js';
import { optionSchema, type Pop3Options } from '../../modules/pop3/options.js';
import { FailurePolicy } from '../../modules/pop3/policy.js';
import type {
  Authenticator,
  AuthResult,
  Credentials,
  Maildrop,
  MaildropStore,
  MessageInfo,
  OpenResult,
  UpdateResult,
} from '../../modules/pop3/seams.js';
import { Session, type SessionDeps } from '../../modules/pop3/session.js';
import { Pop3Stats } from '../../modules/pop3/stats.js';
import type {
  Connection,
  DelayCounter,
  LineHandlers,
  Logger,
  TaskRef,
  TlsFiles,
  WorkerPool,
} from '../../src/api.js';
import { LiveSessions } from '../../src/api.js';

/** Schema defaults plus overrides, as the host would build them. */
export function testOptions(over: Partial<Record<keyof Pop3Options, unknown>> = {}): Pop3Options {
  const o: Record<string, unknown> = {};
  for (const [k, spec] of Object.entries(optionSchema)) if ('default' in spec) o[k] = spec.default;
  o.maildir_root = '/tmp';
  o.auth_failure_delay = 0;
  return Object.freeze({ ...o, ...over }) as unknown as Pop3Options;
}

export type LogRecord = Record<string, unknown>;

export function memoryLogger(): { log: Logger; records: LogRecord[] } {
  const records: LogRecord[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line) records.push(JSON.parse(line));
      cb();
    },
  });
  return { log: pino({ level: 'debug' }, stream), records };
}

/** Wire form of a message as the real store makes it: CRLF, final CRLF, dot-stuffed. */
export function wireForm(raw: Buffer | string): { size: number; stuffed: Buffer; lines: string[] } {
  let s = Buffer.isBuffer(raw) ? raw.toString('latin1') : raw;
  s = s.replace(/\r?\n/g, '\r\n');
  if (s.length > 0 && !s.endsWith('\r\n')) s += '\r\n';
  const lines = s === '' ? [] : s.slice(0, -2).split('\r\n');
  const stuffed = lines.map((l) => (l.startsWith('.') ? `.${l}\r\n` : `${l}\r\n`)).join('');
  return { size: Buffer.byteLength(s, 'latin1'), stuffed: Buffer.from(stuffed, 'latin1'), lines };
}

export class FakeMaildrop implements Maildrop {
  readonly messages: MessageInfo[];
  readonly totalSize: number;
  released = 0;
  updates: number[][] = [];
  /** Indexes whose removal fails in update(). */
  failing = new Set<number>();

  constructor(
    private readonly store: FakeStore,
    private readonly path: string,
    private readonly raw: Buffer[],
    private readonly chunk: number,
  ) {
    this.messages = raw.map((r, i) => ({ uid: `uid-${i + 1}`, size: wireForm(r).size }));
    this.totalSize = this.messages.reduce((a, m) => a + m.size, 0);
  }

  async *read(index: number, lines: number | null): AsyncIterable<Buffer> {
    const w = wireForm(this.raw[index]);
    let out = w.stuffed;
    if (lines !== null) {
      const text = w.lines;
      const blank = text.indexOf('');
      const headerEnd = blank < 0 ? text.length : blank;
      const keep = text.slice(0, Math.min(text.length, headerEnd + 1 + lines));
      out = Buffer.from(keep.map((l) => (l.startsWith('.') ? `.${l}\r\n` : `${l}\r\n`)).join(''), 'latin1');
    }
    const failAfter = this.store.readFailures.get(index);
    for (let i = 0, n = 0; i < out.length; i += this.chunk, n++) {
      await new Promise((r) => setImmediate(r));
      if (n === failAfter) throw new Error(`test: message ${index + 1} vanished`);
      yield out.subarray(i, i + this.chunk);
    }
  }

  async update(deleted: ReadonlySet<number>): Promise<UpdateResult> {
    this.updates.push([...deleted].sort((a, b) => a - b));
    let failed = 0;
    let deletedBytes = 0;
    let n = 0;
    for (const i of deleted) {
      if (this.failing.has(i)) failed++;
      else {
        n++;
        deletedBytes += this.messages[i].size;
      }
    }
    this.store.locked.delete(this.path);
    return {
      deleted: n,
      deletedBytes,
      failed,
      left: this.messages.length - n,
      leftBytes: this.totalSize - deletedBytes,
    };
  }

  async release(): Promise<void> {
    this.released++;
    this.store.locked.delete(this.path);
  }
}

export class FakeStore implements MaildropStore {
  readonly locked = new Set<string>();
  readonly opened: FakeMaildrop[] = [];
  folders: (string | undefined)[] = [];
  failOpen = false;
  /** Message index → chunks a read gives before it throws (a file removed half-way). */
  readFailures = new Map<number, number>();

  constructor(
    public boxes: Record<string, Buffer[]>,
    public chunk = 1 << 16,
  ) {}

  async open(path: string, options: { folder?: string }): Promise<OpenResult> {
    this.folders.push(options.folder);
    if (this.failOpen) return { ok: false, reason: 'temporary', detail: 'test' };
    if (this.locked.has(path)) return { ok: false, reason: 'in-use' };
    this.locked.add(path);
    const md = new FakeMaildrop(this, path, this.boxes[basename(path)] ?? [], this.chunk);
    this.opened.push(md);
    return { ok: true, maildrop: md };
  }
}

export class FakeAuth implements Authenticator {
  readonly apopCapable = true;
  down = false;
  seen: Credentials[] = [];
  /** Maildrops are `root/<user>` (real directories, so LOGIN-DELAY stamps work). */
  constructor(
    public users: Record<string, string>,
    private readonly root: string,
  ) {}

  async login(c: Credentials): Promise<AuthResult> {
    this.seen.push(c);
    if (this.down) return { ok: false, reason: 'temporary', detail: 'database down' };
    const pw = this.users[c.user];
    if (pw === undefined) return { ok: false, reason: 'invalid' };
    const good =
      c.kind === 'plain'
        ? c.password === pw
        : createHash('md5')
            .update(c.banner + pw)
            .digest('hex') === c.digest;
    return good
      ? { ok: true, user: c.user, maildrop: join(this.root, c.user) }
      : { ok: false, reason: 'invalid' };
  }
}

/** A Connection over a plain socket, with the host's semantics as far as the engine relies on them. */
class TestConnection implements Connection {
  delays = 0;
  readonly id: number;
  readonly remote;
  readonly local;
  readonly proxied = false;
  secure = false;
  readonly closed: Promise<void>;
  private handlers: LineHandlers | undefined;
  private buf: Buffer = Buffer.alloc(0);
  private busy = false;
  private discarding = false;

  constructor(
    public socket: Socket,
    readonly log: Logger,
    id: number,
    readonly loopback: boolean,
  ) {
    this.id = id;
    this.remote = { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
    this.local = { address: socket.localAddress ?? '', port: socket.localPort ?? 0 };
    socket.setNoDelay(true);
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => {});
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      void this.pump();
    });
  }

  readLines(h: LineHandlers): void {
    this.handlers = h;
    void this.pump();
  }

  private async pump(): Promise<void> {
    const h = this.handlers;
    if (!h || this.busy) return;
    this.busy = true;
    try {
      for (;;) {
        if (this.socket.destroyed) return;
        const i = this.buf.indexOf(0x0a);
        if (this.discarding) {
          if (i < 0) {
            this.buf = Buffer.alloc(0);
            return;
          }
          this.buf = this.buf.subarray(i + 1);
          this.discarding = false;
          continue;
        }
        if (i < 0) {
          if (this.buf.length > h.maxLine + 1) {
            this.buf = Buffer.alloc(0);
            this.discarding = true;
            await h.onOverflow();
          }
          return;
        }
        let line = this.buf.subarray(0, i);
        this.buf = this.buf.subarray(i + 1);
        if (line.length > 0 && line[line.length - 1] === 0x0d) line = line.subarray(0, -1);
        if (line.length > h.maxLine) await h.onOverflow();
        else await h.onLine(line);
      }
    } finally {
      this.busy = false;
    }
  }

  write(data: string | Buffer): boolean {
    if (this.socket.destroyed) return false;
    return this.socket.write(data);
  }
  drained(): Promise<void> {
    return new Promise((r) => this.socket.once('drain', () => r()));
  }
  async startTls(_tls: TlsFiles): Promise<void> {
    throw new Error('no TLS in the test double');
  }
  setIdleTimeout(ms: number, onTimeout: () => void): void {
    // As the host's: socket inactivity (either direction) fires it.
    this.socket.removeAllListeners('timeout');
    this.socket.setTimeout(ms);
    if (ms > 0) this.socket.on('timeout', onTimeout);
  }
  end(data?: string | Buffer): void {
    if (data === undefined) this.socket.end();
    else this.socket.end(data);
  }
  destroy(): void {
    this.socket.destroy();
  }
}

/** A WorkerPool that runs tasks inline (same semantics, no threads): counts delays like the host's. */
export function inlineWorkers(): WorkerPool {
  let completed = 0;
  const run = async <I, O>(ref: TaskRef, input: I): Promise<O> => {
    const mod = (await import(ref.file)) as Record<string, (i: I) => O>;
    completed++;
    return mod[ref.name](input);
  };
  return {
    run,
    offload<I, O>(session: DelayCounter, ref: TaskRef, input: I): Promise<O> {
      session.delays++;
      return run<I, O>(ref, input);
    },
    stats: () => ({
      min: 0,
      max: 0,
      threads: 0,
      busy: 0,
      queued: 0,
      completed,
      runTimeMeanMs: 0,
      waitTimeMeanMs: 0,
    }),
  };
}

export interface Harness {
  port: number;
  deps: SessionDeps;
  store: FakeStore;
  auth: FakeAuth;
  records: LogRecord[];
  sessions: LiveSessions<Session>;
  setOptions(o: Pop3Options): void;
  close(): Promise<void>;
}

export async function startHarness(opts: {
  users?: Record<string, string>;
  boxes?: Record<string, Buffer[]>;
  options?: Pop3Options;
  loopback?: boolean;
  chunk?: number;
}): Promise<Harness> {
  const { log, records } = memoryLogger();
  let options = opts.options ?? testOptions();
  const store = new FakeStore(opts.boxes ?? {}, opts.chunk);
  const root = mkdtempSync(join(tmpdir(), 'pop3-harness-'));
  for (const u of Object.keys(opts.users ?? {})) mkdirSync(join(root, u));
  const auth = new FakeAuth(opts.users ?? {}, root);
  const sessions = new LiveSessions<Session>();
  const deps: SessionDeps = {
    options: () => options,
    auth,
    store,
    tls: () => undefined,
    stats: new Pop3Stats(),
    failures: new FailurePolicy(),
    workers: inlineWorkers(),
    capa: new CapaCache(),
    hostname: 'test.example',
  };
  let n = 0;
  const server: Server = createServer((sock) => {
    const conn = new TestConnection(sock, log.child({ session: ++n }), n, opts.loopback ?? true);
    sessions.start(new Session(conn, deps));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    port,
    deps,
    store,
    auth,
    records,
    sessions,
    setOptions(o) {
      options = o;
    },
    async close() {
      for (const s of sessions) s.conn.destroy();
      await new Promise<void>((r) => server.close(() => r()));
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Waits (bounded) for a log record. */
export async function waitForRecord(
  records: LogRecord[],
  pred: (r: LogRecord) => boolean,
  timeoutMs = 3000,
): Promise<LogRecord> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const r = records.find(pred);
    if (r) return r;
    if (Date.now() > end) throw new Error(`no log record; have ${JSON.stringify(records)}`);
    await new Promise((res) => setTimeout(res, 10));
  }
}
