// The only file a protocol module imports from the host. Everything a module may rely on is
// declared here; the host's internals (config, pools, net, host) implement these contracts.
import { realpathSync } from 'node:fs';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { HostError } from './errors.js';

export type { Logger } from 'pino';
export { HostError } from './errors.js';
export { Counters } from './host/counters.js';
export { type DrainableSession, drainSessions, LiveSessions } from './host/drain.js';
export { encodeSequence, Sequence } from './sequence.js';

/** Same major required; a module built for a newer minor loads with a warning. */
export const HOST_API_VERSION = '1.0';

// ---------------------------------------------------------------- option schema

interface OptionBase<T> {
  description: string;
  /** Without a default the option is optional and its value may be undefined. */
  default?: T;
  /** Redacted in `host check`, in logs and in the inspector summary. */
  secret?: boolean;
  /** Applied on SIGHUP without a restart. Others need a restart (the host says so). */
  reloadable?: boolean;
  /** Must be set in c11n (no default makes sense, e.g. a query). */
  required?: boolean;
}
export interface StringOption extends OptionBase<string> {
  type: 'string';
}
export interface IntegerOption extends OptionBase<number> {
  type: 'integer';
  min?: number;
  max?: number;
}
export interface BooleanOption extends OptionBase<boolean> {
  type: 'boolean';
}
/** Milliseconds. c11n: `600` (seconds), `10m`, `30s`, `250ms`, `1h`. */
export interface DurationOption extends OptionBase<number> {
  type: 'duration';
  min?: number;
  max?: number;
}
/** Bytes. c11n: `1048576`, `512k`, `10M`, `1G` (powers of 1024). */
export interface SizeOption extends OptionBase<number> {
  type: 'size';
  min?: number;
  max?: number;
}
/** A file or directory; a relative c11n value is resolved against the personality directory. */
export interface PathOption extends OptionBase<string> {
  type: 'path';
}
/** c11n: comma- or space-separated words. */
export interface ListOption extends OptionBase<readonly string[]> {
  type: 'list';
}
export interface EnumOption<V extends string = string> extends OptionBase<V> {
  type: 'enum';
  values: readonly V[];
}
export type OptionSpec =
  | StringOption
  | IntegerOption
  | BooleanOption
  | DurationOption
  | SizeOption
  | PathOption
  | ListOption
  | EnumOption;
export type OptionSchema = Readonly<Record<string, OptionSpec>>;

type ValueOf<S> = S extends { type: 'integer' | 'duration' | 'size' }
  ? number
  : S extends { type: 'boolean' }
    ? boolean
    : S extends { type: 'list' }
      ? readonly string[]
      : S extends { type: 'enum'; values: readonly (infer V)[] }
        ? V
        : string;

/** The typed, frozen option object a module receives; derived from its schema, never repeated. */
export type Options<S extends OptionSchema> = {
  readonly [K in keyof S]: S[K] extends { default: unknown } | { required: true }
    ? ValueOf<S[K]>
    : ValueOf<S[K]> | undefined;
};

// ---------------------------------------------------------------- databases

export interface DatabaseStats {
  id: string;
  driver: 'sqlite' | 'mysql';
  min: number;
  max: number;
  busy: number;
  total: number;
  queries: number;
  errors: number;
}

/** A pool named by a `[database.ID]` section. SQL values are always bound `?` parameters. */
export interface Database {
  readonly id: string;
  readonly driver: 'sqlite' | 'mysql';
  /** Rows as plain objects keyed by column name (first column first). */
  query<Row extends Record<string, unknown> = Record<string, unknown>>(
    sql: string,
    params?: readonly unknown[],
  ): Promise<Row[]>;
  /** INSERT/UPDATE/DELETE/DDL. */
  execute(sql: string, params?: readonly unknown[]): Promise<{ affectedRows: number }>;
  stats(): DatabaseStats;
}

// ---------------------------------------------------------------- worker pool

/** A named export of a compiled `.js` task file; tasks are synchronous-IO functions run in a worker. */
export interface TaskRef {
  readonly file: string;
  readonly name: string;
  /**
   * A short task (tens of microseconds: a lookup, a lock, a stat) that the pool may hand over
   * together with other short tasks started in the same event-loop turn, in one message to one
   * worker. Never set it for work that can take long (hashing, big reads): batch-mates wait for it.
   */
  readonly batch?: boolean;
}
/** `task(new URL('./tasks.js', import.meta.url), 'openMaildrop')` */
export function task(file: URL | string, name: string, o?: { batch?: boolean }): TaskRef {
  const ref = { file: typeof file === 'string' ? file : file.href, name };
  return o?.batch ? { ...ref, batch: true } : ref;
}

/** Anything that counts its hand-offs: a session. */
export interface DelayCounter {
  delays: number;
}

export interface WorkerStats {
  min: number;
  max: number;
  threads: number;
  busy: number;
  queued: number;
  completed: number;
  runTimeMeanMs: number;
  waitTimeMeanMs: number;
}

export interface WorkerPool {
  /** Run a task; not attributed to a session. */
  run<I, O>(ref: TaskRef, input: I, transferList?: readonly ArrayBuffer[]): Promise<O>;
  /** Run a task on behalf of a session: adds one to `session.delays`. */
  offload<I, O>(
    session: DelayCounter,
    ref: TaskRef,
    input: I,
    transferList?: readonly ArrayBuffer[],
  ): Promise<O>;
  stats(): WorkerStats;
}

// ---------------------------------------------------------------- network

export interface Endpoint {
  address: string;
  port: number;
}

export interface TlsFiles {
  keyFile: string;
  certFile: string;
}

export interface ListenSpec {
  /** For logs and the report, e.g. `pop3` or `pop3s`. */
  name: string;
  address: string;
  /** 0 = any free port (tests); read the bound port from `Listener.port`. */
  port: number;
  /** Instead of address/port: a Unix socket path (LMTP). */
  path?: string;
  backlog: number;
  /** Implicit TLS on this listener (POP3S). */
  tls?: TlsFiles;
  /** Peers whose PROXY v1/v2 header is required and trusted (addresses or CIDRs). Empty: no PROXY. */
  trustedProxies: readonly string[];
  /** Connections allowed at once from one client address (after PROXY); 0 = unlimited. */
  perIpLimit: number;
  /** Sent, then the socket is closed, when over the per-IP limit or the session limit. */
  busyReply: string;
  /** The module's session limiter (from its min_sessions/max_sessions). */
  sessions: SessionLimiter;
}

export interface Listener {
  readonly name: string;
  readonly address: string;
  readonly port: number;
  /** Stop accepting; open connections are left alone. */
  close(): Promise<void>;
  /** Reloadable parts: per-IP limit, TLS files (re-read now), trusted proxies, busy reply. */
  update(changes: Partial<Pick<ListenSpec, 'perIpLimit' | 'tls' | 'trustedProxies' | 'busyReply'>>): void;
}

export interface LineHandlers {
  /** Hard cap in octets, without CRLF. */
  maxLine: number;
  /**
   * One complete line, without its line end (CRLF or bare LF). The next line is delivered only after
   * the returned promise settles, so commands are answered in order (pipelining); while a command
   * is in progress input is buffered, and the socket is paused when too much is waiting.
   */
  onLine(line: Buffer): void | Promise<void>;
  /** A line longer than maxLine was read (and discarded up to its line end). */
  onOverflow(): void | Promise<void>;
}

/** One accepted client, after PROXY and limits. */
export interface Connection extends DelayCounter {
  /** Per-process session number, as in `[1]` in the log. */
  readonly id: number;
  readonly remote: Endpoint;
  readonly local: Endpoint;
  /** The address came from a trusted PROXY header. */
  readonly proxied: boolean;
  /** True on an implicit-TLS listener or after `startTls()`. */
  readonly secure: boolean;
  /** Loopback peer (127.0.0.0/8, ::1): plaintext login may be allowed there. */
  readonly loopback: boolean;
  /** Current socket; replaced by the TLS socket after `startTls()`. */
  readonly socket: Socket | TLSSocket;
  /** Child of the module logger with `session: id`. */
  readonly log: Logger;
  /** Start reading lines. Call once. */
  readLines(handlers: LineHandlers): void;
  /**
   * One answer = one write. Returns false when the kernel buffer is full (await `drained()`).
   * `written` runs once the socket is done with `data` (handed to the kernel, or failed): a
   * Buffer may be filled again from then on. Not run when the connection is already closed.
   */
  write(data: string | Buffer, written?: () => void): boolean;
  drained(): Promise<void>;
  /**
   * STLS: discard every byte and line the client sent before this call (STARTTLS injection),
   * handshake as server with the listener's TLS files, then go on reading lines over TLS.
   * Rejects with HostError('TLS_UNAVAILABLE') when no certificate is configured.
   */
  startTls(tls: TlsFiles): Promise<void>;
  /** Reset the idle timer to `ms` (0 disables); fires `onTimeout`. */
  setIdleTimeout(ms: number, onTimeout: () => void): void;
  /** Flush what was written, then close. */
  end(data?: string | Buffer): void;
  /** Close now. */
  destroy(): void;
  /** Resolves once the socket is fully closed. */
  readonly closed: Promise<void>;
}

// ---------------------------------------------------------------- sessions

export interface SessionStats {
  min: number;
  max: number;
  active: number;
  total: number;
  refused: number;
}

/** Counts sessions against max_sessions (generic-pool underneath); never queues. */
export interface SessionLimiter {
  /** A slot, or null when max_sessions are active (the caller refuses the client). */
  tryAcquire(): Promise<SessionSlot | null>;
  resize(min: number, max: number): void;
  stats(): SessionStats;
}
export interface SessionSlot {
  release(): void;
}

// ---------------------------------------------------------------- the module contract

/** What the host hands a module at construct time. */
export interface ModuleContext<O> {
  readonly name: string;
  /** pino child logger bound to `{ module: name }`. */
  readonly log: Logger;
  readonly personalityDir: string;
  /** Host option `identity`, e.g. `server`. */
  readonly identity: string;
  /** Current options; a new frozen object after each successful reload. Valid from prestart on. */
  options(): O;
  /** A pool from a `[database.ID]` section; throws HostError('NO_DATABASE'). Valid from prestart on. */
  database(id: string): Database;
  /** The host's one worker pool. Valid from prestart on. */
  readonly workers: WorkerPool;
  /** This module's session limiter, sized from its `min_sessions`/`max_sessions` options. */
  readonly sessions: SessionLimiter;
  /** Bind a listener (call in prestart, before the uid switch); `onConnection` gets each session. */
  listen(spec: Omit<ListenSpec, 'sessions'>, onConnection: (conn: Connection) => void): Promise<Listener>;
}

export interface ModuleInstance<O> {
  /** As root, before the uid/gid switch: bind sockets, open files. */
  prestart?(options: O): Promise<void>;
  /** After the privilege drop: begin serving. */
  start?(): Promise<void>;
  /** SIGUSR1: a plain snapshot of the module's own figures. */
  report?(): Record<string, unknown>;
  /** SIGHUP: `next` passed validation; apply what is reloadable. */
  reload?(next: O, previous: O): Promise<void>;
  /**
   * SIGTERM/SIGINT: stop accepting, let sessions finish until `deadline` (epoch ms), then close
   * the rest with the module's shutdown reply.
   */
  stop?(deadline: number): Promise<void>;
}

export interface ModuleDescriptor<S extends OptionSchema = OptionSchema> {
  /** c11n section name and log name. */
  name: string;
  description: string;
  version: string;
  /** HOST_API_VERSION the module was built against. */
  hostApi: string;
  authors: readonly string[];
  options: S;
  /** ServerKit's construct: register, read nothing yet. */
  construct(ctx: ModuleContext<Options<S>>): ModuleInstance<Options<S>>;
}

/**
 * Declare a module. `export default defineModule(import.meta, {...})`. When the file is run directly
 * (`node dist/modules/pop3/index.js`) it prints the inspector summary and exits.
 */
export function defineModule<const S extends OptionSchema>(
  meta: ImportMeta,
  descriptor: ModuleDescriptor<S>,
): ModuleDescriptor<S> {
  if (!/^[a-z][a-z0-9_]*$/.test(descriptor.name)) {
    throw new HostError('BAD_MODULE', `module name "${descriptor.name}" must be [a-z][a-z0-9_]*`);
  }
  if (isMainModule(meta)) {
    void import('./config/inspect.js').then(({ inspectorSummary }) => {
      process.stdout.write(inspectorSummary(descriptor as unknown as ModuleDescriptor));
    });
  }
  return descriptor;
}

/** `node file.js` runs this very module (symlinks followed on both sides, as node does for main). */
function isMainModule(meta: ImportMeta): boolean {
  const main = process.argv[1];
  if (!main || !meta.url.startsWith('file:')) return false;
  try {
    return realpathSync(main) === realpathSync(fileURLToPath(meta.url));
  } catch {
    return false;
  }
}
