// The Maildir MaildropStore: the POP3 engine's view of a Maildir. Every blocking step runs as a
// worker task (tasks.ts), one hand-off per open, per chunk read, per update or release; each is
// counted as a session delay.
import type { DelayCounter, Logger, WorkerPool } from '../../../src/api.js';
import { task } from '../../../src/api.js';
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
import { ChunkPool } from './chunk-pool.js';
import type { LockOwner } from './lock.js';
import type { ScanCounters } from './scan.js';
import type { OpenInput, OpenOutput, ReadInput, ReadOutput, UnlockInput, WindowInput } from './tasks.js';
import type { UpdateInput, UpdateOutput } from './update.js';
import { maxOutput, type WireOptions } from './wire.js';

export interface MaildirStoreConfig {
  /** UPDATE: unlink marked messages, or move them to the Maildir++ folder `trashFolder`. */
  deleteMode: 'delete' | 'move';
  trashFolder: string;
  /** Client workaround: NUL bytes are removed (sizes count without them). */
  stripNul: boolean;
  /** Client workaround: a message without a blank line after its header gets one at its end. */
  ensureHeaderEnd: boolean;
  /** A lock whose mtime is older than this is stale, on any host (0: only dead local pids). */
  lockStaleMs: number;
  /** Bytes read per hand-off: a message up to this size is read in one. */
  chunkSize: number;
}

const TASKS = new URL('./tasks.js', import.meta.url);
const OPEN = task(TASKS, 'open', { batch: true });
const READ = task(TASKS, 'read');
const UPDATE = task(TASKS, 'update');
/** QUIT with few messages marked (the common case) is short enough to share a hand-off. */
const UPDATE_SHORT = task(TASKS, 'update', { batch: true });
const SHORT_UPDATE_MAX = 16;
const READ_WINDOW = task(TASKS, 'readWindow');
const RELEASE = task(TASKS, 'release', { batch: true });
/** Idle chunk buffers kept for the next long RETR: 8 × 1 MB at the default read_chunk. */
const chunks = new ChunkPool(8);
const TOUCH = task(TASKS, 'touch', { batch: true });

/** Thrown by `read` when the message file vanished (removed by another program). */
export class MessageGoneError extends Error {
  readonly code = 'MESSAGE_GONE';
}

/** What the last open did, for tests and the benchmark: `{ fromCache: true, scanned: 0 }` is the cheap case. */
export interface OpenedMaildrop extends Maildrop {
  readonly counters: ScanCounters;
  readonly dir: string;
}

/** A Maildir++ folder name: no '/', no leading or trailing '.', no '..', no control characters. */
export function validFolder(name: string): boolean {
  return /^[^/\x00-\x1f.](?:[^/\x00-\x1f]*[^/\x00-\x1f.])?$/.test(name) && !name.includes('..');
}

export function createMaildirStore(config: () => MaildirStoreConfig, workers: WorkerPool): MaildropStore {
  const nextOwner = lockOwners();

  return {
    async open(path: string, options: OpenOptions): Promise<OpenResult> {
      const cfg = config();
      const root = path.length > 1 ? path.replace(/\/+$/, '') : path;
      let dir = root;
      if (options.folder !== undefined && options.folder !== '') {
        if (!validFolder(options.folder)) {
          return {
            ok: false,
            reason: 'temporary',
            detail: `invalid folder name ${JSON.stringify(options.folder)}`,
          };
        }
        dir = `${root}/.${options.folder}`;
      }
      const owner = nextOwner();
      const wire: WireOptions = { stripNul: cfg.stripNul, ensureHeaderEnd: cfg.ensureHeaderEnd };
      let r: OpenOutput;
      try {
        r = await workers.offload<OpenInput, OpenOutput>(options.session, OPEN, {
          dir,
          owner,
          lockStaleMs: cfg.lockStaleMs,
          wire,
        });
      } catch (e) {
        return { ok: false, reason: 'temporary', detail: `maildrop open failed: ${(e as Error).message}` };
      }
      if (!r.ok) return r;
      const trashDir = cfg.deleteMode === 'move' ? `${root}/.${cfg.trashFolder}` : null;
      const maildrop = new MaildirDrop(workers, dir, owner, r, wire, cfg, trashDir, options.log);
      return { ok: true, maildrop };
    },
  };
}

class MaildirDrop implements OpenedMaildrop {
  readonly messages: readonly MessageInfo[];
  readonly totalSize: number;
  readonly counters: ScanCounters;
  /**
   * Current file names (relative to the Maildir), split from `namesBlock` on first use: a poll
   * that only asks STAT/UIDL never needs them. Updated when a read finds a file renamed.
   */
  private namesList: string[] | null = null;
  private namesBlock: string;
  private readonly stamps: UpdateInput['stamps'];
  private refresh: NodeJS.Timeout | undefined;
  private closed = false;
  /** RETR read-ahead: the window and, once it runs low, the next (sizes: windowSize in read-ahead.ts). */
  private ahead: ReadAhead | null = null;

  constructor(
    private readonly workers: WorkerPool,
    readonly dir: string,
    private readonly owner: LockOwner,
    r: Extract<OpenOutput, { ok: true }>,
    private readonly wire: WireOptions,
    private readonly cfg: MaildirStoreConfig,
    private readonly trashDir: string | null,
    private readonly log: Logger,
  ) {
    const n = r.sizes.length;
    this.namesBlock = n === 0 ? '' : r.names;
    const list = messageList(r.uids, r.sizes);
    this.messages = list.messages;
    this.totalSize = list.totalSize;
    this.counters = r.counters;
    this.stamps = r.stamps;
    if (cfg.lockStaleMs > 0) {
      // Keep the lock's mtime fresh so no other host judges a long (idle) session's lock stale.
      const every = Math.max(1000, Math.floor(cfg.lockStaleMs / 3));
      this.refresh = setInterval(() => this.touch(), every);
      this.refresh.unref();
    }
  }

  private get names(): string[] {
    if (this.namesList === null) {
      this.namesList = this.namesBlock === '' ? [] : this.namesBlock.split('\n');
      this.namesBlock = '';
    }
    return this.namesList;
  }

  private touch(): void {
    const input: UnlockInput = { dir: this.dir, owner: this.owner };
    this.workers.run<UnlockInput, boolean>(TOUCH, input).then(
      (ours) => {
        if (!ours) this.log.warn({ maildrop: this.dir }, 'maildrop lock was taken over by another session');
      },
      (e: unknown) => this.log.warn({ err: e, maildrop: this.dir }, 'maildrop lock refresh failed'),
    );
  }

  async *read(index: number, lines: number | null, session: DelayCounter): AsyncIterable<Buffer> {
    const d = { closed: this.closed, count: this.messages.length, ahead: this.ahead };
    const got = await readFromWindow(d, index, lines, () => this.readCached(index, session));
    if (got !== undefined) {
      if (got.length > 0) yield got;
      return;
    }
    const names = this.names;
    const chunkSize = Math.max(4096, this.cfg.chunkSize);
    const base: ReadInput = {
      dir: this.dir,
      name: names[index],
      offset: 0,
      state: null,
      lines,
      chunkSize,
      wire: this.wire,
    };
    if (lines === null && index + 1 < names.length) {
      const first = windowSize(1, chunkSize);
      base.ahead = names.slice(index + 1, index + 1 + first.messages);
      base.aheadBytes = first.bytes;
    }
    // A message that takes more than one read is read into pooled chunk buffers (chunk-pool.ts).
    const room = maxOutput(chunkSize);
    const pooled = (input: ReadInput): Promise<ReadOutput> => {
      const reuse = input.offset > 0 || this.messages[index].size > chunkSize ? chunks.take(room) : undefined;
      if (reuse !== undefined) input.reuse = reuse;
      return this.workers.offload<ReadInput, ReadOutput>(
        session,
        READ,
        input,
        reuse === undefined ? undefined : [reuse],
      );
    };
    let pending: Promise<ReadOutput> | null = pooled(base);
    try {
      while (pending !== null) {
        const r: ReadOutput = await pending;
        pending = null;
        if (r.gone) throw new MessageGoneError(`message ${index + 1} is gone from the maildrop`);
        if (r.renamed !== undefined) this.names[index] = r.renamed;
        // Read the next chunk while this one goes to the socket: about three chunk buffers in use
        // (one being filled, one or two with the socket), whatever the message size.
        if (!r.done) {
          pending = pooled({
            ...base,
            name: this.names[index],
            offset: r.offset,
            state: r.state,
            ahead: undefined,
          });
        } else if (lines === null) {
          this.checkSize(index, r.state.size);
        }
        const brought = broughtWindow(r);
        if (brought !== undefined && !this.closed) this.window().replace(index + 1, brought);
        if (r.chunk === true) chunks.adopt(r.buf);
        if (r.length > 0) yield Buffer.from(r.buf, 0, r.length);
      }
    } finally {
      // The consumer stopped early (connection closed): do not leave a rejection unhandled.
      if (pending !== null) (pending as Promise<ReadOutput>).catch(() => undefined);
    }
  }

  readCached(index: number, session: DelayCounter): Buffer | undefined {
    const got = this.ahead?.take(index, session);
    if (got === undefined) return undefined;
    this.checkSize(index, got.size);
    return got.buf;
  }

  /** Made at the first window: a session that never RETRs (most polls) does not carry one. */
  private window(): ReadAhead {
    this.ahead ??= newReadAhead(
      this.messages.length,
      (from, scale, session) => this.readWindow(from, scale, session),
      this.log,
      this.dir,
    );
    return this.ahead;
  }

  /** The window from message `from` on, read in the background. */
  private async readWindow(from: number, scale: number, session: DelayCounter): Promise<Window> {
    const size = windowSize(scale, this.cfg.chunkSize);
    const input: WindowInput = {
      dir: this.dir,
      names: this.names.slice(from, from + size.messages),
      bytes: size.bytes,
      wire: this.wire,
    };
    const r = await this.workers.offload<WindowInput, WindowOutput>(session, READ_WINDOW, input);
    return { ...r, at: 0 };
  }

  recycle(chunk: Buffer): void {
    chunks.give(chunk);
  }

  private checkSize(index: number, sent: number): void {
    if (sent === this.messages[index].size) return;
    this.log.warn(
      { maildrop: this.dir, file: this.names[index], listed: this.messages[index].size, sent },
      'message size differs from its listed size (a wrong size hint in the name?)',
    );
  }

  async update(deleted: ReadonlySet<number>, session: DelayCounter): Promise<UpdateResult> {
    if (this.closed) throw new Error('maildrop is closed');
    this.close();
    const marked: UpdateInput['deleted'] = [];
    for (const i of deleted) {
      if (i >= 0 && i < this.messages.length)
        marked.push({ name: this.names[i], size: this.messages[i].size });
    }
    const ref = marked.length <= SHORT_UPDATE_MAX ? UPDATE_SHORT : UPDATE;
    const r = await this.workers.offload<UpdateInput & UnlockInput, UpdateOutput>(session, ref, {
      dir: this.dir,
      owner: this.owner,
      trashDir: this.trashDir,
      deleted: marked,
      stamps: this.stamps,
    });
    return {
      deleted: r.deleted,
      deletedBytes: r.deletedBytes,
      failed: r.failed,
      left: this.messages.length - r.deleted,
      leftBytes: this.totalSize - r.deletedBytes,
    };
  }

  async release(session: DelayCounter): Promise<void> {
    if (this.closed) return;
    this.close();
    await this.workers.offload<UnlockInput, boolean>(session, RELEASE, { dir: this.dir, owner: this.owner });
  }

  private close(): void {
    this.closed = true;
    this.ahead?.close();
    if (this.refresh) clearInterval(this.refresh);
    this.refresh = undefined;
  }
}
