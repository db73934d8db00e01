// Worker task of the system-users authenticator: read passwd and shadow (small files, read per
// login so a changed password or a locked account takes effect at once) and verify the crypt hash,
// in one hand-off.
import { readFileSync } from 'node:fs';
import { verifyPassword } from '../../../src/auth/passwords.js';

export interface SystemLoginInput {
  user: string;
  password: string;
  passwdFile: string;
  shadowFile: string;
  minUid: number;
}

export type SystemLoginOutput =
  | { ok: true; uid: number; home: string }
  /** `scheme`: the hash's `$id$` when it is one we cannot verify (yescrypt `$y$`...), for the log. */
  | { ok: false; reason: 'invalid'; scheme?: string }
  | { ok: false; reason: 'temporary'; detail: string };

// For an unknown user, a refused uid or a locked account: costs what a wrong password costs.
const DUMMY =
  '{CRYPT}$6$MUQT2rIukmRNOR9p$eTaliblthqqZg1iLDqW18t4sHGIZKJcHgVPwVRtoV2OlbqIGlH7LqzEnVwKo8Gcf0p/8XYDq/HJZPRMt8a8uN/';
const VERIFIABLE = /^(?:\$(?:1|5|6|2[aby])\$|[./0-9A-Za-z]{13}$)/;

/** The fields of `name` in a colon-separated file, or null. */
function entry(text: string, name: string): string[] | null {
  const prefix = `${name}:`;
  let at = 0;
  if (!text.startsWith(prefix)) {
    const i = text.indexOf(`\n${prefix}`);
    if (i < 0) return null;
    at = i + 1;
  }
  const end = text.indexOf('\n', at);
  return text
    .slice(at, end < 0 ? text.length : end)
    .replace(/\r$/, '')
    .split(':');
}

export async function systemLogin(input: SystemLoginInput): Promise<SystemLoginOutput> {
  let passwd: string;
  let shadow: string | null = null;
  try {
    passwd = readFileSync(input.passwdFile, 'utf8');
  } catch (e) {
    return {
      ok: false,
      reason: 'temporary',
      detail: `cannot read ${input.passwdFile}: ${(e as Error).message}`,
    };
  }
  const pw = entry(passwd, input.user);
  let hash: string | null = null;
  if (pw !== null && pw.length >= 7) {
    hash = pw[1];
    if (hash === 'x') {
      try {
        shadow = readFileSync(input.shadowFile, 'utf8');
      } catch (e) {
        return {
          ok: false,
          reason: 'temporary',
          detail: `cannot read ${input.shadowFile}: ${(e as Error).message}`,
        };
      }
      const sh = entry(shadow, input.user);
      hash = sh !== null && sh.length >= 2 ? sh[1] : null;
    }
  }
  const uid = pw !== null ? Number(pw[2]) : Number.NaN;
  // Locked (`!`, `*`), empty (no password login for POP) or unknown: verify a dummy, then refuse.
  const usable =
    hash !== null && hash !== '' && VERIFIABLE.test(hash) && Number.isInteger(uid) && uid >= input.minUid;
  const ok = await verifyPassword(input.password, usable ? `{CRYPT}${hash}` : DUMMY);
  if (!usable || !ok || pw === null) {
    const scheme =
      hash !== null && /^\$[0-9a-z]+\$/.test(hash) && !VERIFIABLE.test(hash) ? hash.split('$')[1] : undefined;
    return scheme ? { ok: false, reason: 'invalid', scheme } : { ok: false, reason: 'invalid' };
  }
  return { ok: true, uid, home: pw[5] };
}
