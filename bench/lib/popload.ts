// Runs ../shared/bench/popload (compiled into bench/work by setup) and parses its RESULT line.
import { spawn } from 'node:child_process';
import { files } from './paths.js';

export type PopResult = Record<string, number>;

export interface PopRun {
  result: PopResult;
  output: string;
  /** popload's stderr: one line per failed step (-ERR text, timeout), from POPLOAD_DEBUG. */
  failures: string[];
}

/** Runs popload with these arguments; killed after `limitMs` whatever happens. `onLine` sees stdout live. */
export function popload(
  port: number,
  args: readonly string[],
  limitMs: number,
  onLine?: (line: string) => void,
): Promise<PopRun> {
  return new Promise((resolve, reject) => {
    // POPLOAD_DEBUG: popload names the step and the reply of every failure on stderr.
    const child = spawn(files.popload, ['--port', String(port), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, POPLOAD_DEBUG: '1' },
    });
    let output = '';
    let partial = '';
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
      if (!onLine) return;
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) onLine(l);
    });
    let errText = '';
    child.stderr.on('data', (d: Buffer) => {
      errText += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const line = output
        .split('\n')
        .reverse()
        .find((l) => l.startsWith('RESULT '));
      if (!line) {
        reject(new Error(`popload ${args.join(' ')} exited ${code} without RESULT:\n${output}${errText}`));
        return;
      }
      const result: PopResult = {};
      for (const kv of line.slice(7).trim().split(/\s+/)) {
        const [k, v] = kv.split('=');
        if (k && v !== undefined) result[k] = Number.isNaN(Number(v)) ? Number.NaN : Number(v);
      }
      resolve({ result, output, failures: errText.split('\n').filter(Boolean) });
    });
  });
}
