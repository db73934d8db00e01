// Worker tasks of the delivery routine: synchronous fs, run in the host's worker pool. Each returns
// a result instead of throwing, so the errno code (ENOSPC, EDQUOT...) survives the thread hop.
import {
  closeSync,
  constants,
  copyFileSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { maildirName, sizeFromName } from './name.js';

export type TaskStatus = { ok: true } | { ok: false; code: string; message: string };

function failed(e: unknown): { ok: false; code: string; message: string } {
  const err = e as NodeJS.ErrnoException;
  return {
    ok: false,
    code: typeof err?.code === 'string' ? err.code : 'EIO',
    message: String(err?.message ?? e),
  };
}

const SUBDIRS = ['tmp', 'new', 'cur'] as const;

/** The three Maildir subdirectories exist (created when `create`); NO_MAILDIR when missing. */
function ensureMaildir(dir: string, create: boolean): TaskStatus {
  try {
    for (const sub of SUBDIRS) {
      if (!statSync(join(dir, sub)).isDirectory())
        return { ok: false, code: 'NO_MAILDIR', message: `${dir}/${sub} is not a directory` };
    }
    return { ok: true };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return failed(e);
    if (!create) return { ok: false, code: 'NO_MAILDIR', message: `no Maildir at ${dir}` };
  }
  try {
    for (const sub of SUBDIRS) mkdirSync(join(dir, sub), { recursive: true, mode: 0o700 });
    return { ok: true };
  } catch (e) {
    return failed(e);
  }
}

export interface PrepareInput {
  maildirs: readonly string[];
  create: boolean;
  /** Base name of the file in tmp/ (unique, like a final name). */
  tmpName: string;
}
export interface PrepareOutput {
  /** Per maildir, in input order. */
  statuses: TaskStatus[];
  /** Open for writing (O_EXCL) in the first usable maildir's tmp/; -1 when none is usable. */
  fd: number;
  tmpPath: string;
  /** Index of the maildir holding the tmp file. */
  home: number;
}

/** Checks (or creates) every recipient's Maildir and opens the one tmp file the message streams to. */
export function prepare(input: PrepareInput): PrepareOutput {
  const seen = new Map<string, TaskStatus>();
  const statuses = input.maildirs.map((dir) => {
    let s = seen.get(dir);
    if (!s) {
      s = ensureMaildir(dir, input.create);
      seen.set(dir, s);
    }
    return s;
  });
  for (let i = 0; i < statuses.length; i++) {
    if (!statuses[i].ok) continue;
    const tmpPath = join(input.maildirs[i], 'tmp', input.tmpName);
    try {
      const fd = openSync(tmpPath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
      return { statuses, fd, tmpPath, home: i };
    } catch (e) {
      statuses[i] = failed(e);
    }
  }
  return { statuses, fd: -1, tmpPath: '', home: -1 };
}

export interface WriteInput {
  fd: number;
  data: ArrayBuffer;
  length: number;
}

/** Appends one chunk (already LF line ends). */
export function write(input: WriteInput): TaskStatus {
  try {
    const bytes = new Uint8Array(input.data, 0, input.length);
    let off = 0;
    while (off < bytes.length) off += writeSync(input.fd, bytes, off, bytes.length - off);
    return { ok: true };
  } catch (e) {
    return failed(e);
  }
}

export interface CommitInput {
  fd: number;
  tmpPath: string;
  /** Recipients' Maildirs (duplicates allowed: each gets its own copy) and the base name to use. */
  maildirs: readonly string[];
  name: string;
  /** Maildirs whose tmp/ should be swept of leftovers older than `tmpMaxAgeMs`. */
  sweep: readonly string[];
  tmpMaxAgeMs: number;
  nowMs: number;
}
export type CommitResult = { ok: true; path: string } | { ok: false; code: string; message: string };

function fsyncPath(path: string): void {
  const fd = openSync(path, constants.O_RDONLY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** A name not yet used in `dir`: the given one, else a fresh one with the same size. */
function linkFresh(src: string, dir: string, name: string): string {
  let candidate = name;
  for (let attempt = 0; ; attempt++) {
    const dest = join(dir, 'new', candidate);
    try {
      linkSync(src, dest); // link() never overwrites: EEXIST instead
      return dest;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 8) throw e;
      candidate = maildirName(sizeFromName(name) ?? 0);
    }
  }
}

/** A file that cannot be hard-linked (other filesystem): copied into that Maildir's tmp/, fsynced. */
function copyInto(src: string, dir: string, name: string): string {
  const tmp = join(dir, 'tmp', name);
  copyFileSync(src, tmp, constants.COPYFILE_EXCL);
  try {
    fsyncPath(tmp);
    return linkFresh(tmp, dir, name);
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // already gone: nothing to clean
    }
  }
}

const NO_LINK = new Set(['EXDEV', 'EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EMLINK']);

/** fsync + close the tmp file, link it into each `new/`, fsync those directories, drop the tmp name. */
export function commit(input: CommitInput): CommitResult[] {
  try {
    fsyncSync(input.fd);
  } catch (e) {
    closeQuietly(input.fd);
    unlinkQuietly(input.tmpPath);
    const f = failed(e);
    return input.maildirs.map(() => f);
  }
  closeSync(input.fd);
  const synced = new Set<string>();
  const results = input.maildirs.map((dir): CommitResult => {
    try {
      let path: string;
      try {
        path = linkFresh(input.tmpPath, dir, input.name);
      } catch (e) {
        if (!NO_LINK.has((e as NodeJS.ErrnoException).code ?? '')) throw e;
        path = copyInto(input.tmpPath, dir, input.name);
      }
      const newDir = join(dir, 'new');
      if (!synced.has(newDir)) {
        fsyncPath(newDir); // the rename/link itself is durable only once the directory is
        synced.add(newDir);
      }
      return { ok: true, path };
    } catch (e) {
      return failed(e);
    }
  });
  unlinkQuietly(input.tmpPath);
  for (const dir of input.sweep) sweepTmp({ maildir: dir, maxAgeMs: input.tmpMaxAgeMs, nowMs: input.nowMs });
  return results;
}

export interface DeliverWholeInput extends PrepareInput {
  data: ArrayBuffer;
  length: number;
  name: string;
  sweep: readonly string[];
  tmpMaxAgeMs: number;
  nowMs: number;
}
export interface DeliverWholeOutput {
  statuses: TaskStatus[];
  /** One per maildir whose status is ok, in order. */
  committed: CommitResult[];
}

/** A message that fits in one chunk: prepare, write and commit in ONE hand-off. */
export function deliverWhole(input: DeliverWholeInput): DeliverWholeOutput {
  const p = prepare(input);
  if (p.fd < 0) return { statuses: p.statuses, committed: [] };
  const w = write({ fd: p.fd, data: input.data, length: input.length });
  const targets = input.maildirs.filter((_, i) => p.statuses[i].ok);
  if (!w.ok) {
    abort({ fd: p.fd, tmpPath: p.tmpPath });
    return { statuses: p.statuses, committed: targets.map(() => w) };
  }
  const committed = commit({
    fd: p.fd,
    tmpPath: p.tmpPath,
    maildirs: targets,
    name: input.name,
    sweep: input.sweep,
    tmpMaxAgeMs: input.tmpMaxAgeMs,
    nowMs: input.nowMs,
  });
  return { statuses: p.statuses, committed };
}

export interface AbortInput {
  fd: number;
  tmpPath: string;
}

/** The message is refused or the client went away: nothing may remain. */
export function abort(input: AbortInput): TaskStatus {
  if (input.fd >= 0) closeQuietly(input.fd);
  if (input.tmpPath) unlinkQuietly(input.tmpPath);
  return { ok: true };
}

export interface SweepInput {
  maildir: string;
  maxAgeMs: number;
  nowMs: number;
}

/** Maildir spec: files in tmp/ untouched for 36 hours are leftovers of dead deliveries. */
export function sweepTmp(input: SweepInput): number {
  const tmp = join(input.maildir, 'tmp');
  let removed = 0;
  let names: string[];
  try {
    names = readdirSync(tmp);
  } catch {
    return 0;
  }
  for (const name of names) {
    const p = join(tmp, name);
    try {
      const st = statSync(p);
      if (!st.isFile()) continue;
      if (input.nowMs - Math.max(st.mtimeMs, st.atimeMs) > input.maxAgeMs) {
        unlinkSync(p);
        removed++;
      }
    } catch {
      // raced with another sweeper or the delivery that owns it: leave it
    }
  }
  return removed;
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}
