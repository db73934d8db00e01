// A personality opened outside the server, for commands such as `host deliver` and `host adduser`:
// modules are imported (not constructed), c11n validated, pools opened; all closed after `fn`.
import { resolve } from 'node:path';
import type { Database, Logger, WorkerPool } from '../api.js';
import { loadConfig, toDatabaseConfig } from '../config/c11n.js';
import type { HostOptions } from '../config/host-options.js';
import { HostError } from '../errors.js';
import { openDatabase } from '../pools/databases.js';
import { createWorkerPool } from '../pools/workers.js';
import { loadModules } from './loader.js';
import { peekHostOptions, peekLogger } from './peek.js';
import { threadBounds } from './personality.js';

export interface OfflinePersonality {
  dir: string;
  host: HostOptions;
  /** A module's validated options, or undefined when no module of that name is loaded. */
  moduleOptions(name: string): Readonly<Record<string, unknown>> | undefined;
  /** Throws HostError('NO_DATABASE') for an unknown ID. */
  database(id: string): Database;
  workers: WorkerPool;
  /** Logs to stderr, so a command's own output on stdout stays clean. */
  log: Logger;
}

export async function withPersonality<T>(
  dirArg: string,
  fn: (p: OfflinePersonality) => Promise<T>,
): Promise<T> {
  const dir = resolve(dirArg);
  const peek = peekHostOptions(dir);
  const root = peekLogger(peek, { stderr: true });
  const log = root.child({ module: 'host' });
  const modules = await loadModules(dir, log);
  const config = loadConfig(
    dir,
    modules.map((m) => m.descriptor),
  );
  const threads = threadBounds(config.modules.values());
  const workers = createWorkerPool({
    minThreads: 1,
    maxThreads: threads.max,
    idleTimeoutMs: config.host.worker_idle_timeout,
  });
  const databases = new Map<string, Database & { close(): Promise<void> }>();
  try {
    for (const [id, db] of config.databases) {
      databases.set(
        id,
        await openDatabase(
          id,
          toDatabaseConfig(db),
          workers,
          root.child({ module: 'database', database: id }),
        ),
      );
    }
    return await fn({
      dir,
      host: config.host,
      moduleOptions: (name) => config.modules.get(name),
      database(id) {
        const db = databases.get(id);
        if (!db) throw new HostError('NO_DATABASE', `no [database.${id}] section in ${dir}/c11n`);
        return db;
      },
      workers,
      log,
    });
  } finally {
    for (const db of databases.values()) await db.close().catch(() => {});
    await workers.close().catch(() => {});
  }
}
