// AUTHORIZATION: USER, PASS, APOP, AUTH PLAIN (RFC 1939 §7, RFC 5034). They all end in login().

import { login } from '../login.js';
import { R } from '../replies.js';
import type { Credentials } from '../seams.js';
import type { Session } from '../session.js';
import type { Args } from './table.js';

export function user(s: Session, a: Args): void {
  if (!s.plaintextAllowed()) {
    s.write(R.plaintextRefused);
    return;
  }
  s.pendingUser = a.text;
  s.write(R.userOk);
}

export function pass(s: Session, a: Args): void | Promise<void> {
  const name = s.pendingUser;
  s.pendingUser = undefined;
  if (name === undefined) {
    s.write(R.passNeedsUser);
    return;
  }
  if (!s.plaintextAllowed()) {
    s.write(R.plaintextRefused);
    return;
  }
  return login(s, name, (u): Credentials => ({ kind: 'plain', user: u, password: a.text }));
}

export function apop(s: Session, a: Args): void | Promise<void> {
  s.pendingUser = undefined;
  const banner = s.banner;
  if (banner === undefined || !s.deps.options().apop) {
    s.write(R.noApop);
    return;
  }
  return login(s, a.text, (u): Credentials => ({ kind: 'apop', user: u, banner, digest: a.text2 }));
}

export function auth(s: Session, a: Args): void | Promise<void> {
  s.pendingUser = undefined;
  const plain = s.plaintextAllowed();
  if (a.text === '') {
    // Bare AUTH (RFC 1734 era, still sent by some clients): list the mechanisms.
    s.write(plain ? R.authMechs : R.authMechsNone);
    return;
  }
  if (a.text !== 'PLAIN') {
    s.write(R.noMechanism);
    return;
  }
  if (!plain) {
    s.write(R.plaintextRefused);
    return;
  }
  if (a.text2 === '') {
    s.saslPending = true;
    s.write(R.saslContinue);
    return;
  }
  return plainResponse(s, a.text2 === '=' ? '' : a.text2);
}

export function authContinue(s: Session, line: string): void | Promise<void> {
  const t = line.trim();
  if (t === '*') {
    s.write(R.saslCancelled);
    return;
  }
  return plainResponse(s, t);
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** RFC 4616: [authzid] NUL authcid NUL passwd. An authzid other than the authcid is refused. */
function plainResponse(s: Session, b64: string): void | Promise<void> {
  if (b64 === '' || !BASE64.test(b64)) {
    s.write(R.saslBad);
    return;
  }
  const parts = Buffer.from(b64, 'base64').toString('utf8').split('\0');
  if (parts.length !== 3 || parts[1] === '' || (parts[0] !== '' && parts[0] !== parts[1])) {
    s.write(R.saslBad);
    return;
  }
  const password = parts[2];
  return login(s, parts[1], (u): Credentials => ({ kind: 'plain', user: u, password }));
}
