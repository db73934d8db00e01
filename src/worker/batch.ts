// Runs several short tasks handed over in one message (see WorkerPool, TaskRef.batch): one thread
// wake-up and one reply instead of one per task. Each task's outcome is returned separately, so a
// failing task fails only its own caller.
import { move, transferableSymbol, valueSymbol } from 'piscina';

export interface BatchItem {
  file: string;
  name: string;
  input: unknown;
}
export type BatchOutcome = { ok: true; value: unknown } | { ok: false; error: unknown };

type TaskFn = (input: unknown) => unknown;
const modules = new Map<string, Record<string, unknown>>();

async function fn(file: string, name: string): Promise<TaskFn> {
  let m = modules.get(file);
  if (m === undefined) {
    m = (await import(file)) as Record<string, unknown>;
    modules.set(file, m);
  }
  const f = m[name];
  if (typeof f !== 'function') throw new Error(`no task ${name} exported from ${file}`);
  return f as TaskFn;
}

/** What piscina's move() makes: the value and its transferables (one, or a list). */
interface Movable {
  [transferableSymbol]: ArrayBuffer | ArrayBuffer[];
  [valueSymbol]: unknown;
}
function isMovable(v: unknown): v is Movable {
  return typeof v === 'object' && v !== null && transferableSymbol in v && valueSymbol in v;
}

export async function batch(items: BatchItem[]): Promise<BatchOutcome[]> {
  const out: BatchOutcome[] = new Array(items.length);
  const transfer: ArrayBuffer[] = [];
  for (let i = 0; i < items.length; i++) {
    const it = items[i];
    try {
      let value = await (await fn(it.file, it.name))(it.input);
      if (isMovable(value)) {
        const t = value[transferableSymbol];
        if (Array.isArray(t)) transfer.push(...t);
        else transfer.push(t);
        value = value[valueSymbol];
      }
      out[i] = { ok: true, value };
    } catch (error) {
      out[i] = { ok: false, error };
    }
  }
  if (transfer.length === 0) return out;
  const movable = { [transferableSymbol]: transfer, [valueSymbol]: out };
  return move(movable) as unknown as BatchOutcome[];
}
