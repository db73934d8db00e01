// CAPA, QUIT, STLS, NOOP: the commands that are about the session rather than the messages.
import { R } from '../replies.js';
import type { Session } from '../session.js';

export function capa(s: Session): void {
  const o = s.deps.options();
  const transaction = s.state === 'transaction';
  s.write(
    s.deps.capa.get(o, {
      plaintext: s.plaintextAllowed(),
      stls: !transaction && !s.conn.secure && s.deps.tls() !== undefined,
      transaction,
    }),
  );
}

export function noop(s: Session): void {
  s.write(R.ok);
}

export function quit(s: Session): void | Promise<void> {
  const md = s.maildrop;
  if (s.state !== 'transaction' || !md) {
    s.end(R.quitAuth, 'peer quit');
    return;
  }
  // UPDATE (RFC 1939 §6): only here; the answer is sent once the removals are done.
  s.state = 'update';
  s.reason = 'peer quit';
  let deleted: ReadonlySet<number> = s.deleted ?? new Set<number>();
  if (s.expired) deleted = new Set([...deleted, ...s.expired]);
  const run = async () => {
    let answer: string;
    try {
      const r = await md.update(deleted, s.conn);
      s.updateResult = r;
      const st = s.deps.stats;
      st.deleted += r.deleted;
      st.deletedBytes += r.deletedBytes;
      st.deleteFailures += r.failed;
      answer = r.failed > 0 ? R.updateFailed : `+OK bye, ${r.left} messages left\r\n`;
    } catch (e) {
      s.conn.log.error({ err: e }, 'update failed');
      s.updateResult = {
        deleted: 0,
        deletedBytes: 0,
        failed: deleted.size,
        left: md.messages.length,
        leftBytes: md.totalSize,
      };
      answer = R.updateFailed;
    }
    s.maildrop = undefined;
    if (s.state !== 'closed') s.conn.end(answer);
  };
  const p = run();
  s.updating = p;
  return p;
}

export async function stls(s: Session): Promise<void> {
  if (s.conn.secure) {
    s.write(R.stlsAlready);
    return;
  }
  const tls = s.deps.tls();
  if (!tls) {
    s.write(R.stlsNone);
    return;
  }
  s.write(R.stlsGo);
  try {
    await s.conn.startTls(tls);
  } catch (e) {
    s.conn.log.warn({ err: e, address: s.conn.remote.address }, 'TLS handshake failed');
    s.reason = 'error';
    s.conn.destroy();
    return;
  }
  // RFC 2595 §4: forget what was said in plaintext.
  s.pendingUser = undefined;
  s.saslPending = false;
}
