// Our host with the POP3 module, on a personality in bench/work/personality.
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { compiled, files, work } from './paths.js';
import { restoreScale } from './scale.js';
import type { Target } from './target.js';

export interface OursOptions {
  port: number;
  processes: number;
  /** Extra c11n lines for the [pop3] section (from --pop3-option key=value). */
  pop3Extra: readonly string[];
  /** Extra node flags, e.g. --cpu-prof (from --cpu-prof). */
  nodeArgs: readonly string[];
}

export const oursLog = join(work, 'ours.log');

/** The c11n the benchmark runs: fast {PLAIN} passwords, warnings only, no per-IP limit. */
export function c11n(o: OursOptions): string {
  return `identity = bench
executes_as_root = true
log_level = warn
processes = ${o.processes}
drain_time = 1s

[database.default]
driver = sqlite
path = users.sqlite
init = schema.sql

[pop3]
address = 127.0.0.1
port = ${o.port}
tls_port = 0
database = default
maildir_root = ${files.oursRoot}
maildrop_query_format_string = "SELECT maildrop, password FROM mailbox WHERE address = '%u' AND active = 1"
plaintext_without_tls = loopback
max_sessions = 19500
; all load comes from 127.0.0.1
max_sessions_per_ip = 0
${o.pop3Extra.join('\n')}
`;
}

function writePersonality(o: OursOptions): void {
  const dir = files.personality;
  writeFileSync(join(dir, 'c11n'), c11n(o));
  const link = join(dir, 'modules', 'pop3.js');
  rmSync(link, { force: true });
  symlinkSync(compiled.pop3Module, link);
}

/** Whether something on the port sends a POP3 greeting within 2 s. */
export function greets(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    const t = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, 2000);
    s.once('data', (d: Buffer) => {
      clearTimeout(t);
      s.end('QUIT\r\n');
      resolve(d.toString('latin1').startsWith('+OK'));
    });
    s.once('error', () => {
      clearTimeout(t);
      resolve(false);
    });
  });
}

/** Resolves once the server sends a greeting, or rejects after `limitMs`. */
export async function waitForGreeting(port: number, limitMs: number, alive: () => boolean): Promise<void> {
  const end = performance.now() + limitMs;
  while (performance.now() < end) {
    if (!alive()) throw new Error(`the host exited while starting; see ${oursLog}`);
    if (await greets(port)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no greeting on port ${port} within ${limitMs} ms; see ${oursLog}`);
}

export function oursBuilt(): boolean {
  return existsSync(compiled.mainJs) && existsSync(compiled.pop3Module);
}

/** One running host process. */
class Instance {
  private exited = false;
  private readonly exit: Promise<void>;
  readonly child: ChildProcess;

  constructor(nodeArgs: readonly string[]) {
    const log = openSync(oursLog, 'a');
    // The host cannot raise its own descriptor limit: the shell does, as scripts/start.sh does.
    this.child = spawn(
      'bash',
      [
        '-c',
        'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"',
        process.execPath,
        ...nodeArgs,
        compiled.mainJs,
        'start',
        files.personality,
      ],
      { stdio: ['ignore', log, log] },
    );
    closeSync(log);
    this.exit = new Promise<void>((resolve) => {
      this.child.on('exit', () => {
        this.exited = true;
        resolve();
      });
    });
  }

  get alive(): boolean {
    return !this.exited;
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 8000);
    await this.exit;
    clearTimeout(t);
  }
}

export class Ours implements Target {
  readonly name = 'ours';
  readonly maildirRoot = files.oursRoot;
  private current: Instance | undefined;

  constructor(private o: OursOptions) {}

  async fresh(): Promise<void> {
    await this.restart(this.o.processes);
  }

  /** Stops the host and starts it again with this many processes. */
  async restart(processes: number): Promise<void> {
    await this.stop();
    this.o = { ...this.o, processes };
    await this.start();
  }

  get port(): number {
    return this.o.port;
  }

  async start(): Promise<void> {
    // A greeting from a server left over on this port would be taken for ours.
    if (await greets(this.o.port))
      throw new Error(`port ${this.o.port} already answers: stop that server first`);
    writePersonality(this.o);
    const inst = new Instance(this.o.nodeArgs);
    try {
      await waitForGreeting(this.o.port, 20_000, () => inst.alive);
    } catch (e) {
      await inst.stop();
      const tail = readFileSync(oursLog, 'utf8').split('\n').slice(-15).join('\n');
      throw new Error(`${(e as Error).message}\n${tail}`);
    }
    this.current = inst;
  }

  pids(): number[] {
    const pid = this.current?.alive ? this.current.child.pid : undefined;
    return pid === undefined ? [] : [pid];
  }

  async resetScale(): Promise<{ movedBack: number; removed: string[] }> {
    // A restart also drops whatever the server keeps in memory: the next open is a first open.
    await this.stop();
    const r = restoreScale(join(files.oursRoot, 'scale', 'Maildir'));
    await this.start();
    return r;
  }

  async stop(): Promise<void> {
    await this.current?.stop();
    this.current = undefined;
  }
}

export async function startOurs(o: OursOptions): Promise<Ours> {
  const t = new Ours(o);
  await t.start();
  return t;
}
