// Recipient → Maildir through the delivery query (like r2d2's maildrop query, without a password):
// the same format strings and bound substitutions as POP3 login (%u %l %d %r %%), compiled once.

import type { Database } from '../api.js';
import { underRoot } from '../auth/maildrop.js';
// The login query's compiler is the one implementation of the format-string syntax; the delivery
// routine shares it rather than keeping a second parser in step.
import { compileQuery, QueryFormatError, splitAddress } from '../auth/query.js';

export const DEFAULT_DELIVERY_QUERY = "SELECT maildrop FROM mailbox WHERE address = '%u' AND active = 1";

export type LookupResult =
  | { ok: true; maildir: string }
  | { ok: false; reason: 'unknown' }
  /** Database down, or the row is unusable (maildrop outside maildir_root): try again later. */
  | { ok: false; reason: 'temporary'; detail: string };

/** Throws QueryFormatError when the query cannot be compiled or asks for the password. */
export function validateDeliveryQuery(format: string): void {
  if (compileQuery(format).uses.has('password')) {
    throw new QueryFormatError('the delivery query has no password to substitute: remove %p');
  }
}

function maildropOf(row: Record<string, unknown>): string | null {
  const key = Object.keys(row).find((k) => k.toLowerCase() === 'maildrop') ?? Object.keys(row)[0];
  const v = key === undefined ? undefined : row[key];
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return Buffer.from(v).toString('utf8');
  return null;
}

export interface LookupConfig {
  query: string;
  maildirRoot: string;
}

/** One query per recipient; nothing cached, so a disabled address stops receiving at once. */
export async function lookupRecipient(
  db: Database,
  cfg: LookupConfig,
  address: string,
  remote = '',
): Promise<LookupResult> {
  let q: ReturnType<typeof compileQuery>;
  try {
    q = compileQuery(cfg.query);
  } catch (e) {
    return { ok: false, reason: 'temporary', detail: `delivery query: ${(e as Error).message}` };
  }
  const { local, domain } = splitAddress(address);
  let rows: Record<string, unknown>[];
  try {
    rows = await db.query(q.sql, q.bind({ user: address, local, domain, password: '', remote }));
  } catch (e) {
    const err = e as { code?: unknown; message?: unknown };
    return {
      ok: false,
      reason: 'temporary',
      detail: `database: ${String(err.code ?? '')} ${String(err.message ?? e)}`.trim(),
    };
  }
  const row = rows[0];
  if (row === undefined) return { ok: false, reason: 'unknown' };
  const value = maildropOf(row);
  if (value === null || value === '')
    return { ok: false, reason: 'temporary', detail: `no maildrop for ${address}` };
  const maildir = underRoot(cfg.maildirRoot, value);
  if (maildir === null) {
    return {
      ok: false,
      reason: 'temporary',
      detail: `maildrop "${value}" is outside maildir_root ${cfg.maildirRoot}`,
    };
  }
  return { ok: true, maildir };
}
