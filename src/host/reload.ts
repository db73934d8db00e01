// SIGHUP: which option changes a module can take now, and which need a restart.
import type { OptionSchema } from '../api.js';

function same(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => x === b[i]);
  return a === b;
}

export interface Merge {
  /** The options to apply: reloadable changes taken, the others kept at their old values. */
  next: Readonly<Record<string, unknown>>;
  applied: string[];
  /** Changed keys that are not reloadable (the old value stays until a restart). */
  needRestart: string[];
}

export function mergeReload(
  schema: OptionSchema,
  prev: Readonly<Record<string, unknown>>,
  fresh: Readonly<Record<string, unknown>>,
): Merge {
  const next: Record<string, unknown> = {};
  const applied: string[] = [];
  const needRestart: string[] = [];
  for (const key of Object.keys(schema)) {
    if (same(prev[key], fresh[key])) next[key] = prev[key];
    else if (schema[key].reloadable) {
      next[key] = fresh[key];
      applied.push(key);
    } else {
      next[key] = prev[key];
      needRestart.push(key);
    }
  }
  return { next: Object.freeze(next), applied, needRestart };
}
