// One LMTP session (RFC 2033): LHLO, MAIL, RCPT (a lookup per recipient), DATA streamed line by line
// through the delivery routine, then one reply per accepted recipient. Commands come one at a time
// from the connection's line reader, so pipelined commands are answered in order.
import type { Connection, Database, WorkerPool } from '../../src/api.js';
import {
  FAILURES,
  type Failure,
  MaildirDelivery,
  type Outcome,
  type Recipient,
} from '../../src/delivery/deliver.js';
import { type LookupResult, lookupRecipient } from '../../src/delivery/lookup.js';
import type { LmtpOptions } from './options.js';
import { Sequence } from './sequence.js';
import type { LmtpStats } from './stats.js';

/** RFC 5321 §4.5.3.1.4: 512 octets with CRLF. */
export const MAX_COMMAND_LINE = 510;
/** Text lines: RFC 5321 says 1000; we accept longer ones (bounded) rather than bounce mail. */
export const MAX_TEXT_LINE = 64 * 1024;
/** Over-long command lines tolerated before the connection is closed. */
const MAX_OVERFLOWS = 3;

export type CloseReason = 'peer quit' | 'timeout' | 'error' | 'shutdown' | 'peer closed';

export const R = {
  busy: '421 4.3.2 Too many sessions, try again later\r\n',
  shutdown: '421 4.3.2 Service shutting down\r\n',
  timeout: '421 4.4.2 Idle timeout, closing connection\r\n',
  ok: '250 2.0.0 Ok\r\n',
  mailOk: '250 2.1.0 Sender ok\r\n',
  rcptOk: '250 2.1.5 Recipient ok\r\n',
  data: '354 Start mail input; end with <CRLF>.<CRLF>\r\n',
  bye: '221 2.0.0 Bye\r\n',
  vrfy: '252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery\r\n',
  unknown: '500 5.5.2 Command unrecognized\r\n',
  notImplemented: '502 5.5.1 Command not implemented\r\n',
  heloRefused: '500 5.5.1 This is LMTP: use LHLO\r\n',
  tooLong: '500 5.5.2 Line too long\r\n',
  tooLongBye: '500 5.5.2 Line too long, closing connection\r\n',
  lhloFirst: '503 5.5.1 Send LHLO first\r\n',
  nestedMail: '503 5.5.1 Sender already given\r\n',
  mailFirst: '503 5.5.1 Send MAIL first\r\n',
  noRecipients: '503 5.5.1 No valid recipients\r\n',
  syntax: '501 5.5.4 Syntax error in parameters or arguments\r\n',
  badParam: '555 5.5.4 Unsupported parameter\r\n',
  tooBig: '552 5.3.4 Message size exceeds fixed maximum message size\r\n',
  tooManyRcpts: '452 4.5.3 Too many recipients\r\n',
} as const;

/** What every session of a module shares. */
export interface SessionDeps {
  options(): LmtpOptions;
  database(): Database;
  workers: WorkerPool;
  stats: LmtpStats;
  /** For the greeting and LHLO. */
  hostname: string;
}

type Phase = 'start' | 'ready' | 'mail' | 'data' | 'closed';

/** `<addr> PARAMS` after `FROM:`/`TO:`: the address (source route dropped) and the parameters. */
export function parsePath(text: string): { address: string; params: string[] } | null {
  const m = /^\s*<([^<>]*)>(.*)$/.exec(text);
  if (!m) return null;
  let address = m[1];
  if (address.startsWith('@')) {
    const colon = address.indexOf(':');
    address = colon < 0 ? '' : address.slice(colon + 1);
  }
  const params = m[2].trim() === '' ? [] : m[2].trim().split(/\s+/);
  return { address, params };
}

function reply(code: string, status: string, text: string): string {
  return `${code} ${status} ${text}\r\n`;
}

function failureReply(address: string, f: Failure): string {
  // RFC 5321 §4.2: 552/452 for storage (size, quota, disk), 550 for the mailbox, 554/451 otherwise.
  const code =
    f.kind === 'permanent'
      ? f.status === '5.3.4'
        ? '552'
        : f.status.startsWith('5.1.')
          ? '550'
          : '554'
      : f.status === '4.2.2' || f.status === '4.3.1'
        ? '452'
        : '451';
  return reply(code, f.status, `<${address}> ${f.reason}`);
}

export class Session {
  phase: Phase = 'start';
  readonly seq = new Sequence();
  reason: CloseReason | undefined;
  sender: string | undefined;
  recipients: Recipient[] = [];
  /** The message being received (phase 'data'). */
  delivery: MaildirDelivery | undefined;
  /** DATA answers are being computed (commit in a worker): shutdown waits for them. */
  committing: Promise<void> | undefined;
  overflows = 0;
  private dataLines = 0;
  messages = 0;
  delivered = 0;
  failed = 0;
  bytes = 0;
  finished: Promise<void> = Promise.resolve();
  private readonly timeoutHandler = (): void => this.onTimeout();

  constructor(
    readonly conn: Connection,
    readonly deps: SessionDeps,
  ) {}

  start(): void {
    const { conn } = this;
    this.finished = conn.closed.then(
      () => this.onClosed(),
      () => this.onClosed(),
    );
    conn.setIdleTimeout(this.deps.options().idle_timeout, this.timeoutHandler);
    conn.write(`220 ${this.deps.hostname} LMTP server ready\r\n`);
    conn.readLines({
      maxLine: MAX_TEXT_LINE,
      onLine: (line) => this.onLine(line),
      onOverflow: () => this.onOverflow(),
    });
  }

  private write(s: string): void {
    if (this.phase !== 'closed' && !this.reason) this.conn.write(s);
  }

  private end(s: string, reason: CloseReason): void {
    if (this.phase === 'closed' || this.reason) return;
    this.reason = reason;
    this.conn.end(s);
  }

  onLine(buf: Buffer): void | Promise<void> {
    const d = this.delivery;
    if (d) {
      // The idle timer measures silence, not the message's length: re-armed now and then.
      if ((++this.dataLines & 1023) === 0) {
        this.conn.setIdleTimeout(this.deps.options().idle_timeout, this.timeoutHandler);
      }
      // DATA: `.` alone ends the message; a leading dot is unstuffed (RFC 5321 §4.5.2).
      if (buf.length > 0 && buf[0] === 0x2e) {
        if (buf.length === 1) return this.endData(d);
        return d.line(buf.subarray(1));
      }
      return d.line(buf);
    }
    // Closed, or closing (QUIT, timeout): lines pipelined behind it are not answered.
    if (this.phase === 'closed' || this.reason) return;
    if (buf.length > MAX_COMMAND_LINE) {
      this.onOverflow();
      return;
    }
    this.conn.setIdleTimeout(this.deps.options().idle_timeout, this.timeoutHandler);
    const line = buf.toString('utf8');
    const sp = line.indexOf(' ');
    const verb = (sp < 0 ? line : line.slice(0, sp)).toUpperCase();
    const arg = sp < 0 ? '' : line.slice(sp + 1);
    switch (verb) {
      case 'LHLO':
        return this.lhlo(arg);
      case 'MAIL':
        return this.mail(arg);
      case 'RCPT':
        return this.rcpt(arg);
      case 'DATA':
        return this.data(arg);
      case 'RSET':
        this.seq.push('R');
        this.reset();
        this.write(R.ok);
        return;
      case 'NOOP':
        this.seq.push('n');
        this.write(R.ok);
        return;
      case 'QUIT':
        this.seq.push('q');
        this.end(R.bye, 'peer quit');
        return;
      case 'VRFY':
        this.seq.push('v');
        this.write(R.vrfy);
        return;
      case 'HELO':
      case 'EHLO':
        this.seq.push('!');
        this.write(R.heloRefused);
        return;
      case 'BDAT':
      case 'STARTTLS':
      case 'EXPN':
      case 'HELP':
      case 'ETRN':
      case 'TURN':
      case 'AUTH':
        this.seq.push('!');
        this.write(R.notImplemented);
        return;
      default:
        this.seq.push('!');
        this.write(R.unknown);
    }
  }

  private reset(): void {
    this.sender = undefined;
    this.recipients = [];
    if (this.phase === 'mail') this.phase = 'ready';
  }

  private lhlo(arg: string): void {
    this.seq.push('L');
    if (arg.trim() === '') {
      this.write(R.syntax);
      return;
    }
    this.reset();
    this.phase = 'ready';
    const o = this.deps.options();
    this.write(
      `250-${this.deps.hostname}\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250 SIZE ${o.max_message_size}\r\n`,
    );
  }

  private mail(arg: string): void {
    this.seq.push('M');
    if (this.phase === 'start') {
      this.write(R.lhloFirst);
      return;
    }
    if (this.phase === 'mail') {
      this.write(R.nestedMail);
      return;
    }
    if (!/^from:/i.test(arg)) {
      this.write(R.syntax);
      return;
    }
    const p = parsePath(arg.slice(5));
    if (!p) {
      this.write(R.syntax);
      return;
    }
    for (const param of p.params) {
      const eq = param.indexOf('=');
      const key = (eq < 0 ? param : param.slice(0, eq)).toUpperCase();
      const value = eq < 0 ? '' : param.slice(eq + 1);
      if (key === 'SIZE') {
        if (!/^\d{1,15}$/.test(value)) {
          this.write(R.syntax);
          return;
        }
        if (Number(value) > this.deps.options().max_message_size) {
          this.write(R.tooBig);
          return;
        }
      } else if (key === 'BODY') {
        if (!/^(7BIT|8BITMIME)$/i.test(value)) {
          this.write(R.badParam);
          return;
        }
      } else {
        this.write(R.badParam);
        return;
      }
    }
    this.sender = p.address;
    this.recipients = [];
    this.phase = 'mail';
    this.write(R.mailOk);
  }

  private async rcpt(arg: string): Promise<void> {
    this.seq.push('r');
    if (this.phase !== 'mail') {
      this.write(this.phase === 'start' ? R.lhloFirst : R.mailFirst);
      return;
    }
    if (!/^to:/i.test(arg)) {
      this.write(R.syntax);
      return;
    }
    const p = parsePath(arg.slice(3));
    if (!p || p.address === '') {
      this.write(R.syntax);
      return;
    }
    if (p.params.length > 0) {
      this.write(R.badParam);
      return;
    }
    const o = this.deps.options();
    if (this.recipients.length >= o.max_recipients) {
      this.write(R.tooManyRcpts);
      return;
    }
    const { stats } = this.deps;
    let found: LookupResult;
    try {
      found = await lookupRecipient(
        this.deps.database(),
        { query: o.delivery_query_format_string, maildirRoot: o.maildir_root },
        p.address,
        this.conn.remote.address,
      );
    } catch (e) {
      found = { ok: false, reason: 'temporary', detail: (e as Error).message };
    }
    if (found.ok) {
      this.recipients.push({ address: p.address, maildir: found.maildir });
      this.write(R.rcptOk);
      return;
    }
    if (found.reason === 'unknown') {
      stats.unknownRecipients++;
      this.write(reply('550', '5.1.1', `<${p.address}> no such user`));
      return;
    }
    stats.lookupFailures++;
    this.conn.log.warn({ recipient: p.address, detail: found.detail }, 'recipient lookup failed');
    this.write(reply('451', '4.3.0', `<${p.address}> temporary lookup failure, try again later`));
  }

  private data(arg: string): void {
    this.seq.push('D');
    if (this.phase !== 'mail') {
      this.write(this.phase === 'start' ? R.lhloFirst : R.mailFirst);
      return;
    }
    if (arg.trim() !== '') {
      this.write(R.syntax);
      return;
    }
    if (this.recipients.length === 0) {
      this.write(R.noRecipients);
      return;
    }
    const o = this.deps.options();
    this.delivery = new MaildirDelivery(this.recipients, {
      workers: this.deps.workers,
      session: this.conn,
      createMaildir: o.create_maildir,
      maxSize: o.max_message_size,
      prefix: o.return_path ? `Return-Path: <${this.sender ?? ''}>\n` : undefined,
    });
    this.phase = 'data';
    this.write(R.data);
  }

  /** The final dot: commit, then one reply per accepted recipient (RFC 2033 §4.2), in one write. */
  private async endData(d: MaildirDelivery): Promise<void> {
    this.delivery = undefined;
    let resolveCommit!: () => void;
    this.committing = new Promise((r) => {
      resolveCommit = r;
    });
    try {
      const outcomes = await d.finish();
      this.answer(outcomes, d.crlfSize);
    } finally {
      this.committing = undefined;
      resolveCommit();
    }
    if (this.phase === 'data') this.phase = 'ready';
    this.sender = undefined;
    this.recipients = [];
  }

  private answer(outcomes: readonly Outcome[], size: number): void {
    const { stats } = this.deps;
    let out = '';
    const delivered: string[] = [];
    const failed: string[] = [];
    for (const o of outcomes) {
      if (o.ok) {
        out += reply('250', '2.0.0', `<${o.address}> delivered`);
        delivered.push(o.address);
      } else {
        out += failureReply(o.address, o.failure);
        failed.push(`${o.address} ${o.failure.status} ${o.failure.reason}`);
      }
    }
    this.messages++;
    this.delivered += delivered.length;
    this.failed += failed.length;
    stats.messages++;
    stats.delivered += delivered.length;
    stats.failed += failed.length;
    if (delivered.length > 0) {
      this.bytes += size;
      stats.bytes += size;
    }
    this.conn.log.info(
      { from: this.sender, size, delivered, failed: failed.length ? failed : undefined },
      'message',
    );
    this.write(out);
  }

  private onOverflow(): void {
    if (this.delivery) {
      this.delivery.refuse(FAILURES.lineTooLong);
      return;
    }
    this.seq.push('!');
    if (++this.overflows >= MAX_OVERFLOWS) this.end(R.tooLongBye, 'error');
    else this.write(R.tooLong);
  }

  private onTimeout(): void {
    if (this.phase === 'closed') return;
    this.conn.log.info({ phase: this.phase }, 'idle timeout');
    this.end(R.timeout, 'timeout');
  }

  /** Server shutdown: a message being committed gets its answers first, then 421. */
  shutdown(): void {
    if (this.phase === 'closed') return;
    if (this.committing) {
      void this.committing.then(() => this.end(R.shutdown, 'shutdown'));
      return;
    }
    this.end(R.shutdown, 'shutdown');
  }

  private async onClosed(): Promise<void> {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    const d = this.delivery;
    this.delivery = undefined;
    // Dropped mid-DATA: nothing was acknowledged, so nothing may be delivered.
    if (d) await d.abort();
    if (this.committing) await this.committing;
    const { conn } = this;
    conn.log.info(
      {
        sequence: this.seq.toString(),
        delays: conn.delays,
        address: conn.remote.address,
        messages: this.messages,
        delivered: this.delivered,
        failed: this.failed,
        bytes: this.bytes,
      },
      `disconnected: ${this.reason ?? 'peer closed'},`,
    );
  }
}
