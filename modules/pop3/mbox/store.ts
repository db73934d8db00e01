// The mbox MaildropStore (`/var/mail/USER` files), beside the Maildir store and with its shape:
// every blocking step is one worker task (tasks.ts), one hand-off per open, per chunk read, per
// update or release, each counted as a session delay. See README.md for the format rules.
import type { DelayCounter, Logger, WorkerPool } from '../../../src/api.js';
import { task } from '../../../src/api.js';
import type { LockOwner } from '../maildir/lock.js';
import type { WireOptions } from '../maildir/wire.js';
import { lockOwners, messageList } from '../maildrop-shared.js';
import {
  broughtWindow,
  newReadAhead,
  type ReadAhead,
  readFromWindow,
  type Window,
  type WindowOutput,
  windowSize,
} from '../read-ahead.js';
import type {
  Maildrop,
  MaildropStore,
  MessageInfo,
  OpenOptions,
  OpenResult,
  UpdateResult,
} from '../seams.js';
import type { FromQuoting } from './parse.js';
import type {
  FileStamp,
  LockTimes,
  OpenInput,
  OpenOutput,
  ReadInput,
  ReadOutput,
  SessionInput,
  UpdateInput,
  UpdateOutput,
  WindowInput,
} from './tasks.js';

export interface MboxStoreConfig extends LockTimes {
  stripNul: boolean;
  ensureHeaderEnd: boolean;
  chunkSize: number;
  quoting: FromQuoting;
}

const TASKS = new URL('./tasks.js', import.meta.url);
const OPEN = task(TASKS, 'open');
const READ = task(TASKS, 'read');
const READ_WINDOW = task(TASKS, 'readWindow');
const UPDATE = task(TASKS, 'update');
const RELEASE = task(TASKS, 'release');
const TOUCH = task(TASKS, 'touch');

/** open() also answers 'not-mbox' when asked to probe (the auto store then keeps the Maildir's answer). */
export type MboxOpenResult = OpenResult | { ok: false; reason: 'not-mbox' };

export interface MboxStore extends MaildropStore {
  /** Like open, but a directory or a missing path is 'not-mbox' instead of an error or an empty maildrop. */
  probe(path: string, options: OpenOptions): Promise<MboxOpenResult>;
}

/** Thrown by `read` when the file was rewritten in place by another program during the session. */
export class MboxChangedError extends Error {
  readonly code = 'MBOX_CHANGED';
}

/** Listings kept per mbox path, most recently used last (a Map keeps insertion order). */
const LISTING_CACHE_MAX = 4096;

interface Listing {
  /** Wire options and quoting the sizes were measured with. */
  key: string;
  stamp: FileStamp;
  offsets: Float64Array;
  sizes: Float64Array;
  uids: string;
}

export function createMboxStore(config: () => MboxStoreConfig, workers: WorkerPool): MboxStore {
  const listings = new Map<string, Listing>();
  const nextOwner = lockOwners();

  async function openMbox(path: string, options: OpenOptions, probe: boolean): Promise<MboxOpenResult> {
    const cfg = config();
    if (options.folder !== undefined && options.folder !== '') {
      // An mbox has no Maildir++ folders.
      return {
        ok: false,
        reason: 'temporary',
        detail: `mbox ${path} has no folder ${JSON.stringify(options.folder)}`,
      };
    }
    const owner = nextOwner();
    const wire: WireOptions = { stripNul: cfg.stripNul, ensureHeaderEnd: cfg.ensureHeaderEnd };
    const key = `${+cfg.stripNul}${+cfg.ensureHeaderEnd}${cfg.quoting}`;
    const cached = listings.get(path);
    const known = cached !== undefined && cached.key === key ? cached : undefined;
    let r: OpenOutput;
    try {
      r = await workers.offload<OpenInput, OpenOutput>(options.session, OPEN, {
        path,
        owner,
        wire,
        quoting: cfg.quoting,
        probe,
        known: known?.stamp ?? null,
        lockStaleMs: cfg.lockStaleMs,
        dotlockWaitMs: cfg.dotlockWaitMs,
        dotlockStaleMs: cfg.dotlockStaleMs,
      });
    } catch (e) {
      return { ok: false, reason: 'temporary', detail: `mbox open failed: ${(e as Error).message}` };
    }
    if (!r.ok) return r;
    if (r.unchanged && known !== undefined) {
      r = { ...r, offsets: known.offsets, sizes: known.sizes, uids: known.uids };
      listings.delete(path);
      listings.set(path, known);
    } else if (r.stamp !== null && r.cacheable) {
      listings.delete(path);
      listings.set(path, { key, stamp: r.stamp, offsets: r.offsets, sizes: r.sizes, uids: r.uids });
      if (listings.size > LISTING_CACHE_MAX) listings.delete(listings.keys().next().value as string);
    } else {
      listings.delete(path);
    }
    return { ok: true, maildrop: new MboxDrop(workers, path, owner, r, wire, cfg, options.log) };
  }

  return {
    open: (path, options) => openMbox(path, options, false) as Promise<OpenResult>,
    probe: (path, options) => openMbox(path, options, true),
  };
}

class MboxDrop implements Maildrop {
  readonly messages: readonly MessageInfo[];
  readonly totalSize: number;
  private readonly fd: number;
  private readonly offsets: Float64Array;
  private readonly snapshot: number;
  private readonly ino: string;
  private refresh: NodeJS.Timeout | undefined;
  private closed = false;
  /** RETR read-ahead, as for Maildir (`../read-ahead.ts`). */
  private ahead: ReadAhead | null = null;

  constructor(
    private readonly workers: WorkerPool,
    readonly path: string,
    private readonly owner: LockOwner,
    r: Extract<OpenOutput, { ok: true }>,
    private readonly wire: WireOptions,
    private readonly cfg: MboxStoreConfig,
    private readonly log: Logger,
  ) {
    const list = messageList(r.uids, r.sizes);
    this.messages = list.messages;
    this.totalSize = list.totalSize;
    this.fd = r.fd;
    this.offsets = r.offsets;
    this.snapshot = r.snapshot;
    this.ino = r.ino;
    if (cfg.lockStaleMs > 0 && r.fd >= 0) {
      const every = Math.max(1000, Math.floor(cfg.lockStaleMs / 3));
      this.refresh = setInterval(() => this.touch(), every);
      this.refresh.unref();
    }
  }

  private session(): SessionInput {
    return { path: this.path, fd: this.fd, owner: this.owner };
  }

  private touch(): void {
    this.workers.run<SessionInput, boolean>(TOUCH, this.session()).then(
      (ours) => {
        if (!ours)
          this.log.warn({ maildrop: this.path }, 'mbox session lock was taken over by another session');
      },
      (e: unknown) => this.log.warn({ err: e, maildrop: this.path }, 'mbox session lock refresh failed'),
    );
  }

  async *read(index: number, lines: number | null, session: DelayCounter): AsyncIterable<Buffer> {
    const d = { closed: this.closed, count: this.messages.length, ahead: this.ahead };
    const got = await readFromWindow(d, index, lines, () => this.readCached(index, session));
    if (got !== undefined) {
      if (got.length > 0) yield got;
      return;
    }
    const o = this.offsets;
    const base: ReadInput = {
      fd: this.fd,
      from: o[3 * index],
      start: o[3 * index + 1],
      end: o[3 * index + 2],
      offset: o[3 * index + 1],
      atLineStart: true,
      state: null,
      lines,
      chunkSize: Math.max(4096, this.cfg.chunkSize),
      wire: this.wire,
      quoting: this.cfg.quoting,
    };
    if (lines === null && index + 1 < this.messages.length) {
      const first = windowSize(1, base.chunkSize);
      base.ahead = this.following(index + 1, first.messages);
      base.aheadBytes = first.bytes;
    }
    let pending: Promise<ReadOutput> | null = this.workers.offload<ReadInput, ReadOutput>(
      session,
      READ,
      base,
    );
    try {
      while (pending !== null) {
        const r: ReadOutput = await pending;
        pending = null;
        if (r.changed) throw new MboxChangedError(`${this.path} was rewritten by another program`);
        if (!r.done) {
          pending = this.workers.offload<ReadInput, ReadOutput>(session, READ, {
            ...base,
            offset: r.offset,
            atLineStart: r.atLineStart,
            state: r.state,
            ahead: undefined,
          });
        }
        const brought = broughtWindow(r);
        if (brought !== undefined && !this.closed) this.window().replace(index + 1, brought);
        if (r.length > 0) yield Buffer.from(r.buf, 0, r.length);
      }
    } finally {
      if (pending !== null) (pending as Promise<ReadOutput>).catch(() => undefined);
    }
  }

  readCached(index: number, session: DelayCounter): Buffer | undefined {
    return this.ahead?.take(index, session)?.buf;
  }

  /** [from, start, end] of at most `count` messages from `first` on. */
  private following(first: number, count: number): number[] {
    return Array.from(this.offsets.subarray(3 * first, 3 * Math.min(first + count, this.messages.length)));
  }

  /** Made at the first window: a session that never RETRs (most polls) does not carry one. */
  private window(): ReadAhead {
    this.ahead ??= newReadAhead(
      this.messages.length,
      (from, scale, session) => this.readWindow(from, scale, session),
      this.log,
      this.path,
    );
    return this.ahead;
  }

  /** The window from message `from` on, read in the background. */
  private async readWindow(from: number, scale: number, session: DelayCounter): Promise<Window> {
    const size = windowSize(scale, this.cfg.chunkSize);
    const input: WindowInput = {
      fd: this.fd,
      ahead: this.following(from, size.messages),
      bytes: size.bytes,
      wire: this.wire,
      quoting: this.cfg.quoting,
    };
    const r = await this.workers.offload<WindowInput, WindowOutput>(session, READ_WINDOW, input);
    return { ...r, at: 0 };
  }

  async update(deleted: ReadonlySet<number>, session: DelayCounter): Promise<UpdateResult> {
    if (this.closed) throw new Error('maildrop is closed');
    this.close();
    const marked = [...deleted].filter((i) => i >= 0 && i < this.messages.length).sort((a, b) => a - b);
    let markedBytes = 0;
    for (const i of marked) markedBytes += this.messages[i].size;
    const froms: number[] = new Array(this.messages.length);
    for (let i = 0; i < froms.length; i++) froms[i] = this.offsets[3 * i];
    const r = await this.workers.offload<UpdateInput, UpdateOutput>(session, UPDATE, {
      ...this.session(),
      ino: this.ino,
      snapshot: this.snapshot,
      froms,
      deleted: marked,
      lockStaleMs: this.cfg.lockStaleMs,
      dotlockWaitMs: this.cfg.dotlockWaitMs,
      dotlockStaleMs: this.cfg.dotlockStaleMs,
    });
    if (!r.ok) {
      this.log.error({ maildrop: this.path, detail: r.detail }, 'mbox update failed: nothing removed');
      return {
        deleted: 0,
        deletedBytes: 0,
        failed: marked.length,
        left: this.messages.length,
        leftBytes: this.totalSize,
      };
    }
    if (r.appended > 0)
      this.log.info(
        { maildrop: this.path, appended_bytes: r.appended },
        'mbox: mail delivered during the session kept',
      );
    return {
      deleted: marked.length,
      deletedBytes: markedBytes,
      failed: 0,
      left: this.messages.length - marked.length,
      leftBytes: this.totalSize - markedBytes,
    };
  }

  async release(session: DelayCounter): Promise<void> {
    if (this.closed) return;
    this.close();
    await this.workers.offload<SessionInput, boolean>(session, RELEASE, this.session());
  }

  private close(): void {
    this.closed = true;
    this.ahead?.close();
    if (this.refresh) clearInterval(this.refresh);
    this.refresh = undefined;
  }
}
