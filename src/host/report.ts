// SIGUSR1: a status report in ServerKit's spirit, one log line per pool and per module.
import type { Database, Logger, WorkerPool } from '../api.js';
import type { ModuleRuntime } from './runtime.js';

export function writeReport(
  log: Logger,
  workers: WorkerPool | undefined,
  databases: ReadonlyMap<string, Database>,
  modules: readonly ModuleRuntime[],
  startedAt: number,
): void {
  const mem = process.memoryUsage();
  log.info(
    {
      uptime_s: Math.round((Date.now() - startedAt) / 1000),
      rss_kb: Math.round(mem.rss / 1024),
      heap_kb: Math.round(mem.heapUsed / 1024),
    },
    'report: process',
  );
  if (workers) log.info({ ...workers.stats() }, 'report: workers');
  for (const db of databases.values()) log.info({ ...db.stats() }, 'report: database');
  for (const m of modules) {
    try {
      m.log.info({ ...m.sessions.stats() }, 'report: sessions');
      const own = m.instance.report?.();
      if (own) m.log.info(own, 'report');
    } catch (e) {
      m.log.error({ err: e }, 'report failed');
    }
  }
}
