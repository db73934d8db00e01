// Reads DIR/c11n against the combined vocabulary: host options at the top, `[database.ID]`
// sections, one section per loaded module. Every problem is collected; the result is frozen.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import ini from 'ini';
import type { ModuleDescriptor } from '../api.js';
import { HostError } from '../errors.js';
import type { DatabaseConfig } from '../pools/databases.js';
import { DATABASE_OPTIONS, type DatabaseOptions, HOST_OPTIONS, type HostOptions } from './host-options.js';
import { type ConfigIssue, formatIssue, typeSection } from './options.js';
import { nearest } from './values.js';

export interface HostConfig {
  /** Absolute personality directory. */
  readonly dir: string;
  readonly host: HostOptions;
  /** `processes` resolved to a count. */
  readonly processCount: number;
  readonly databases: ReadonlyMap<string, DatabaseOptions>;
  /** Typed options per module name (every loaded module has an entry, a missing section = defaults). */
  readonly modules: ReadonlyMap<string, Readonly<Record<string, unknown>>>;
}

export type ConfigResult = { ok: true; config: HostConfig } | { ok: false; issues: ConfigIssue[] };

type Section = Record<string, unknown>;
const isSection = (v: unknown): v is Section => v !== null && typeof v === 'object' && !Array.isArray(v);

export function c11nPath(dir: string): string {
  return join(dir, 'c11n');
}

/** Reads and validates; never throws for a configuration problem (see `issues`). */
export function readConfig(dir: string, modules: readonly ModuleDescriptor[]): ConfigResult {
  let text: string;
  try {
    text = readFileSync(c11nPath(dir), 'utf8');
  } catch (e) {
    return {
      ok: false,
      issues: [{ section: '', key: '', message: `cannot read ${c11nPath(dir)}: ${(e as Error).message}` }],
    };
  }
  return parseConfig(text, dir, modules);
}

/** Same as readConfig, but throws HostError('CONFIG') listing every problem. */
export function loadConfig(dir: string, modules: readonly ModuleDescriptor[]): HostConfig {
  const r = readConfig(dir, modules);
  if (!r.ok) throw configError(r.issues);
  return r.config;
}

export function configError(issues: readonly ConfigIssue[]): HostError {
  const err = new HostError(
    'CONFIG',
    `c11n has ${issues.length} problem(s):\n  ${issues.map(formatIssue).join('\n  ')}`,
  );
  return Object.assign(err, { issues });
}

export function parseConfig(text: string, dir: string, modules: readonly ModuleDescriptor[]): ConfigResult {
  const raw = ini.parse(text) as Section;
  const issues: ConfigIssue[] = [];
  const ctx = { baseDir: dir };
  const byName = new Map(modules.map((m) => [m.name, m]));

  const top: Section = {};
  const moduleRaw = new Map<string, Section>();
  let databaseRaw: Section = {};
  for (const [key, value] of Object.entries(raw)) {
    if (!isSection(value)) {
      top[key] = value;
    } else if (key === 'database') {
      databaseRaw = value;
    } else if (byName.has(key)) {
      moduleRaw.set(key, value);
    } else {
      const hint = nearest(key, ['database', ...byName.keys()]);
      issues.push({
        section: key,
        key: '',
        message: `unknown section: no module of that name is loaded${hint ? ` (did you mean [${hint}]?)` : ''}`,
      });
    }
  }

  const host = typeSection('', HOST_OPTIONS, top, ctx, issues) as HostOptions;
  const processCount = resolveProcesses(host.processes, issues);

  const databases = new Map<string, DatabaseOptions>();
  for (const [id, section] of Object.entries(databaseRaw)) {
    const name = `database.${id}`;
    if (!isSection(section)) {
      issues.push({ section: 'database', key: id, message: `expected a [database.${id}] section` });
      continue;
    }
    const db = typeSection(name, DATABASE_OPTIONS, section, ctx, issues) as DatabaseOptions;
    checkDatabase(name, db, section, issues);
    databases.set(id, db);
  }

  const moduleOptions = new Map<string, Readonly<Record<string, unknown>>>();
  for (const m of modules) {
    moduleOptions.set(m.name, typeSection(m.name, m.options, moduleRaw.get(m.name) ?? {}, ctx, issues));
  }

  if (issues.length > 0) return { ok: false, issues };
  return {
    ok: true,
    config: Object.freeze({ dir, host, processCount, databases, modules: moduleOptions }),
  };
}

function resolveProcesses(value: string, issues: ConfigIssue[]): number {
  if (value === 'auto') return availableParallelism();
  if (/^\d+$/.test(value) && Number(value) >= 1 && Number(value) <= 1024) return Number(value);
  issues.push({
    section: '',
    key: 'processes',
    message: `expected a number from 1 to 1024 or auto, got "${value}"`,
  });
  return 1;
}

const SQLITE_KEYS = new Set(['driver', 'path', 'init']);

function checkDatabase(section: string, db: DatabaseOptions, raw: Section, issues: ConfigIssue[]): void {
  if (db.driver === 'sqlite') {
    if (db.path === undefined)
      issues.push({ section, key: 'path', message: 'is required with driver = sqlite' });
    for (const key of Object.keys(raw)) {
      if (!SQLITE_KEYS.has(key) && Object.hasOwn(DATABASE_OPTIONS, key)) {
        issues.push({ section, key, message: 'applies to driver = mysql only' });
      }
    }
  } else if (db.driver === 'mysql') {
    if (db.user === undefined)
      issues.push({ section, key: 'user', message: 'is required with driver = mysql' });
    if (db.database === undefined)
      issues.push({ section, key: 'database', message: 'is required with driver = mysql' });
    for (const key of ['path', 'init']) {
      if (Object.hasOwn(raw, key)) issues.push({ section, key, message: 'applies to driver = sqlite only' });
    }
    if (db.min_conns > db.max_conns)
      issues.push({ section, key: 'min_conns', message: 'must not exceed max_conns' });
  }
}

/** The pools layer's view of a validated `[database.ID]` section. */
export function toDatabaseConfig(db: DatabaseOptions): DatabaseConfig {
  if (db.driver === 'sqlite') {
    return { driver: 'sqlite', path: db.path as string, ...(db.init !== undefined ? { init: db.init } : {}) };
  }
  return {
    driver: 'mysql',
    host: db.host ?? '127.0.0.1',
    port: db.port,
    ...(db.socket !== undefined ? { socket: db.socket } : {}),
    user: db.user as string,
    ...(db.password !== undefined ? { password: db.password } : {}),
    database: db.database as string,
    minConns: db.min_conns,
    maxConns: db.max_conns,
    connectTimeoutMs: db.connect_timeout,
    ...(db.tls
      ? {
          tls: {
            ...(db.tls_ca_file !== undefined ? { caFile: db.tls_ca_file } : {}),
            rejectUnauthorized: db.tls_reject_unauthorized,
          },
        }
      : {}),
  };
}
