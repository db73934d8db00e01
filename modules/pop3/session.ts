// One POP3 session: the AUTHORIZATION / TRANSACTION / UPDATE state machine. Commands are looked up
// in ONE table (commands/table.ts) and checked there for state and argument shape, once, by
// dispatch(); handlers only do their work. A synchronous handler costs no promise.
import type { Connection, TlsFiles, WorkerPool } from '../../src/api.js';
import type { CapaCache } from './capa.js';
import { type Args, parseArgs, TABLE } from './commands/table.js';
import type { Pop3Options } from './options.js';
import type { FailurePolicy } from './policy.js';
import { R } from './replies.js';
import type { Authenticator, Maildrop, MaildropStore, UpdateResult } from './seams.js';
import { Sequence } from './sequence.js';
import type { Pop3Stats } from './stats.js';

export type State = 'authorization' | 'transaction' | 'update' | 'closed';
export type CloseReason = 'peer quit' | 'timeout' | 'error' | 'shutdown' | 'peer closed';

/** RFC 2449 §4: 255 octets including CRLF. */
export const MAX_COMMAND_LINE = 253;
/** Over-long lines tolerated before the connection is closed. */
export const MAX_OVERFLOWS = 3;

/** What every session of a module shares. */
export interface SessionDeps {
  options(): Pop3Options;
  auth: Authenticator;
  store: MaildropStore;
  /** Current TLS files, or undefined when no key/certificate is available. */
  tls(): TlsFiles | undefined;
  stats: Pop3Stats;
  failures: FailurePolicy;
  /** LOGIN-DELAY stamps (tasks.ts) run here. */
  workers: WorkerPool;
  capa: CapaCache;
  /** For the APOP banner `<pid.n.time@hostname>`. */
  hostname: string;
}

let bannerCounter = 0;

export class Session {
  state: State = 'authorization';
  readonly seq = new Sequence();
  /** USER given, waiting for PASS. */
  pendingUser: string | undefined;
  /** Name shown in logs: the logged-in user, else the last name tried. */
  user: string | undefined;
  /** AUTH PLAIN waiting for its continuation line. */
  saslPending = false;
  /** APOP greeting banner, when APOP is offered. */
  banner: string | undefined;
  failures = 0;
  overflows = 0;
  maildrop: Maildrop | undefined;
  /** Indexes (0-based) marked by DELE; made on the first DELE. */
  deleted: Set<number> | undefined;
  deletedBytes = 0;
  /** Retrieved messages, tracked only with EXPIRE 0 (they are removed at UPDATE). */
  expired: Set<number> | undefined;
  retrieved = 0;
  retrievedBytes = 0;
  updateResult: UpdateResult | undefined;
  reason: CloseReason | undefined;
  /** Settles when UPDATE is over (so the disconnect line carries its figures). */
  updating: Promise<void> | undefined;
  /** Multi-line LIST/UIDL answers, valid while nothing is marked deleted. */
  listAll: string | undefined;
  uidlAll: string | undefined;
  statLine: string | undefined;
  readonly startedAt = Date.now();
  /** Settles after the disconnect line is logged and the maildrop released. */
  finished: Promise<void> = Promise.resolve();

  /** One closure per session for every setIdleTimeout call. */
  readonly timeoutHandler = (): void => this.onTimeout();

  constructor(
    readonly conn: Connection,
    readonly deps: SessionDeps,
  ) {}

  /** Greets and starts reading commands. */
  start(): void {
    const o = this.deps.options();
    const { conn } = this;
    if (o.apop && this.deps.auth.apopCapable) {
      this.banner = `<${process.pid}.${++bannerCounter}.${Date.now()}@${this.deps.hostname}>`;
    }
    this.finished = conn.closed.then(
      () => this.onClosed(),
      () => this.onClosed(),
    );
    conn.setIdleTimeout(o.login_timeout, this.timeoutHandler);
    conn.write(this.banner ? `+OK POP3 server ready ${this.banner}\r\n` : '+OK POP3 server ready\r\n');
    conn.readLines({
      maxLine: MAX_COMMAND_LINE,
      onLine: (line) => this.onLine(line),
      onOverflow: () => this.onOverflow(),
    });
  }

  /** Plaintext login (USER/PASS, SASL PLAIN) allowed on this connection now. */
  plaintextAllowed(): boolean {
    if (this.conn.secure) return true;
    const p = this.deps.options().plaintext_without_tls;
    return p === 'always' || (p === 'loopback' && this.conn.loopback);
  }

  write(s: string | Buffer): void {
    if (this.state !== 'closed') this.conn.write(s);
  }

  /** Sends the last answer and closes. */
  end(s: string, reason: CloseReason): void {
    if (this.state === 'closed') return;
    this.reason ??= reason;
    this.conn.end(s);
  }

  onLine(buf: Buffer): void | Promise<void> {
    if (this.state === 'closed' || this.state === 'update') return;
    // The idle timer restarts on socket activity by itself; the pre-login limit is a total one too,
    // so a client sending junk slowly cannot stay unauthenticated for ever.
    if (this.state === 'authorization' && Date.now() - this.startedAt > this.deps.options().login_timeout) {
      this.end(R.timeout, 'timeout');
      return;
    }
    if (this.saslPending) {
      this.saslPending = false;
      return TABLE.AUTH.continue?.(this, buf.toString('utf8'));
    }
    const line = buf.toString('utf8');
    const sp = line.indexOf(' ');
    const verb = (sp < 0 ? line : line.slice(0, sp)).toUpperCase();
    const spec = Object.hasOwn(TABLE, verb) ? TABLE[verb] : undefined;
    if (!spec) {
      this.seq.push('!');
      this.write(R.unknown);
      return;
    }
    const args: Args | null = parseArgs(spec.args, sp < 0 ? '' : line.slice(sp + 1));
    this.seq.push(args && args.n > 0 && spec.letterWithArg ? spec.letterWithArg : spec.letter);
    if (!spec.states.includes(this.state)) {
      this.write(R.badState);
      return;
    }
    if (!args) {
      this.write(R.badArgs);
      return;
    }
    return spec.handler(this, args);
  }

  private onOverflow(): void {
    this.seq.push('!');
    if (++this.overflows >= MAX_OVERFLOWS) this.end(R.tooLongBye, 'error');
    else this.write(R.tooLong);
  }

  private onTimeout(): void {
    // UPDATE finishes on its own; the timer only ends waiting sessions.
    if (this.state === 'update' || this.state === 'closed') return;
    this.conn.log.info({ state: this.state }, 'idle timeout');
    this.end(R.timeout, 'timeout');
  }

  /** Server shutdown: answer and close without UPDATE (nothing is deleted). */
  shutdown(): void {
    if (this.state === 'update' || this.state === 'closed') return;
    this.end(R.shutdown, 'shutdown');
  }

  private async onClosed(): Promise<void> {
    if (this.state === 'closed') return;
    const prev = this.state;
    this.state = 'closed';
    const { conn } = this;
    if (prev === 'update' && this.updating) await this.updating;
    const md = this.maildrop;
    if (md && !this.updateResult) {
      // Dropped (or timed out, or shut down) in TRANSACTION: unlock and change nothing.
      this.maildrop = undefined;
      try {
        await md.release(conn);
      } catch (e) {
        conn.log.error({ err: e }, 'maildrop release failed');
      }
    }
    const u = this.updateResult;
    conn.log.info(
      {
        sequence: this.seq.toString(),
        delays: conn.delays,
        user: this.user,
        address: conn.remote.address,
        retrieved: this.retrieved,
        retrieved_bytes: this.retrievedBytes,
        deleted: u ? u.deleted : 0,
        deleted_bytes: u ? u.deletedBytes : 0,
        left: u ? u.left : md ? md.messages.length : 0,
        left_bytes: u ? u.leftBytes : md ? md.totalSize : 0,
      },
      `disconnected: ${this.reason ?? 'peer closed'},`,
    );
  }
}
