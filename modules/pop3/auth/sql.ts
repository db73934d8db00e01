// The SQL Authenticator: r2d2's maildrop query, run with bound parameters, one query per login.
//
// The row: the column named `maildrop` (any case), else the first column, is the Maildir path
// (relative paths are taken under maildir_root; anything resolving outside it is refused). If the
// row has a `password` column, the password is verified here, in the worker pool; without one the
// query itself decided (r2d2 style, e.g. `Password=PASSWORD('%p')`).
//
// APOP needs the plaintext: a `password` column holding `{PLAIN}`/`{CLEARTEXT}` or a bare value
// that is not a crypt hash (see src/auth/passwords.ts). A query that needs %p cannot serve APOP.
//
// Nothing about a user is cached between logins (only the compiled query), so a changed password
// or a disabled account takes effect on the next login.

import { createHash } from 'node:crypto';
import { isAbsolute } from 'node:path';
import type { Database, WorkerPool } from '../../../src/api.js';
import { underRoot } from '../../../src/auth/maildrop.js';
import { constantTimeEqual, storedPlaintext } from '../../../src/auth/passwords.js';
import { type CompiledQuery, compileQuery, loginValues, QueryFormatError } from '../../../src/auth/query.js';
import { verifyTask } from '../../../src/auth/task-refs.js';
import type { VerifyInput } from '../../../src/auth/tasks.js';
import type { Authenticator, AuthResult, Credentials, LoginContext } from '../seams.js';

export interface SqlAuthConfig {
  /** maildrop_query_format_string. */
  query: string;
  /** popserv loginfo.query, run after each successful login (%p is refused here). */
  loginLogQuery?: string;
  /** Absolute; every maildrop must resolve under it. */
  maildirRoot: string;
}

export interface SqlAuthDeps {
  config: () => SqlAuthConfig;
  database: () => Database;
  workers: WorkerPool;
}

/**
 * Check a configuration at load/reload time; throws QueryFormatError naming the option and the
 * problem (unknown %x escape, bare `?`, unterminated literal, %p in the login-log query...).
 */
export function validateSqlAuthConfig(cfg: SqlAuthConfig): void {
  try {
    compileQuery(cfg.query);
  } catch (e) {
    throw new QueryFormatError(`maildrop query: ${(e as Error).message}`);
  }
  if (cfg.loginLogQuery) {
    let q: CompiledQuery;
    try {
      q = compileQuery(cfg.loginLogQuery);
    } catch (e) {
      throw new QueryFormatError(`login-log query: ${(e as Error).message}`);
    }
    if (q.uses.has('password')) {
      throw new QueryFormatError('login-log query: %p is not available there (passwords are never logged)');
    }
  }
  if (!isAbsolute(cfg.maildirRoot)) {
    throw new QueryFormatError(`maildir_root must be an absolute path, got "${cfg.maildirRoot}"`);
  }
}

// Verified against for an unknown user once rows are known to carry passwords, so that a missing
// user costs about what a wrong password costs (a random password nobody knows).
const DUMMY_HASH =
  '{SHA512-CRYPT}$6$MUQT2rIukmRNOR9p$eTaliblthqqZg1iLDqW18t4sHGIZKJcHgVPwVRtoV2OlbqIGlH7LqzEnVwKo8Gcf0p/8XYDq/HJZPRMt8a8uN/';

const INVALID: AuthResult = { ok: false, reason: 'invalid' };

export function createSqlAuthenticator(deps: SqlAuthDeps): Authenticator {
  let rowsCarryPasswords = false;

  async function verifyInWorker(ctx: LoginContext, input: VerifyInput): Promise<boolean> {
    return deps.workers.offload<VerifyInput, boolean>(ctx.session, verifyTask, input);
  }

  async function login(cred: Credentials, ctx: LoginContext): Promise<AuthResult> {
    const cfg = deps.config();
    let q: CompiledQuery;
    try {
      q = compileQuery(cfg.query);
    } catch (e) {
      return { ok: false, reason: 'permanent', detail: `maildrop query: ${(e as Error).message}` };
    }
    // APOP never carries the password, so a query that needs it cannot match.
    if (cred.kind === 'apop' && q.uses.has('password')) return INVALID;

    const password = cred.kind === 'plain' ? cred.password : '';
    let rows: Record<string, unknown>[];
    try {
      rows = await deps.database().query(q.sql, q.bind(loginValues(cred.user, password, ctx.remoteAddress)));
    } catch (e) {
      return { ok: false, reason: 'temporary', detail: dbDetail(e, password) };
    }

    const row = rows[0];
    if (row === undefined) {
      if (rowsCarryPasswords && cred.kind === 'plain') {
        await verifyInWorker(ctx, { plain: password, stored: DUMMY_HASH }).catch(() => false);
      }
      return INVALID;
    }

    const keys = Object.keys(row);
    const pwKey = keys.find((k) => k.toLowerCase() === 'password');
    const mdKey = keys.find((k) => k.toLowerCase() === 'maildrop') ?? keys[0];

    if (pwKey !== undefined) {
      rowsCarryPasswords = true;
      const stored = asText(row[pwKey]);
      if (stored === null || stored === '') return INVALID;
      if (cred.kind === 'plain') {
        // A plaintext value costs one constant-time compare: no worker hand-off (~25 % of a cheap
        // session's). Every hashed scheme is CPU work and goes to the pool.
        const clear = storedPlaintext(stored);
        let ok: boolean;
        if (clear !== null) {
          ok = password !== '' && constantTimeEqual(password, clear);
        } else {
          try {
            ok = await verifyInWorker(ctx, { plain: password, stored });
          } catch (e) {
            return {
              ok: false,
              reason: 'temporary',
              detail: `password check failed: ${(e as Error).message}`,
            };
          }
        }
        if (!ok) return INVALID;
      } else if (!apopMatches(cred.banner, cred.digest, stored)) {
        return INVALID;
      }
    } else if (cred.kind === 'apop') {
      return INVALID;
    } else if (!q.uses.has('password')) {
      // Neither the query nor this code looked at the password: fail closed, never log anyone in.
      return {
        ok: false,
        reason: 'permanent',
        detail: 'the maildrop query neither uses %p nor returns a password column',
      };
    }

    const value = mdKey === undefined ? null : asText(row[mdKey]);
    if (value === null || value === '') {
      return { ok: false, reason: 'permanent', detail: `no maildrop in the row for "${cred.user}"` };
    }
    const maildrop = underRoot(cfg.maildirRoot, value);
    if (maildrop === null) {
      return {
        ok: false,
        reason: 'permanent',
        detail: `maildrop "${value}" of "${cred.user}" is outside maildir_root ${cfg.maildirRoot}`,
      };
    }
    return { ok: true, user: cred.user, maildrop };
  }

  async function recordLogin(user: string, ctx: LoginContext): Promise<void> {
    const sql = deps.config().loginLogQuery;
    if (!sql) return;
    try {
      const q = compileQuery(sql);
      if (q.uses.has('password')) throw new QueryFormatError('%p is not available in the login-log query');
      await deps.database().execute(q.sql, q.bind(loginValues(user, '', ctx.remoteAddress)));
    } catch (e) {
      ctx.log.warn({ user, detail: dbDetail(e, '') }, 'login-log query failed');
    }
  }

  return {
    login,
    recordLogin,
    get apopCapable(): boolean {
      try {
        return !compileQuery(deps.config().query).uses.has('password');
      } catch {
        return false;
      }
    },
  };
}

/** RFC 1939 APOP: the digest is md5(banner + password) in lower-case hex. */
export function apopMatches(banner: string, digest: string, stored: string): boolean {
  const plain = storedPlaintext(stored);
  if (plain === null) return false;
  const want = createHash('md5').update(banner, 'utf8').update(plain, 'utf8').digest('hex');
  return constantTimeEqual(digest.toLowerCase(), want);
}

function asText(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  if (v instanceof Uint8Array) return Buffer.from(v).toString('utf8');
  return null;
}

/** Error text for the log, with the password taken out should a driver have echoed it. */
function dbDetail(e: unknown, password: string): string {
  const err = e as { code?: unknown; message?: unknown };
  const code = typeof err?.code === 'string' ? `${err.code}: ` : '';
  let msg = typeof err?.message === 'string' ? err.message : String(e);
  if (password !== '') msg = msg.split(password).join('***');
  return `${code}${msg}`;
}
