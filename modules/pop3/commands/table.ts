// THE command table: verb → allowed states, argument shape, sequence letter(s), handler. The
// session's dispatcher checks states and arguments here once; handlers assume both are right.
import type { Session, State } from '../session.js';
import { apop, auth, authContinue, pass, user } from './login.js';
import { capa, noop, quit, stls } from './misc.js';
import { dele, list, retr, rset, stat, top, uidl } from './transaction.js';

/**
 * none   no argument
 * msg?   an optional message number (LIST, UIDL)
 * msg    a message number
 * top    a message number and a line count
 * word   one non-empty argument, the rest of the line (USER: names are not split at spaces)
 * rest   the rest of the line verbatim, may be empty or hold spaces (PASS, RFC 1939 §7)
 * apop   a name and a 32-hex-digit digest
 * auth   an optional mechanism and an optional initial response
 */
export type ArgShape = 'none' | 'msg?' | 'msg' | 'top' | 'word' | 'rest' | 'apop' | 'auth';

/** Parsed arguments: n and m are numbers (0 = absent), text the string argument(s). */
export interface Args {
  n: number;
  m: number;
  text: string;
  text2: string;
}

export interface CommandSpec {
  states: readonly State[];
  args: ArgShape;
  letter: string;
  /** Letter when a message number was given (UIDL n = i, LIST n = l). */
  letterWithArg?: string;
  handler(session: Session, args: Args): void | Promise<void>;
  /** SASL: the continuation line after a `+ ` challenge. */
  continue?(session: Session, line: string): void | Promise<void>;
}

const AUTH_ONLY: readonly State[] = ['authorization'];
const TRANS: readonly State[] = ['transaction'];
const BOTH: readonly State[] = ['authorization', 'transaction'];

export const TABLE: Readonly<Record<string, CommandSpec>> = Object.freeze({
  CAPA: { states: BOTH, args: 'none', letter: 'c', handler: capa },
  USER: { states: AUTH_ONLY, args: 'word', letter: 'u', handler: user },
  PASS: { states: AUTH_ONLY, args: 'rest', letter: 'p', handler: pass },
  APOP: { states: AUTH_ONLY, args: 'apop', letter: 'a', handler: apop },
  AUTH: { states: AUTH_ONLY, args: 'auth', letter: 'A', handler: auth, continue: authContinue },
  STLS: { states: AUTH_ONLY, args: 'none', letter: '^', handler: stls },
  QUIT: { states: BOTH, args: 'none', letter: 'q', handler: quit },
  STAT: { states: TRANS, args: 'none', letter: 's', handler: stat },
  LIST: { states: TRANS, args: 'msg?', letter: 'L', letterWithArg: 'l', handler: list },
  UIDL: { states: TRANS, args: 'msg?', letter: 'U', letterWithArg: 'i', handler: uidl },
  RETR: { states: TRANS, args: 'msg', letter: 'r', handler: retr },
  TOP: { states: TRANS, args: 'top', letter: 't', handler: top },
  DELE: { states: TRANS, args: 'msg', letter: 'd', handler: dele },
  RSET: { states: TRANS, args: 'none', letter: 'R', handler: rset },
  NOOP: { states: TRANS, args: 'none', letter: 'n', handler: noop },
});

const NUMBER = /^[0-9]{1,9}$/;
const DIGEST = /^[0-9a-fA-F]{32}$/;

function num(s: string): number {
  return NUMBER.test(s) ? Number(s) : -1;
}

/** Checks `rest` (everything after the verb and its space) against a shape; null when it does not fit. */
export function parseArgs(shape: ArgShape, rest: string): Args | null {
  if (shape === 'rest') return { n: 0, m: 0, text: rest, text2: '' };
  const t = rest.trim();
  switch (shape) {
    case 'none':
      return t === '' ? { n: 0, m: 0, text: '', text2: '' } : null;
    case 'word':
      return t === '' ? null : { n: 0, m: 0, text: t, text2: '' };
    case 'msg?':
    case 'msg': {
      if (t === '') return shape === 'msg?' ? { n: 0, m: 0, text: '', text2: '' } : null;
      const n = num(t);
      return n >= 1 ? { n, m: 0, text: '', text2: '' } : null;
    }
    case 'top': {
      const parts = t.split(/ +/);
      if (parts.length !== 2) return null;
      const n = num(parts[0]);
      const m = num(parts[1]);
      // m = 0 (headers only) is valid.
      return n >= 1 && m >= 0 ? { n, m, text: '', text2: '' } : null;
    }
    case 'apop': {
      const at = t.lastIndexOf(' ');
      if (at <= 0) return null;
      const name = t.slice(0, at).trim();
      const digest = t.slice(at + 1);
      return name !== '' && DIGEST.test(digest)
        ? { n: 0, m: 0, text: name, text2: digest.toLowerCase() }
        : null;
    }
    case 'auth': {
      if (t === '') return { n: 0, m: 0, text: '', text2: '' };
      const parts = t.split(/ +/);
      if (parts.length > 2) return null;
      return { n: 0, m: 0, text: parts[0].toUpperCase(), text2: parts[1] ?? '' };
    }
  }
}
