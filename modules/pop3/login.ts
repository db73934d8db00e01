// The one login path behind USER/PASS, APOP and AUTH PLAIN: folder selector, authenticator, failure
// policy, LOGIN-DELAY, then opening the maildrop into TRANSACTION.
import { task } from '../../src/api.js';
import type { Pop3Options } from './options.js';
import { R } from './replies.js';
import type { AuthResult, Credentials, LoginContext, OpenResult } from './seams.js';
import type { Session } from './session.js';
import type { LoginStampInput, LoginStampOutput } from './tasks.js';

const LOGIN_STAMP = task(new URL('./tasks.js', import.meta.url), 'loginStamp');

const folderRegexes = new WeakMap<Pop3Options, RegExp | null>();

/** folder_pattern compiled once per options object; null when unset or invalid. */
function folderRegex(o: Pop3Options): RegExp | null {
  let re = folderRegexes.get(o);
  if (re === undefined) {
    re = null;
    if (o.folder_pattern) {
      try {
        re = new RegExp(o.folder_pattern);
      } catch {
        re = null;
      }
    }
    folderRegexes.set(o, re);
  }
  return re;
}

/** popserv `folder`: the first group names the folder; the whole match leaves the user name. */
export function splitFolder(o: Pop3Options, name: string): { user: string; folder: string | undefined } {
  const re = folderRegex(o);
  const m = re ? re.exec(name) : null;
  if (!m || m[1] === undefined || m[1] === '') return { user: name, folder: undefined };
  return { user: name.slice(0, m.index) + name.slice(m.index + m[0].length), folder: m[1] };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

export async function login(s: Session, name: string, make: (user: string) => Credentials): Promise<void> {
  const o = s.deps.options();
  const { conn, deps } = s;
  const address = conn.remote.address;
  const { user, folder } = splitFolder(o, name);
  s.user = user;
  const ctx: LoginContext = { remoteAddress: address, session: conn, log: conn.log };
  let r: AuthResult;
  try {
    r = await deps.auth.login(make(user), ctx);
  } catch (e) {
    r = { ok: false, reason: 'temporary', detail: e instanceof Error ? e.message : String(e) };
  }
  if (s.state !== 'authorization') return;
  if (!r.ok) {
    if (r.reason === 'invalid') {
      deps.stats.loginsFailed++;
      s.failures++;
      // fail2ban: one line naming user and address; never the password.
      conn.log.warn({ user, address, failures: s.failures }, 'login failed: invalid credentials');
      const wait = deps.failures.fail(address, o.auth_failure_delay, o.auth_failure_max_delay);
      if (wait > 0) await sleep(wait);
      if (s.state !== 'authorization') return;
      if (s.failures >= o.auth_failure_limit) s.end(R.authFailedBye, 'error');
      else s.write(R.authFailed);
    } else if (r.reason === 'temporary') {
      deps.stats.loginsRefused++;
      conn.log.error({ user, address, detail: r.detail }, 'login failed: backend unavailable');
      s.write(R.authTemp);
    } else {
      deps.stats.loginsRefused++;
      conn.log.error({ user, address, detail: r.detail }, 'login failed: bad maildrop');
      s.write(R.authPerm);
    }
    return;
  }
  s.user = r.user;
  if (o.login_delay > 0) {
    let stamp: LoginStampOutput;
    try {
      stamp = await deps.workers.offload<LoginStampInput, LoginStampOutput>(conn, LOGIN_STAMP, {
        dir: r.maildrop,
        delayMs: o.login_delay,
        now: Date.now(),
      });
    } catch (e) {
      // A stamp that cannot be read or written must not lock the user out.
      conn.log.warn({ err: e instanceof Error ? e.message : String(e), user: r.user }, 'login stamp failed');
      stamp = { ok: true };
    }
    if (s.state !== 'authorization') return;
    if (!stamp.ok) {
      deps.stats.loginsRefused++;
      conn.log.info(
        { user: r.user, address, wait_s: Math.ceil(stamp.waitMs / 1000) },
        'login refused: LOGIN-DELAY',
      );
      s.write(R.loginDelay);
      return;
    }
  }
  let opened: OpenResult;
  try {
    opened = await deps.store.open(r.maildrop, { folder, session: conn, log: conn.log });
  } catch (e) {
    opened = { ok: false, reason: 'temporary', detail: e instanceof Error ? e.message : String(e) };
  }
  if (s.state !== 'authorization') {
    // Closed while opening: give the lock back at once.
    if (opened.ok) await opened.maildrop.release(conn).catch(() => {});
    return;
  }
  if (!opened.ok) {
    deps.stats.loginsRefused++;
    if (opened.reason === 'in-use') {
      conn.log.info({ user: r.user, address }, 'login refused: maildrop in use');
      s.write(R.inUse);
    } else {
      conn.log.error({ user: r.user, address, detail: opened.detail }, 'login failed: maildrop unavailable');
      s.write(R.openTemp);
    }
    return;
  }
  const md = opened.maildrop;
  s.maildrop = md;
  s.state = 'transaction';
  deps.stats.loginsOk++;
  conn.log.info(
    { user: r.user, address, folder, messages: md.messages.length, octets: md.totalSize, tls: conn.secure },
    'login',
  );
  conn.setIdleTimeout(o.idle_timeout, s.timeoutHandler);
  s.statLine = `+OK ${md.messages.length} ${md.totalSize}\r\n`;
  // The user name is not echoed: the reply stays short and free of whatever the backend returned.
  s.write(`+OK maildrop has ${md.messages.length} messages (${md.totalSize} octets)\r\n`);
  if (deps.auth.recordLogin && o.login_log_query) {
    // Last-login tracking must not slow the answer; its failures are logged by the authenticator.
    deps.auth
      .recordLogin(r.user, ctx)
      .catch((e: unknown) => conn.log.warn({ err: e }, 'login log query failed'));
  }
}
