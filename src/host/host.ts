// The host lifecycle, in ServerKit's order: personality, modules (import + construct), c11n, root
// check, process title, database pools, prestart (bind), uid/gid switch, start. Then signals:
// SIGUSR1 report, SIGHUP reload, SIGTERM/SIGINT graceful stop.
import cluster from 'node:cluster';
import { existsSync } from 'node:fs';
import type { Database, Logger, WorkerPool } from '../api.js';
import { configError, type HostConfig, readConfig, toDatabaseConfig } from '../config/c11n.js';
import { formatIssue } from '../config/options.js';
import { HostError } from '../errors.js';
import { openDatabase } from '../pools/databases.js';
import { createWorkerPool } from '../pools/workers.js';
import { runPrimary } from './cluster.js';
import { FD_MARGIN, softNoFileLimit } from './limits.js';
import { loadModules } from './loader.js';
import { peekHostOptions, peekLogger } from './peek.js';
import { personalityDir, threadBounds } from './personality.js';
import { checkRoot, dropPrivileges } from './privileges.js';
import { mergeReload } from './reload.js';
import { writeReport } from './report.js';
import { type HostFacilities, ModuleRuntime } from './runtime.js';

type Closable<T> = T & { close(): Promise<void> };

export class Host {
  private readonly log: Logger;
  private readonly facilities: HostFacilities;
  private modules: ModuleRuntime[] = [];
  private config?: HostConfig;
  private workers?: Closable<WorkerPool>;
  private readonly databases = new Map<string, Closable<Database>>();
  /** Signals are handled one at a time, in arrival order. */
  private queue: Promise<void> = Promise.resolve();
  private stopping = false;
  private readonly startedAt = Date.now();

  constructor(
    readonly dir: string,
    private readonly root: Logger,
  ) {
    this.log = root.child({ module: 'host' });
    this.facilities = { personalityDir: dir, identity: 'server', databases: this.databases };
  }

  /** Runs until stopped; resolves once the host serves. */
  async start(): Promise<void> {
    const log = this.log;
    // 2. modules: import and construct (they read nothing yet).
    const loaded = await loadModules(this.dir, log);
    if (loaded.length === 0)
      log.warn(`no module files (*.js) in ${this.dir}/modules: nothing will be served`);
    this.facilities.identity = peekHostOptions(this.dir).identity;
    this.modules = loaded.map((m) => new ModuleRuntime(m.descriptor, m.file, this.root, this.facilities));

    // 3. c11n against the combined vocabulary.
    const r = readConfig(
      this.dir,
      loaded.map((m) => m.descriptor),
    );
    if (!r.ok) throw configError(r.issues);
    const config = r.config;
    this.config = config;
    this.facilities.identity = config.host.identity;

    // 4. root check, 5. process title.
    checkRoot(config.host);
    process.title = config.host.identity;

    // 6. pools: the one worker pool, then every database.
    for (const m of this.modules) m.setOptions(config.modules.get(m.name) ?? {});
    const threads = threadBounds(config.modules.values());
    this.workers = createWorkerPool({
      minThreads: threads.min,
      maxThreads: threads.max,
      idleTimeoutMs: config.host.worker_idle_timeout,
    });
    this.facilities.workers = this.workers;
    for (const [id, db] of config.databases) {
      this.databases.set(
        id,
        await openDatabase(
          id,
          toDatabaseConfig(db),
          this.workers,
          this.root.child({ module: 'database', database: id }),
        ),
      );
    }

    // 7. prestart (bind), 8. privilege drop, 9. start.
    for (const m of this.modules) await m.instance.prestart?.(m.options);
    dropPrivileges(config.host, log);
    for (const m of this.modules) await m.instance.start?.();

    this.warnDescriptorLimit();
    const mem = process.memoryUsage();
    log.info(
      {
        modules: this.modules.map((m) => m.name).join(','),
        startup_ms: Math.round(process.uptime() * 1000),
        rss_kb: Math.round(mem.rss / 1024),
        threads: `${threads.min}-${threads.max}`,
      },
      'started',
    );
  }

  private warnDescriptorLimit(): void {
    const soft = softNoFileLimit();
    if (soft === undefined || !this.config) return;
    let need = FD_MARGIN;
    for (const m of this.modules) need += m.sessionBounds(m.options)[1];
    for (const db of this.config.databases.values()) need += db.driver === 'mysql' ? db.max_conns : 1;
    if (need > soft) {
      this.log.warn(
        { soft_limit: soft, needed: need },
        'the descriptor limit (ulimit -n) is below what max_sessions allows: raise it or lower max_sessions',
      );
    }
  }

  /** Called once start() resolved (runHost keeps start-up signals away until then). */
  installSignals(): void {
    process.on('SIGUSR1', () => this.enqueue(async () => this.report()));
    process.on('SIGHUP', () => this.enqueue(() => this.reload()));
    const stop = (signal: string) => {
      if (this.stopping) return;
      this.stopping = true;
      // Not queued behind a slow reload: stopping wins.
      void this.stop(signal).then(
        () => process.exit(0),
        (e) => {
          this.log.fatal({ err: e }, 'stop failed');
          process.exit(1);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  }

  private enqueue(job: () => Promise<void>): void {
    this.queue = this.queue.then(job).catch((e) => this.log.error({ err: e }, 'signal handler failed'));
  }

  report(): void {
    writeReport(this.log, this.workers, this.databases, this.modules, this.startedAt);
  }

  /** SIGHUP: a broken c11n keeps the old configuration; otherwise reloadable changes apply. */
  async reload(): Promise<void> {
    if (this.stopping || !this.config) return;
    const r = readConfig(
      this.dir,
      this.modules.map((m) => m.descriptor),
    );
    if (!r.ok) {
      for (const issue of r.issues)
        this.log.error({ problem: formatIssue(issue) }, 'reload refused: c11n error');
      this.log.error({ problems: r.issues.length }, 'reload refused: keeping the running configuration');
      return;
    }
    const fresh = r.config;
    const restart: string[] = [];
    for (const key of Object.keys(fresh.host) as (keyof typeof fresh.host)[]) {
      if (fresh.host[key] !== this.config.host[key]) restart.push(key);
    }
    const dbText = (c: HostConfig) => JSON.stringify([...c.databases]);
    if (dbText(fresh) !== dbText(this.config)) restart.push('[database.*]');
    for (const m of this.modules) {
      const prev = m.options;
      const merged = mergeReload(m.descriptor.options, prev, fresh.modules.get(m.name) ?? {});
      for (const key of merged.needRestart) restart.push(`[${m.name}] ${key}`);
      if (merged.applied.length === 0) continue;
      m.setOptions(merged.next);
      try {
        await m.instance.reload?.(merged.next, prev);
        m.log.info({ options: merged.applied.join(',') }, 'reloaded');
      } catch (e) {
        m.log.error({ err: e }, 'reload failed');
      }
    }
    if (restart.length > 0) {
      this.log.warn(
        { options: restart.join(', ') },
        'changed options need a restart to take effect; keeping old values',
      );
    }
    this.log.info('reload done');
  }

  /** Stop accepting, drain until the deadline, close pools. */
  async stop(signal: string): Promise<void> {
    const drain = this.config?.host.drain_time ?? 10_000;
    const deadline = Date.now() + drain;
    this.log.info({ signal, drain_ms: drain }, 'stopping');
    // If a module never returns from stop(), do not hang the supervisor.
    setTimeout(() => {
      this.log.fatal('modules did not stop in time; exiting');
      process.exit(1);
    }, drain + 5000).unref();
    const results = await Promise.allSettled(this.modules.map((m) => m.instance.stop?.(deadline)));
    results.forEach((res, i) => {
      if (res.status === 'rejected') this.modules[i].log.error({ err: res.reason }, 'stop failed');
    });
    await this.closePools();
    this.log.info({ uptime_s: Math.round((Date.now() - this.startedAt) / 1000) }, 'stopped');
  }

  async closePools(): Promise<void> {
    for (const [id, db] of this.databases) {
      await db.close().catch((e) => this.log.error({ err: e, database: id }, 'database close failed'));
    }
    this.databases.clear();
    await this.workers?.close().catch((e) => this.log.error({ err: e }, 'worker pool close failed'));
    this.workers = undefined;
  }
}

/** Logs a start-up failure: a configuration error as one line per problem. */
export function logStartupError(log: Logger, e: unknown): void {
  const issues = (e as { issues?: Parameters<typeof formatIssue>[0][] }).issues;
  if (issues) {
    for (const i of issues) log.fatal({ problem: formatIssue(i) }, 'c11n error');
    log.fatal(`cannot start: c11n has ${issues.length} problem(s)`);
  } else if (e instanceof HostError) {
    log.fatal({ code: e.code }, `cannot start: ${e.message}`);
  } else {
    log.fatal({ err: e }, 'cannot start');
  }
}

/** `host start`: one process, or a cluster primary when processes > 1. Resolves with an exit code on failure. */
export async function runHost(dirArg?: string): Promise<number | undefined> {
  const dir = personalityDir(dirArg);
  const peek = peekHostOptions(dir);
  const root = peekLogger(peek);
  const log = root.child({ module: 'host' });
  process.on('uncaughtException', (e) => {
    log.fatal({ err: e }, 'uncaught exception');
    process.exit(1);
  });
  // Until the host serves: SIGTERM/SIGINT end the start-up, SIGHUP (which would kill) and SIGUSR1
  // (which would open node's inspector) are ignored.
  const early = (signal: NodeJS.Signals) => {
    if (signal === 'SIGTERM' || signal === 'SIGINT') {
      log.info({ signal }, 'stopped during start-up');
      process.exit(0);
    }
    log.warn({ signal }, 'signal ignored during start-up');
  };
  const signals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGUSR1'];
  for (const sig of signals) process.on(sig, early);
  const ready = () => {
    for (const sig of signals) process.off(sig, early);
  };
  if (!existsSync(dir)) {
    log.fatal(`cannot start: no personality directory at ${dir} (give DIR, or set SERVER_PERSONALITY_PATH)`);
    return 1;
  }
  try {
    if (cluster.isPrimary && peek.processes !== '1') {
      const mods = await loadModules(dir, log);
      const r = readConfig(
        dir,
        mods.map((m) => m.descriptor),
      );
      if (!r.ok) throw configError(r.issues);
      checkRoot(r.config.host);
      if (r.config.processCount > 1) {
        ready();
        runPrimary(r.config, log);
        return undefined;
      }
    }
    const host = new Host(dir, root);
    await host.start();
    ready();
    host.installSignals();
    return undefined;
  } catch (e) {
    logStartupError(log, e);
    return 1;
  }
}
