// The host's one worker pool: piscina threads run named exports of compiled task files.
//
// Short tasks (TaskRef.batch) started in the same event-loop turn leave together: one message to
// one worker, one wake-up, one reply (src/worker/batch.ts). Under load many sessions poll at once,
// and a hand-off (post, wake a thread, post back, wake the loop) costs more CPU than the lock or
// lookup it carries; alone, a task is posted as it is, a setImmediate later.
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { DelayCounter, TaskRef, WorkerPool, WorkerStats } from '../api.js';
import type { BatchItem, BatchOutcome } from '../worker/batch.js';

type Transfer = NonNullable<Parameters<Piscina['run']>[1]>['transferList'];

const BATCH_TASK = new URL('../worker/batch.js', import.meta.url).href;
/** Tasks per batch at most: the last of them waits for all the others. */
const BATCH_MAX = 16;

interface Pending {
  ref: TaskRef;
  input: unknown;
  transferList: readonly ArrayBuffer[] | undefined;
  resolve(v: unknown): void;
  reject(e: unknown): void;
}

export function createWorkerPool(o: {
  minThreads: number;
  maxThreads: number;
  idleTimeoutMs: number;
}): WorkerPool & { close(): Promise<void> } {
  const maxThreads = Math.max(1, o.maxThreads);
  const minThreads = Math.min(Math.max(0, o.minThreads), maxThreads);
  const pool = new Piscina({ minThreads, maxThreads, idleTimeout: o.idleTimeoutMs });

  // Piscina parses a file: URL with new URL() at every run (1 % of the event loop's time under the
  // session load); a path it takes as it is.
  const paths = new Map<string, string>();
  const pathOf = (file: string): string => {
    let p = paths.get(file);
    if (p === undefined) {
      p = file.startsWith('file:') ? fileURLToPath(file) : file;
      paths.set(file, p);
    }
    return p;
  };

  function post<O>(ref: TaskRef, input: unknown, transferList?: readonly ArrayBuffer[]): Promise<O> {
    return pool.run(input, {
      filename: pathOf(ref.file),
      name: ref.name,
      transferList: transferList as Transfer,
    }) as Promise<O>;
  }

  let pending: Pending[] = [];
  let scheduled = false;

  function flush(): void {
    scheduled = false;
    const all = pending;
    pending = [];
    for (let i = 0; i < all.length; i += BATCH_MAX) {
      const group = all.slice(i, i + BATCH_MAX);
      if (group.length === 1) {
        const p = group[0];
        post(p.ref, p.input, p.transferList).then(p.resolve, p.reject);
        continue;
      }
      const items: BatchItem[] = new Array(group.length);
      const transfer: ArrayBuffer[] = [];
      for (let j = 0; j < group.length; j++) {
        const p = group[j];
        items[j] = { file: p.ref.file, name: p.ref.name, input: p.input };
        if (p.transferList) transfer.push(...p.transferList);
      }
      post<BatchOutcome[]>({ file: BATCH_TASK, name: 'batch' }, items, transfer).then(
        (outcomes) => {
          for (let j = 0; j < group.length; j++) {
            const r = outcomes[j];
            if (r.ok) group[j].resolve(r.value);
            else group[j].reject(r.error);
          }
        },
        (e: unknown) => {
          for (const p of group) p.reject(e);
        },
      );
    }
  }

  function run<I, O>(ref: TaskRef, input: I, transferList?: readonly ArrayBuffer[]): Promise<O> {
    if (ref.batch !== true) return post<O>(ref, input, transferList);
    return new Promise<O>((resolve, reject) => {
      pending.push({ ref, input, transferList, resolve: resolve as (v: unknown) => void, reject });
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    });
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
        queued: pool.queueSize + pending.length,
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
