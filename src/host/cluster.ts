// processes = N: a primary forks N copies that each run the whole lifecycle; node:cluster shares
// their listening sockets. The primary forwards signals and restarts a copy that dies.
//
// Each copy accepts from the shared socket itself (SCHED_NONE). Node's default on Linux has the
// primary accept every connection and pass it to a copy over IPC: a message each way per
// connection, and one process in the path of every session (processes = 2 then served fewer
// sessions than 1).
import cluster, { type Worker } from 'node:cluster';
import type { Logger } from '../api.js';
import type { HostConfig } from '../config/c11n.js';

const MAX_BACKOFF_MS = 30_000;
/** A copy that ran this long before dying resets the backoff. */
const STABLE_MS = 60_000;

export function runPrimary(config: HostConfig, log: Logger): void {
  process.title = `${config.host.identity} (primary)`;
  // NODE_CLUSTER_SCHED_POLICY=rr still chooses Node's round robin.
  if (process.env.NODE_CLUSTER_SCHED_POLICY === undefined) cluster.schedulingPolicy = cluster.SCHED_NONE;
  let stopping = false;
  let backoff = 1000;
  const born = new Map<Worker, number>();

  const fork = () => {
    const w = cluster.fork();
    born.set(w, Date.now());
    w.on('exit', (code, signal) => {
      const lived = Date.now() - (born.get(w) ?? 0);
      born.delete(w);
      if (stopping) {
        if (born.size === 0) {
          log.info('all processes stopped');
          process.exit(0);
        }
        return;
      }
      if (lived > STABLE_MS) backoff = 1000;
      log.error(
        { worker_pid: w.process.pid, code, signal, restart_in_ms: backoff },
        'process died; restarting',
      );
      setTimeout(fork, backoff);
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    });
  };

  const forward = (sig: NodeJS.Signals) => {
    for (const w of born.keys()) w.process.kill(sig);
  };
  process.on('SIGHUP', () => forward('SIGHUP'));
  process.on('SIGUSR1', () => forward('SIGUSR1'));
  const stop = (sig: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal: sig }, 'stopping all processes');
    forward('SIGTERM');
    if (born.size === 0) process.exit(0);
    setTimeout(() => {
      log.fatal('processes did not stop in time; exiting');
      for (const w of born.keys()) w.process.kill('SIGKILL');
      process.exit(1);
    }, config.host.drain_time + 10_000).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  log.info({ processes: config.processCount }, 'starting processes');
  for (let i = 0; i < config.processCount; i++) fork();
}
