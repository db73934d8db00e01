// SQLite tasks run in the worker pool (better-sqlite3 blocks; the event loop must not). Each worker
// thread keeps one handle per database file and one prepared statement per SQL text.
import { existsSync, linkSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';

// The few parts of better-sqlite3 we use (it ships no types, and @types is not a dependency).
interface Statement {
  readonly reader: boolean;
  all(...params: unknown[]): Record<string, unknown>[];
  run(...params: unknown[]): { changes: number };
}
interface Sqlite {
  prepare(sql: string): Statement;
  pragma(source: string): unknown;
  exec(sql: string): void;
  close(): void;
}
type SqliteCtor = new (path: string, options?: { fileMustExist?: boolean; timeout?: number }) => Sqlite;

/** Failures come back as values: an Error crossing the thread loses its `code`. */
export type SqliteFailure = { error: { code: string; message: string } };
export type SqliteQueryResult = { rows: Record<string, unknown>[] } | SqliteFailure;
export type SqliteExecuteResult = { affectedRows: number } | SqliteFailure;

const BUSY_TIMEOUT_MS = 5000;
const STATEMENT_CACHE = 256;

let Ctor: SqliteCtor | null = null;
function sqlite(): SqliteCtor {
  Ctor ??= createRequire(import.meta.url)('better-sqlite3') as SqliteCtor;
  return Ctor;
}

interface Handle {
  db: Sqlite;
  statements: Map<string, Statement>;
}
const handles = new Map<string, Handle>();

function configure(db: Sqlite): void {
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
}

function handle(path: string): Handle {
  let h = handles.get(path);
  if (h === undefined) {
    // fileMustExist: a database removed under us must fail, not come back empty.
    const db = new (sqlite())(path, { fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
    configure(db);
    h = { db, statements: new Map() };
    handles.set(path, h);
  }
  return h;
}

function statement(h: Handle, sql: string): Statement {
  let s = h.statements.get(sql);
  if (s === undefined) {
    if (h.statements.size >= STATEMENT_CACHE) h.statements.clear();
    s = h.db.prepare(sql);
    h.statements.set(sql, s);
  }
  return s;
}

/** SQLite binds numbers, strings, bigints, Buffers and null; map the rest. */
function bindable(params: readonly unknown[] | undefined): unknown[] {
  if (params === undefined) return [];
  return params.map((p) => {
    if (p === undefined) return null;
    if (typeof p === 'boolean') return p ? 1 : 0;
    if (p instanceof Uint8Array && !Buffer.isBuffer(p)) return Buffer.from(p.buffer, p.byteOffset, p.length);
    return p;
  });
}

function failure(e: unknown): SqliteFailure {
  const err = e as { code?: unknown; message?: unknown };
  return {
    error: {
      code: typeof err.code === 'string' ? err.code : 'SQLITE_ERROR',
      message: typeof err.message === 'string' ? err.message : String(e),
    },
  };
}

/**
 * Create the database file when missing, running `init` once. Built under a temporary name and
 * linked into place, so concurrent processes never see a half-initialised file.
 */
export function sqliteOpen(input: { path: string; init?: string }): { created: boolean } | SqliteFailure {
  try {
    if (existsSync(input.path)) {
      handle(input.path);
      return { created: false };
    }
    mkdirSync(dirname(input.path), { recursive: true });
    const tmp = `${input.path}.init-${process.pid}-${Date.now()}`;
    try {
      const db = new (sqlite())(tmp, { timeout: BUSY_TIMEOUT_MS });
      try {
        if (input.init !== undefined) db.exec(readFileSync(input.init, 'utf8'));
        db.pragma('journal_mode = WAL'); // persistent in the file header
      } finally {
        db.close();
      }
      let created = true;
      try {
        linkSync(tmp, input.path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        created = false; // another process won the race; its file stands
      }
      handle(input.path);
      return { created };
    } finally {
      for (const f of [tmp, `${tmp}-wal`, `${tmp}-shm`]) rmSync(f, { force: true });
    }
  } catch (e) {
    return failure(e);
  }
}

export function sqliteQuery(input: { path: string; sql: string; params?: unknown[] }): SqliteQueryResult {
  try {
    const s = statement(handle(input.path), input.sql);
    const params = bindable(input.params);
    if (s.reader) return { rows: s.all(...params) };
    s.run(...params);
    return { rows: [] };
  } catch (e) {
    return failure(e);
  }
}

export function sqliteExecute(input: { path: string; sql: string; params?: unknown[] }): SqliteExecuteResult {
  try {
    const s = statement(handle(input.path), input.sql);
    const params = bindable(input.params);
    if (s.reader) return { affectedRows: s.all(...params).length };
    return { affectedRows: s.run(...params).changes };
  } catch (e) {
    return failure(e);
  }
}

/** Close this thread's handle (tests, reload of a moved file). */
export function sqliteClose(input: { path: string }): boolean {
  const h = handles.get(input.path);
  if (h === undefined) return false;
  handles.delete(input.path);
  h.db.close();
  return true;
}
