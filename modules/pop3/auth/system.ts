// The system-users Authenticator (popa3d, nupop): /etc/passwd + /etc/shadow crypt hashes, checked
// in the worker pool (auth/system-tasks.ts; hashes verified by src/auth/passwords.ts: SHA-512,
// SHA-256, MD5, bcrypt and DES crypt). Accounts below `minUid` (system accounts) are refused like
// a wrong password. The maildrop comes from a template: `%u` user, `%h` or a leading `~` the home
// directory, `%%` a percent; e.g. `/var/mail/%u` (mbox) or `~/Maildir` (Maildir).
//
// yescrypt (`$y$`, Debian 11+'s default) and other hashes without a well-kept JS implementation
// never match; the first such refusal is logged so the administrator can switch the account to
// SHA-512 (`ENCRYPT_METHOD SHA512` in login.defs, or `openssl passwd -6`).
import { isAbsolute, normalize } from 'node:path';
import { task, type WorkerPool } from '../../../src/api.js';
import type { Authenticator, AuthResult, Credentials, LoginContext } from '../seams.js';
import type { SystemLoginInput, SystemLoginOutput } from './system-tasks.js';

export interface SystemAuthConfig {
  passwdFile: string;
  shadowFile: string;
  /** Mail path template. */
  mailPath: string;
  minUid: number;
}

const LOGIN = task(new URL('./system-tasks.js', import.meta.url), 'systemLogin');

/** POSIX-ish login names: nothing that could walk out of a path template or break a passwd line. */
const USER_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$/;

const INVALID: AuthResult = { ok: false, reason: 'invalid' };

/** The template with its substitutions; null when the result is not an absolute path. */
export function mailPath(template: string, user: string, home: string): string | null {
  let t = template;
  if (t === '~' || t.startsWith('~/')) t = `%h${t.slice(1)}`;
  const out = t.replace(/%([uh%])/g, (_, c: string) => (c === 'u' ? user : c === 'h' ? home : '%'));
  if (!isAbsolute(out)) return null;
  // Keep a trailing slash (a Maildir by Postfix's convention); normalize the rest.
  return normalize(out);
}

export function createSystemAuthenticator(
  config: () => SystemAuthConfig,
  workers: WorkerPool,
): Authenticator {
  const warned = new Set<string>();
  return {
    apopCapable: false,
    async login(cred: Credentials, ctx: LoginContext): Promise<AuthResult> {
      if (cred.kind !== 'plain' || !USER_NAME.test(cred.user) || cred.password === '') return INVALID;
      const cfg = config();
      const r = await workers.offload<SystemLoginInput, SystemLoginOutput>(ctx.session, LOGIN, {
        user: cred.user,
        password: cred.password,
        passwdFile: cfg.passwdFile,
        shadowFile: cfg.shadowFile,
        minUid: cfg.minUid,
      });
      if (!r.ok) {
        if (r.reason === 'temporary') return r;
        if (r.scheme !== undefined && !warned.has(r.scheme)) {
          warned.add(r.scheme);
          ctx.log.warn(
            { user: cred.user, scheme: `$${r.scheme}$` },
            'system password hash scheme not supported; rehash with SHA-512 crypt',
          );
        }
        return INVALID;
      }
      const maildrop = mailPath(cfg.mailPath, cred.user, r.home);
      if (maildrop === null) {
        return {
          ok: false,
          reason: 'permanent',
          detail: `mail path template "${cfg.mailPath}" gives no absolute path`,
        };
      }
      return { ok: true, user: cred.user, maildrop };
    },
  };
}
