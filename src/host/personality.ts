// Where the personality is, and what the host derives from all modules' options together.
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';

/** The personality directory: argument, else $SERVER_PERSONALITY_PATH, else ./personality. */
export function personalityDir(arg?: string): string {
  return resolve(arg ?? process.env.SERVER_PERSONALITY_PATH ?? 'personality');
}

/** Worker threads: the largest min_threads/max_threads any module asks for (1 and one per core by default). */
export function threadBounds(options: Iterable<Readonly<Record<string, unknown>>>): {
  min: number;
  max: number;
} {
  let min = 0;
  let max = 0;
  for (const o of options) {
    if (typeof o.min_threads === 'number') min = Math.max(min, o.min_threads);
    if (typeof o.max_threads === 'number') max = Math.max(max, o.max_threads);
  }
  if (min === 0) min = 1;
  if (max === 0) max = availableParallelism();
  return { min, max: Math.max(min, max) };
}
