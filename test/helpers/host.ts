// Starts a real host process on a temporary personality, for integration tests: JSON logs are
// parsed and kept, so tests wait on log records instead of sleeping.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const outDir = fileURLToPath(new URL('../../', import.meta.url));

/** Compiled files, relative to this helper's own output dir (works for dist/ and .build/NAME/). */
export const helperPaths = {
  mainJs: join(outDir, 'src/cli/main.js'),
  pop3Module: join(outDir, 'modules/pop3/index.js'),
  lmtpModule: join(outDir, 'modules/lmtp/index.js'),
  echoModule: join(outDir, 'test/fixtures/modules/echo/index.js'),
} as const;

export type LogRecord = Record<string, unknown>;

export interface StartHostOptions {
  c11n: string;
  /** Absolute paths of compiled module files, symlinked into DIR/modules in this order. */
  modules: string[];
  /** Extra files, relative to DIR. */
  files?: Record<string, string | Buffer>;
  env?: NodeJS.ProcessEnv;
  /** Use this directory instead of a new temporary one (it is still removed by stop()). */
  dir?: string;
  /** How long start-up may take; 10 s unless told. */
  timeoutMs?: number;
}

export interface RunningHost {
  dir: string;
  proc: ChildProcess;
  logs: LogRecord[];
  /** Raw stdout/stderr text that was not a JSON record. */
  output(): string;
  /** The bound port of the listener with this name (from its `listening` log record). */
  port(listener: string): number;
  waitForLog(pred: (r: LogRecord) => boolean, timeoutMs?: number): Promise<LogRecord>;
  signal(sig: NodeJS.Signals): void;
  /** SIGTERM, wait for the exit (bounded), remove the directory; the exit code. */
  stop(): Promise<number | null>;
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
}

/** Creates a personality directory without starting anything (for `host check`, offline tests). */
export function makePersonality(opts: Omit<StartHostOptions, 'env' | 'timeoutMs'>): string {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'mailhost-'));
  mkdirSync(join(dir, 'modules'), { recursive: true });
  opts.modules.forEach((m, i) => {
    // Name order is load order: a numeric prefix keeps the caller's order.
    const name = `${String(i).padStart(2, '0')}-${basename(m)}`;
    symlinkSync(m, join(dir, 'modules', name.endsWith('.js') ? name : `${name}.js`));
  });
  const c11n = /^\s*log_format\s*=/m.test(opts.c11n) ? opts.c11n : `log_format = json\n${opts.c11n}`;
  writeFileSync(join(dir, 'c11n'), c11n);
  for (const [rel, content] of Object.entries(opts.files ?? {})) {
    const p = join(dir, rel);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, content);
  }
  return dir;
}

export async function startHost(opts: StartHostOptions): Promise<RunningHost> {
  const dir = makePersonality(opts);
  const proc = spawn(process.execPath, [helperPaths.mainJs, 'start', dir], {
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: LogRecord[] = [];
  const waiters = new Set<{ pred: (r: LogRecord) => boolean; resolve: (r: LogRecord) => void }>();
  let raw = '';
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) => {
    proc.on('exit', (code, sig) => {
      exitCode = code ?? (sig ? null : code);
      resolve(code);
    });
  });

  const onRecord = (r: LogRecord) => {
    logs.push(r);
    for (const w of waiters) {
      if (w.pred(r)) {
        waiters.delete(w);
        w.resolve(r);
      }
    }
  };
  const lineSplitter = () => {
    let buf = '';
    return (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      let nl = buf.indexOf('\n');
      while (nl >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let rec: unknown;
        try {
          rec = line.startsWith('{') ? JSON.parse(line) : undefined;
        } catch {
          rec = undefined;
        }
        if (rec && typeof rec === 'object') onRecord(rec as LogRecord);
        else raw += `${line}\n`;
        nl = buf.indexOf('\n');
      }
    };
  };
  proc.stdout?.on('data', lineSplitter());
  proc.stderr?.on('data', lineSplitter());

  const output = () => raw + logs.map((r) => JSON.stringify(r)).join('\n');

  const waitForLog = (pred: (r: LogRecord) => boolean, timeoutMs = 5000): Promise<LogRecord> => {
    const found = logs.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const w = {
        pred,
        resolve: (r: LogRecord) => {
          clearTimeout(timer);
          resolve(r);
        },
      };
      const timer = setTimeout(() => {
        waiters.delete(w);
        reject(new Error(`no matching log record within ${timeoutMs} ms; output:\n${output()}`));
      }, timeoutMs);
      waiters.add(w);
    });
  };

  const cleanup = () => rmSync(dir, { recursive: true, force: true });

  const host: RunningHost = {
    dir,
    proc,
    logs,
    output,
    exited,
    port(listener) {
      const r = logs.find((l) => l.msg === 'listening' && l.listener === listener);
      if (!r || typeof r.port !== 'number')
        throw new Error(`no listener "${listener}"; output:\n${output()}`);
      return r.port;
    },
    waitForLog,
    signal(sig) {
      if (exitCode === undefined) proc.kill(sig);
    },
    async stop() {
      if (exitCode === undefined) proc.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([
        exited,
        new Promise<number | null>((resolve) => {
          timer = setTimeout(() => {
            proc.kill('SIGKILL');
            resolve(null);
          }, 10_000);
        }),
      ]);
      clearTimeout(timer);
      cleanup();
      return code;
    },
  };

  // Started = the host logged `started` (after every module's prestart bound its listeners).
  const started = waitForLog((r) => r.module === 'host' && r.msg === 'started', opts.timeoutMs ?? 10_000);
  started.catch(() => {}); // the race below reports it
  const died = exited.then((code) => {
    throw new Error(`host exited (${code}) before it started; output:\n${output()}`);
  });
  died.catch(() => {}); // only an error while starting
  try {
    await Promise.race([started, died]);
  } catch (e) {
    if (exitCode === undefined) proc.kill('SIGKILL');
    await exited;
    cleanup();
    throw e;
  }
  return host;
}
