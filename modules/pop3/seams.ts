// The seams of the POP3 module (after WildDuck's onAuth/onListMessages/onFetchMessage/onUpdate):
// the protocol engine (session.ts, commands/) knows nothing of SQL or Maildir; it is given an
// Authenticator and a MaildropStore. Other stores (mbox) and backends (system users) plug in here.
import type { DelayCounter, Logger } from '../../src/api.js';

// ---------------------------------------------------------------- authentication

export type Credentials =
  | { kind: 'plain'; user: string; password: string } // USER/PASS and AUTH PLAIN
  | { kind: 'apop'; user: string; banner: string; digest: string }; // APOP: md5(banner + password)

export interface LoginContext {
  remoteAddress: string;
  session: DelayCounter;
  log: Logger;
}

export type AuthResult =
  | {
      ok: true;
      /** The user as the backend knows it (for logs and the login-log query). */
      user: string;
      /** Absolute Maildir path, already checked to lie under maildir_root. */
      maildrop: string;
    }
  /** Wrong user or password: one answer for both, so existence is never revealed. */
  | { ok: false; reason: 'invalid' }
  /** Backend down (database unreachable): `-ERR [SYS/TEMP]`. */
  | { ok: false; reason: 'temporary'; detail: string }
  /** Backend answered but the result is unusable (maildrop outside maildir_root, bad row): `-ERR [SYS/PERM]`. */
  | { ok: false; reason: 'permanent'; detail: string };

export interface Authenticator {
  login(credentials: Credentials, ctx: LoginContext): Promise<AuthResult>;
  /** Whether APOP can work at all (the backend returns plaintext passwords). */
  readonly apopCapable: boolean;
  /** popserv loginfo.query: run after a successful login; failures are logged, never fatal. */
  recordLogin?(user: string, ctx: LoginContext): Promise<void>;
}

// ---------------------------------------------------------------- the maildrop

export interface MessageInfo {
  /** UIDL: 1-70 chars in 0x21-0x7E, stable across sessions. */
  readonly uid: string;
  /** Exact octets RETR sends before dot-stuffing: CRLF line ends, final CRLF included. */
  readonly size: number;
}

export interface OpenOptions {
  /** Maildir++ folder (popserv `folder`): `Spam` opens `<maildrop>/.Spam`. */
  folder?: string;
  session: DelayCounter;
  log: Logger;
}

export type OpenResult =
  | { ok: true; maildrop: Maildrop }
  /** Another session holds the maildrop lock, on this or another machine: `-ERR [IN-USE]`. */
  | { ok: false; reason: 'in-use' }
  /** IO error, lock could not be taken for another reason: `-ERR [SYS/TEMP]`. */
  | { ok: false; reason: 'temporary'; detail: string };

export interface MaildropStore {
  /** Lock, move new/ to cur/, list (from the cache file when new/ and cur/ are unchanged). */
  open(path: string, options: OpenOptions): Promise<OpenResult>;
}

export interface UpdateResult {
  deleted: number;
  deletedBytes: number;
  /** Marked messages that could not be removed: the QUIT answer is then `-ERR`. */
  failed: number;
  left: number;
  leftBytes: number;
}

/** An opened, locked maildrop. Message numbers are indexes + 1 and never change in a session. */
export interface Maildrop {
  readonly messages: readonly MessageInfo[];
  readonly totalSize: number;
  /**
   * RETR (lines = null) or TOP (lines = n): the message as wire bytes, CRLF line ends, dot-stuffed,
   * ending with CRLF, WITHOUT the `+OK` line and WITHOUT the terminating `.CRLF`. Streamed in
   * chunks so memory does not grow with message size; each chunk read is one worker hand-off.
   * `dropNul`/`ensureHeaderEnd` are the client workarounds.
   */
  read(index: number, lines: number | null, session: DelayCounter): AsyncIterable<Buffer>;
  /**
   * RETR without waiting: the whole message as `read` would give it, when the store already holds
   * it in memory (read ahead), else undefined. Taking it may start a read in the background,
   * counted on `session`.
   */
  readCached?(index: number, session: DelayCounter): Buffer | undefined;
  /** The socket is done with a chunk `read` gave: the store may fill its memory again. */
  recycle?(chunk: Buffer): void;
  /** UPDATE state: delete (or move to the trash folder) the marked messages, rewrite the cache, unlock. */
  update(deleted: ReadonlySet<number>, session: DelayCounter): Promise<UpdateResult>;
  /** Session ended without QUIT (or QUIT in AUTHORIZATION): unlock, change nothing. */
  release(session: DelayCounter): Promise<void>;
}
