// Warn at start when the sessions a configuration allows cannot all get a file descriptor.
import { readFileSync } from 'node:fs';

/** The soft RLIMIT_NOFILE, or undefined when /proc is not there (not Linux) or says unlimited. */
export function softNoFileLimit(): number | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    return soft && /^\d+$/.test(soft) ? Number(soft) : undefined;
  } catch {
    return undefined;
  }
}

/** Descriptors the host needs beyond sessions: stdio, listeners, database connections, workers. */
export const FD_MARGIN = 64;
