// The private Dovecot of ../shared/bench/peers/dovecot.sh, on its own copy of the corpus.
import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { files } from './paths.js';
import { restoreScale } from './scale.js';
import type { Target } from './target.js';

const run = promisify(execFile);

export function dovecotInstalled(): boolean {
  try {
    return readFileSync('/var/lib/dpkg/status', 'utf8').includes(
      'Package: dovecot-pop3d\nStatus: install ok installed',
    );
  } catch {
    return false;
  }
}

export async function dovecotVersion(): Promise<string> {
  try {
    return (await run('dovecot', ['--version'])).stdout.trim();
  } catch {
    return 'unknown';
  }
}

export async function startDovecot(port: number): Promise<Target> {
  const state = `/tmp/popharness-dovecot-${port}`;
  await run(files.dovecotScript, ['stop', String(port)]).catch(() => undefined);
  await run(files.dovecotScript, ['start', String(port), files.dovecotRoot, files.users('all')], {
    timeout: 120_000,
  });
  const pid = Number(readFileSync(join(state, 'run', 'master.pid'), 'utf8'));
  const maildirRoot = files.dovecotRoot;
  return {
    name: 'dovecot',
    port,
    maildirRoot,
    pids: () => [pid],
    async resetScale() {
      // INDEX= and CONTROL= keep Dovecot's index and uidlist outside the Maildir.
      rmSync(join(state, 'index', 'scale'), { recursive: true, force: true });
      rmSync(join(state, 'control', 'scale'), { recursive: true, force: true });
      return restoreScale(join(maildirRoot, 'scale', 'Maildir'));
    },
    async stop() {
      await run(files.dovecotScript, ['stop', String(port)], { timeout: 30_000 });
    },
  };
}
