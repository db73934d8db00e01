// The machine's ceilings, as targets: servers that answer popload's scripts from memory (no disk,
// no database, no POP3 logic), so a run can say how far from what the machine allows ours and
// Dovecot are. `node`: bench/ceiling.mjs, plain Node sockets; `c`: bench/ceiling-epoll.c, one epoll
// thread. Both hold the `bulk` user's messages, so the RETR figure can be measured too.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { greets } from './ours.js';
import { benchSrc, files, work } from './paths.js';
import type { Target } from './target.js';

export type CeilingKind = 'node' | 'c';

/** bench/work/ceiling-epoll, compiled again when the source is newer (setup.sh builds it too). */
function epollBinary(): string {
  const src = join(benchSrc, 'ceiling-epoll.c');
  const bin = join(work, 'ceiling-epoll');
  if (!existsSync(bin) || statSync(bin).mtimeMs < statSync(src).mtimeMs) {
    execFileSync('gcc', ['-O2', '-Wall', '-o', bin, src], { stdio: 'inherit' });
  }
  return bin;
}

export async function startCeiling(kind: CeilingKind, port: number): Promise<Target> {
  if (await greets(port)) throw new Error(`port ${port} already answers: stop that server first`);
  const maildir = join(files.oursRoot, 'bulk', 'Maildir');
  const child: ChildProcess =
    kind === 'node'
      ? spawn(process.execPath, [join(benchSrc, 'ceiling.mjs'), String(port), maildir], { stdio: 'ignore' })
      : spawn(epollBinary(), [String(port), maildir], { stdio: 'ignore' });
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.on('exit', () => {
      exited = true;
      resolve();
    }),
  );
  const end = performance.now() + 20_000;
  while (!(await greets(port))) {
    if (exited || performance.now() > end) throw new Error(`the ${kind} ceiling server did not start`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    name: kind === 'node' ? 'ceiling-node' : 'ceiling-c',
    port,
    maildirRoot: files.oursRoot,
    pids: () => (exited || child.pid === undefined ? [] : [child.pid]),
    resetScale: () => Promise.reject(new Error('a ceiling server has no scale mailbox')),
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      await exit;
    },
  };
}
