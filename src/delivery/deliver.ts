// The delivery routine shared by `host deliver` and the LMTP module: a message arrives in pieces,
// is stored once with LF line ends in a tmp/ file (each chunk write one worker hand-off, so a 25 MB
// message never sits in memory), its CRLF size counted on the way, then linked into each
// recipient's new/ under an r2d2 name carrying that size.
import type { DelayCounter, WorkerPool } from '../api.js';
import { task } from '../api.js';
import { maildirName } from './name.js';
import type {
  CommitInput,
  CommitResult,
  DeliverWholeInput,
  DeliverWholeOutput,
  PrepareInput,
  PrepareOutput,
  TaskStatus,
  WriteInput,
} from './tasks.js';

const TASKS = new URL('./tasks.js', import.meta.url);
const PREPARE = task(TASKS, 'prepare');
const WRITE = task(TASKS, 'write');
const COMMIT = task(TASKS, 'commit');
const DELIVER_WHOLE = task(TASKS, 'deliverWhole');
const ABORT = task(TASKS, 'abort');

/** Bytes gathered before one write hand-off. */
export const CHUNK_SIZE = 256 * 1024;
const FIRST_BUFFER = 16 * 1024;
/** Maildir spec: tmp/ leftovers older than this are removed. */
export const TMP_MAX_AGE_MS = 36 * 3600_000;
/** A Maildir's tmp/ is swept at most this often (per process). */
const SWEEP_EVERY_MS = 3600_000;

/** Why a recipient did not get the message; `status` is the RFC 3463 enhanced code. */
export interface Failure {
  kind: 'permanent' | 'temporary';
  status: string;
  reason: string;
}

export const FAILURES = {
  unknownUser: { kind: 'permanent', status: '5.1.1', reason: 'no such user' },
  tooBig: { kind: 'permanent', status: '5.3.4', reason: 'message too big' },
  lineTooLong: { kind: 'permanent', status: '5.6.0', reason: 'line too long' },
} as const satisfies Record<string, Failure>;

/** errno (or our own code) from a task → what the sender is told. */
export function failureFromCode(code: string, message: string): Failure {
  switch (code) {
    case 'EDQUOT':
      return { kind: 'temporary', status: '4.2.2', reason: 'mailbox full (quota)' };
    case 'ENOSPC':
      return { kind: 'temporary', status: '4.3.1', reason: 'insufficient system storage' };
    case 'NO_MAILDIR':
      return { kind: 'temporary', status: '4.2.0', reason: 'mailbox does not exist' };
    case 'EACCES':
    case 'EPERM':
      return { kind: 'temporary', status: '4.3.0', reason: 'mailbox not writable' };
    default:
      return { kind: 'temporary', status: '4.3.0', reason: `delivery failed (${code}): ${message}` };
  }
}

export interface Recipient {
  address: string;
  /** Absolute Maildir path (already checked to lie under maildir_root). */
  maildir: string;
}

export type Outcome =
  | (Recipient & { ok: true; path: string })
  | (Recipient & { ok: false; failure: Failure });

export interface DeliveryOptions {
  workers: WorkerPool;
  /** Every hand-off is counted on it. */
  session: DelayCounter;
  /** Create a missing Maildir (tmp/, new/, cur/). */
  createMaildir?: boolean;
  /** Refuse messages whose CRLF size exceeds this (the input is still read to its end). */
  maxSize?: number;
  /** Prepended lines, e.g. `Return-Path: <a@b>\n` (LF line ends). */
  prefix?: string;
}

const lastSwept = new Map<string, number>();

/** Maildirs due for a tmp/ sweep now (remembered, so the next delivery within the hour skips them). */
function dueForSweep(maildirs: Iterable<string>, now: number): string[] {
  const due: string[] = [];
  for (const dir of maildirs) {
    const last = lastSwept.get(dir);
    if (last !== undefined && now - last < SWEEP_EVERY_MS) continue;
    if (lastSwept.size >= 100_000) lastSwept.clear(); // bounded memory; a sweep too many is harmless
    lastSwept.set(dir, now);
    due.push(dir);
  }
  return due;
}

/**
 * One message to one or more recipients. Feed it with `line()` (a line without its line end) or
 * `append()` (a piece of a line); a returned promise means "wait before feeding more" (one write is
 * in flight and the next chunk is full). Then `finish()` once, or `abort()`.
 */
export class MaildirDelivery {
  /** Starts small and doubles up to CHUNK_SIZE: most mail is a few KB, and this buffer is per message. */
  private buf = Buffer.allocUnsafeSlow(FIRST_BUFFER);
  private used = 0;
  private inflight: Promise<void> | undefined;
  /** Started with the first chunk write; a message that fits in one chunk never needs it. */
  private prepared: Promise<PrepareOutput> | undefined;
  private failure: Failure | undefined;
  private atLineStart = true;
  private done = false;
  /** Octets stored (LF line ends) and lines; the CRLF size is their sum. */
  private bytes = 0;
  private lines = 0;

  constructor(
    readonly recipients: readonly Recipient[],
    private readonly opts: DeliveryOptions,
  ) {
    if (recipients.length === 0) throw new Error('a delivery needs a recipient');
    if (opts.prefix) {
      for (const l of opts.prefix.split('\n')) if (l !== '') void this.line(Buffer.from(l));
    }
  }

  /** The size POP3 RETR will send before dot-stuffing: CRLF line ends, final CRLF included. */
  get crlfSize(): number {
    return this.bytes + this.lines + (this.atLineStart ? 0 : 2);
  }

  /** Whether the message is already refused as a whole (too big, disk error). */
  get refused(): Failure | undefined {
    return this.failure;
  }

  /** Marks the whole message refused (e.g. a line over the reader's limit); the rest is discarded. */
  refuse(f: Failure): void {
    this.failure ??= f;
  }

  /** A complete line without its line end; trailing CRs are dropped so storage is pure LF. */
  line(data: Buffer): void | Promise<void> {
    let end = data.length;
    while (end > 0 && data[end - 1] === 0x0d) end--;
    return this.append(end === data.length ? data : data.subarray(0, end), true);
  }

  /** Part of a line (no LF inside); `eol` ends the line. */
  append(data: Buffer, eol: boolean): void | Promise<void> {
    if (this.done) throw new Error('delivery already finished');
    this.bytes += data.length + (eol ? 1 : 0);
    if (eol) this.lines++;
    this.atLineStart = eol;
    if (this.opts.maxSize !== undefined && this.crlfSize > this.opts.maxSize)
      this.failure ??= FAILURES.tooBig;
    if (this.failure) return;
    let wait: Promise<void> | undefined;
    let off = 0;
    while (off < data.length) {
      if (this.used === this.buf.length) wait = this.makeRoom() ?? wait;
      const n = data.copy(this.buf, this.used, off);
      this.used += n;
      off += n;
    }
    if (eol) {
      if (this.used === this.buf.length) wait = this.makeRoom() ?? wait;
      this.buf[this.used++] = 0x0a;
    }
    return wait;
  }

  /** The buffer is full: grow it while under CHUNK_SIZE, else hand it to a worker. */
  private makeRoom(): Promise<void> | undefined {
    if (this.buf.length >= CHUNK_SIZE) return this.flush();
    const bigger = Buffer.allocUnsafeSlow(Math.min(CHUNK_SIZE, this.buf.length * 2));
    this.buf.copy(bigger, 0, 0, this.used);
    this.buf = bigger;
    return undefined;
  }

  private prepareInput(): PrepareInput {
    return {
      maildirs: this.recipients.map((r) => r.maildir),
      create: this.opts.createMaildir ?? false,
      tmpName: maildirName(0),
    };
  }

  private prepare(): Promise<PrepareOutput> {
    this.prepared ??= this.opts.workers
      .offload<PrepareInput, PrepareOutput>(this.opts.session, PREPARE, this.prepareInput())
      .catch((e: unknown): PrepareOutput => {
        this.failure ??= failureFromCode('WORKER', String(e));
        return { statuses: [], fd: -1, tmpPath: '', home: -1 };
      });
    return this.prepared;
  }

  /** Hands the full buffer to a worker; returns the previous write when one is still running. */
  private flush(): Promise<void> | undefined {
    const prev = this.inflight;
    const data = this.buf;
    const length = this.used;
    this.buf = Buffer.allocUnsafeSlow(CHUNK_SIZE);
    this.used = 0;
    if (length === 0) return prev;
    const prepared = this.prepare();
    this.inflight = (async () => {
      if (prev) await prev;
      const p = await prepared;
      if (this.failure || p.fd < 0) return;
      // allocUnsafeSlow: the Buffer owns its whole ArrayBuffer, so it can be transferred.
      const ab = data.buffer as ArrayBuffer;
      try {
        const r = await this.opts.workers.offload<WriteInput, TaskStatus>(
          this.opts.session,
          WRITE,
          { fd: p.fd, data: ab, length },
          [ab],
        );
        if (!r.ok) this.failure ??= failureFromCode(r.code, r.message);
      } catch (e) {
        this.failure ??= failureFromCode('WORKER', String(e));
      }
    })();
    return prev;
  }

  /** Ends the message (adding a final line end if missing), commits it; one outcome per recipient. */
  async finish(): Promise<Outcome[]> {
    if (this.done) throw new Error('delivery already finished');
    if (!this.atLineStart) await this.append(Buffer.alloc(0), true);
    this.done = true;
    if (this.prepared === undefined) {
      if (this.failure) return this.failAll(this.failure);
      return this.finishWhole();
    }
    this.flush();
    if (this.inflight) await this.inflight;
    const p = await this.prepared;
    if (this.failure || p.fd < 0) {
      await this.cleanup(p);
      if (this.failure) return this.failAll(this.failure);
    }
    const targets = this.recipients.filter((_, i) => p.statuses[i]?.ok);
    let committed: CommitResult[] = [];
    if (targets.length > 0) {
      const now = Date.now();
      const input: CommitInput = {
        fd: p.fd,
        tmpPath: p.tmpPath,
        maildirs: targets.map((t) => t.maildir),
        name: maildirName(this.crlfSize),
        sweep: dueForSweep(new Set(targets.map((t) => t.maildir)), now),
        tmpMaxAgeMs: TMP_MAX_AGE_MS,
        nowMs: now,
      };
      try {
        committed = await this.opts.workers.offload<CommitInput, CommitResult[]>(
          this.opts.session,
          COMMIT,
          input,
        );
      } catch (e) {
        return this.failAll(failureFromCode('WORKER', String(e)));
      }
    }
    return this.outcomes(p.statuses, committed);
  }

  /** The whole message is in the buffer: ONE hand-off checks the Maildirs, writes and commits. */
  private async finishWhole(): Promise<Outcome[]> {
    const ab = this.buf.buffer as ArrayBuffer;
    const now = Date.now();
    const input: DeliverWholeInput = {
      ...this.prepareInput(),
      data: ab,
      length: this.used,
      name: maildirName(this.crlfSize),
      sweep: dueForSweep(new Set(this.recipients.map((r) => r.maildir)), now),
      tmpMaxAgeMs: TMP_MAX_AGE_MS,
      nowMs: now,
    };
    this.used = 0;
    try {
      const out = await this.opts.workers.offload<DeliverWholeInput, DeliverWholeOutput>(
        this.opts.session,
        DELIVER_WHOLE,
        input,
        [ab],
      );
      return this.outcomes(out.statuses, out.committed);
    } catch (e) {
      return this.failAll(failureFromCode('WORKER', String(e)));
    }
  }

  private failAll(f: Failure): Outcome[] {
    return this.recipients.map((r) => ({ ...r, ok: false, failure: f }));
  }

  /** Per recipient: its Maildir check, then (when that was fine) its commit result, in order. */
  private outcomes(statuses: readonly TaskStatus[], committed: readonly CommitResult[]): Outcome[] {
    let k = 0;
    return this.recipients.map((r, i): Outcome => {
      const s = statuses[i];
      if (!s) return { ...r, ok: false, failure: failureFromCode('WORKER', 'no status') };
      if (!s.ok) return { ...r, ok: false, failure: failureFromCode(s.code, s.message) };
      const c = committed[k++];
      if (!c) return { ...r, ok: false, failure: failureFromCode('WORKER', 'no commit result') };
      return c.ok
        ? { ...r, ok: true, path: c.path }
        : { ...r, ok: false, failure: failureFromCode(c.code, c.message) };
    });
  }

  /** The sender went away: nothing is delivered, the tmp file is removed. */
  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    this.failure ??= { kind: 'temporary', status: '4.3.0', reason: 'aborted' };
    if (this.inflight) await this.inflight;
    if (this.prepared) await this.cleanup(await this.prepared);
  }

  private async cleanup(p: PrepareOutput): Promise<void> {
    if (p.fd < 0) return;
    try {
      await this.opts.workers.offload(this.opts.session, ABORT, { fd: p.fd, tmpPath: p.tmpPath });
    } catch {
      // the worker died; the tmp file is swept after 36 hours
    }
  }
}
