// Database pools by `[database.ID]`: SQLite through the worker pool, MySQL/MariaDB through mysql2.
import { readFile } from 'node:fs/promises';
import mysql, {
  type ExecuteValues,
  type Pool as MysqlPool,
  type PoolOptions,
  type ResultSetHeader,
} from 'mysql2/promise';
import type { Database, DatabaseStats, Logger, WorkerPool } from '../api.js';
import { HostError } from '../errors.js';
import type { SqliteExecuteResult, SqliteFailure, SqliteQueryResult } from '../worker/sqlite.js';

export type DatabaseConfig =
  | {
      driver: 'sqlite';
      path: string /*absolute*/;
      init?: string /*absolute .sql path run when the file is created*/;
    }
  | {
      driver: 'mysql';
      host: string;
      port: number;
      socket?: string;
      user: string;
      password?: string;
      database: string;
      minConns: number;
      maxConns: number;
      connectTimeoutMs: number;
      tls?: { caFile?: string; rejectUnauthorized: boolean };
    };

export type OpenDatabase = Database & { close(): Promise<void> };

type Row = Record<string, unknown>;

export function openDatabase(
  id: string,
  cfg: DatabaseConfig,
  workers: WorkerPool,
  log: Logger,
): Promise<OpenDatabase> {
  return cfg.driver === 'sqlite' ? openSqlite(id, cfg, workers, log) : openMysql(id, cfg, log);
}

// ---------------------------------------------------------------- SQLite

const SQLITE_TASKS = new URL('../worker/sqlite.js', import.meta.url).href;
const sqliteTask = (name: string) => ({ file: SQLITE_TASKS, name, batch: true });
const OPEN = sqliteTask('sqliteOpen');
const QUERY = sqliteTask('sqliteQuery');
const EXECUTE = sqliteTask('sqliteExecute');

/** Locked, full or unreadable: try again later. Anything else is the query's fault. */
const SQLITE_TEMPORARY = /^SQLITE_(BUSY|LOCKED|CANTOPEN|IOERR|FULL|NOMEM|PROTOCOL)/;

function sqliteError(id: string, f: SqliteFailure): HostError {
  const code = SQLITE_TEMPORARY.test(f.error.code) ? 'DB_UNAVAILABLE' : 'DB_QUERY';
  return new HostError(code, `database ${id}: ${f.error.message} (${f.error.code})`);
}

/** A BLOB crosses the thread boundary as a Uint8Array; hand Buffers back like mysql2 does. */
function withBuffers(rows: Row[]): Row[] {
  for (const row of rows) {
    for (const k in row) {
      const v = row[k];
      if (v instanceof Uint8Array && !Buffer.isBuffer(v))
        row[k] = Buffer.from(v.buffer, v.byteOffset, v.length);
    }
  }
  return rows;
}

async function openSqlite(
  id: string,
  cfg: Extract<DatabaseConfig, { driver: 'sqlite' }>,
  workers: WorkerPool,
  log: Logger,
): Promise<OpenDatabase> {
  const opened = await workers.run<{ path: string; init?: string }, { created: boolean } | SqliteFailure>(
    OPEN,
    {
      path: cfg.path,
      init: cfg.init,
    },
  );
  if ('error' in opened) throw sqliteError(id, opened);
  log.info({ database: id, driver: 'sqlite', path: cfg.path, created: opened.created }, 'database opened');

  const path = cfg.path;
  let queries = 0;
  let errors = 0;
  let busy = 0;

  async function call<R extends object>(ref: typeof QUERY, sql: string, params?: readonly unknown[]) {
    queries++;
    busy++;
    try {
      const r = await workers.run<
        { path: string; sql: string; params?: readonly unknown[] },
        R | SqliteFailure
      >(ref, { path, sql, params });
      if ('error' in r) throw sqliteError(id, r);
      return r;
    } catch (e) {
      errors++;
      throw e instanceof HostError
        ? e
        : new HostError('DB_UNAVAILABLE', `database ${id}: ${String(e)}`, { cause: e });
    } finally {
      busy--;
    }
  }

  return {
    id,
    driver: 'sqlite',
    async query<R extends Row = Row>(sql: string, params?: readonly unknown[]): Promise<R[]> {
      const r = await call<Extract<SqliteQueryResult, { rows: unknown }>>(QUERY, sql, params);
      return withBuffers(r.rows) as R[];
    },
    async execute(sql: string, params?: readonly unknown[]) {
      const r = await call<Extract<SqliteExecuteResult, { affectedRows: number }>>(EXECUTE, sql, params);
      return { affectedRows: r.affectedRows };
    },
    stats(): DatabaseStats {
      // Every worker thread holds its own handle: the pool is the worker pool.
      const w = workers.stats();
      return { id, driver: 'sqlite', min: w.min, max: w.max, busy, total: w.threads, queries, errors };
    },
    close: async () => {},
  };
}

// ---------------------------------------------------------------- MySQL / MariaDB

interface MysqlError {
  code?: string;
  sqlMessage?: string;
  fatal?: boolean;
  message?: string;
}

/** A server's answer to a query (syntax, constraint) is DB_QUERY; no answer at all is DB_UNAVAILABLE. */
function mysqlError(id: string, e: unknown): HostError {
  const err = (e ?? {}) as MysqlError;
  const what = `database ${id}: ${err.sqlMessage ?? err.message ?? String(e)}${err.code ? ` (${err.code})` : ''}`;
  const query = err.sqlMessage !== undefined && err.fatal !== true;
  return new HostError(query ? 'DB_QUERY' : 'DB_UNAVAILABLE', what, { cause: e });
}

/** execute() (server-side prepared) rejects undefined; booleans travel as integers. */
function mysqlParams(params: readonly unknown[] | undefined): ExecuteValues[] {
  if (params === undefined) return [];
  return params.map(
    (p) => (p === undefined ? null : typeof p === 'boolean' ? (p ? 1 : 0) : p) as ExecuteValues,
  );
}

async function openMysql(
  id: string,
  cfg: Extract<DatabaseConfig, { driver: 'mysql' }>,
  log: Logger,
): Promise<OpenDatabase> {
  const options: PoolOptions = {
    user: cfg.user,
    password: cfg.password,
    database: cfg.database,
    connectionLimit: Math.max(1, cfg.maxConns),
    maxIdle: Math.max(1, cfg.minConns),
    idleTimeout: 60_000,
    waitForConnections: true,
    queueLimit: 0,
    connectTimeout: cfg.connectTimeoutMs,
    enableKeepAlive: true,
    supportBigNumbers: true,
    charset: 'utf8mb4',
  };
  if (cfg.socket) options.socketPath = cfg.socket;
  else {
    options.host = cfg.host;
    options.port = cfg.port;
  }
  if (cfg.tls) {
    let ca: string | undefined;
    if (cfg.tls.caFile) {
      try {
        ca = await readFile(cfg.tls.caFile, 'utf8');
      } catch (e) {
        throw new HostError(
          'CONFIG',
          `database ${id}: TLS CA file ${cfg.tls.caFile}: ${(e as Error).message}`,
          {
            cause: e,
          },
        );
      }
    }
    options.ssl = { rejectUnauthorized: cfg.tls.rejectUnauthorized, ...(ca === undefined ? {} : { ca }) };
  }
  const pool: MysqlPool = mysql.createPool(options);
  // Internal counters of mysql2's pool, read for the status report only.
  const core = (
    pool as unknown as {
      pool: { _allConnections?: { length: number }; _freeConnections?: { length: number } };
    }
  ).pool;
  const where = cfg.socket ?? `${cfg.host}:${cfg.port}`;
  let queries = 0;
  let errors = 0;

  // Warm min_conns; a server that is down now must not stop the host from starting.
  const warm = await Promise.allSettled(
    Array.from({ length: Math.max(0, cfg.minConns) }, () => pool.getConnection()),
  );
  for (const r of warm) if (r.status === 'fulfilled') r.value.release();
  const failed = warm.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    log.warn(
      { database: id, driver: 'mysql', server: where, err: mysqlError(id, failed.reason).message },
      'database unavailable at start; queries will fail until it is back',
    );
  } else {
    log.info({ database: id, driver: 'mysql', server: where, warm: cfg.minConns }, 'database opened');
  }

  async function run<T>(f: () => Promise<T>): Promise<T> {
    queries++;
    try {
      return await f();
    } catch (e) {
      errors++;
      throw mysqlError(id, e);
    }
  }

  return {
    id,
    driver: 'mysql',
    query<R extends Row = Row>(sql: string, params?: readonly unknown[]): Promise<R[]> {
      return run(async () => {
        // execute: a real server-side bound statement, prepared once per connection and cached.
        const values = mysqlParams(params);
        const [rows] = await pool.execute(sql, values).catch((e: MysqlError) => {
          // A statement the binary protocol cannot prepare: the text protocol still escapes each `?`.
          if (e?.code === 'ER_UNSUPPORTED_PS') return pool.query(sql, values);
          throw e;
        });
        return (Array.isArray(rows) ? rows : []) as unknown as R[];
      });
    },
    execute(sql: string, params?: readonly unknown[]) {
      return run(async () => {
        // query: DDL and statements the binary protocol cannot prepare; values still escaped as `?`.
        const [res] = await pool.query(sql, mysqlParams(params));
        const header = (Array.isArray(res) ? res[0] : res) as ResultSetHeader | undefined;
        return { affectedRows: header?.affectedRows ?? 0 };
      });
    },
    stats(): DatabaseStats {
      const total = core._allConnections?.length ?? 0;
      const free = core._freeConnections?.length ?? 0;
      return {
        id,
        driver: 'mysql',
        min: cfg.minConns,
        max: cfg.maxConns,
        busy: Math.max(0, total - free),
        total,
        queries,
        errors,
      };
    },
    close: () => pool.end(),
  };
}
