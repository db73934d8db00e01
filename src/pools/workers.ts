// The host's one worker pool: piscina threads run named exports of compiled task files.
import { Piscina } from 'piscina';
import type { DelayCounter, TaskRef, WorkerPool, WorkerStats } from '../api.js';

type Transfer = NonNullable<Parameters<Piscina['run']>[1]>['transferList'];

export function createWorkerPool(o: {
  minThreads: number;
  maxThreads: number;
  idleTimeoutMs: number;
}): WorkerPool & { close(): Promise<void> } {
  const maxThreads = Math.max(1, o.maxThreads);
  const minThreads = Math.min(Math.max(0, o.minThreads), maxThreads);
  const pool = new Piscina({ minThreads, maxThreads, idleTimeout: o.idleTimeoutMs });

  function run<I, O>(ref: TaskRef, input: I, transferList?: readonly ArrayBuffer[]): Promise<O> {
    return pool.run(input, {
      filename: ref.file,
      name: ref.name,
      transferList: transferList as Transfer,
    }) as Promise<O>;
  }

  return {
    run,
    offload<I, O>(
      session: DelayCounter,
      ref: TaskRef,
      input: I,
      transferList?: readonly ArrayBuffer[],
    ): Promise<O> {
      session.delays++;
      return run<I, O>(ref, input, transferList);
    },
    stats(): WorkerStats {
      const h = pool.histogram;
      const threads = pool.threads.length;
      return {
        min: minThreads,
        max: maxThreads,
        threads,
        busy: Math.max(0, threads - pool.idleThreads),
        queued: pool.queueSize,
        completed: pool.completed,
        // An empty histogram reports NaN.
        runTimeMeanMs: finite(h.runTime.mean),
        waitTimeMeanMs: finite(h.waitTime.mean),
      };
    },
    close: () => pool.close(),
  };
}

function finite(n: number): number {
  return Number.isFinite(n) ? Math.round(n * 1000) / 1000 : 0;
}
