// What the maildrop store tests share: a temporary root, a small worker pool and a silent logger,
// closed and removed after the test file, and the Maildir store's plain configuration.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import pino from 'pino';
import type { MaildirStoreConfig } from '../../modules/pop3/maildir/store.js';
import { createWorkerPool } from '../../src/pools/workers.js';

/** Delete on DELE, no rewriting of the wire form, a minute before a lock is stale, 64 KiB reads. */
export const MAILDIR_CONFIG: Readonly<MaildirStoreConfig> = {
  deleteMode: 'delete',
  trashFolder: 'Trash',
  stripNul: false,
  ensureHeaderEnd: false,
  lockStaleMs: 60_000,
  chunkSize: 65536,
};

/** A root directory under the system temp dir named `prefix-…`, a worker pool and a logger. */
export function storeFixture(prefix: string) {
  const log = pino({ level: 'silent' });
  const pool = createWorkerPool({ minThreads: 1, maxThreads: 2, idleTimeoutMs: 5000 });
  const root = mkdtempSync(join(tmpdir(), `${prefix}-`));
  after(async () => {
    await pool.close();
    rmSync(root, { recursive: true, force: true });
  });
  return { log, pool, root };
}
