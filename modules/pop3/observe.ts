// Decorators that watch the seams without changing them: the protocol engine and the backends stay
// unaware of popa3d's log lines and of login notifications (index.ts wires them).
import type { DelayCounter, Logger } from '../../src/api.js';
import type {
  Authenticator,
  Credentials,
  LoginContext,
  Maildrop,
  MaildropStore,
  OpenOptions,
  UpdateResult,
} from './seams.js';

/** Calls `onPass` after each successful authentication (before the maildrop is opened). */
export function observeAuth(
  inner: Authenticator,
  onPass: (user: string, ctx: LoginContext) => void,
): Authenticator {
  const wrapped: Authenticator = {
    async login(credentials: Credentials, ctx: LoginContext) {
      const r = await inner.login(credentials, ctx);
      if (r.ok) onPass(r.user, ctx);
      return r;
    },
    get apopCapable() {
      return inner.apopCapable;
    },
  };
  if (inner.recordLogin) wrapped.recordLogin = inner.recordLogin.bind(inner);
  return wrapped;
}

export interface StoreObserver {
  loaded(md: Maildrop, log: Logger): void;
  updated(r: UpdateResult, log: Logger): void;
}

/** Reports each opened maildrop and each UPDATE's result. */
export function observeStore(inner: MaildropStore, observer: () => StoreObserver | null): MaildropStore {
  return {
    async open(path: string, options: OpenOptions) {
      const r = await inner.open(path, options);
      const o = observer();
      if (!r.ok || o === null) return r;
      o.loaded(r.maildrop, options.log);
      return { ok: true, maildrop: watched(r.maildrop, o, options.log) };
    },
  };
}

function watched(md: Maildrop, o: StoreObserver, log: Logger): Maildrop {
  const w: Maildrop = {
    get messages() {
      return md.messages;
    },
    get totalSize() {
      return md.totalSize;
    },
    read: (index: number, lines: number | null, session: DelayCounter) => md.read(index, lines, session),
    recycle: (chunk: Buffer) => md.recycle?.(chunk),
    async update(deleted: ReadonlySet<number>, session: DelayCounter) {
      const r = await md.update(deleted, session);
      o.updated(r, log);
      return r;
    },
    release: (session: DelayCounter) => md.release(session),
  };
  // Only where the store has it: without, RETR reads through `read` (a wrapper must not hide it).
  if (md.readCached) w.readCached = md.readCached.bind(md);
  return w;
}

/** popa3d's wording: `1 message (437 bytes) loaded`, `0 (0) deleted, 1 (437) left`. */
export const popa3dLines = {
  passed: (user: string) => `Authentication passed for ${user}`,
  loaded: (n: number, bytes: number) => `${n} message${n === 1 ? '' : 's'} (${bytes} bytes) loaded`,
  updated: (r: UpdateResult) => `${r.deleted} (${r.deletedBytes}) deleted, ${r.left} (${r.leftBytes}) left`,
};
