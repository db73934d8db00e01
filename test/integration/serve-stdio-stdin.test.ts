// `host serve-stdio` needs a socket or a pipe on standard input and output: a regular file or
// /dev/null is refused with one line and exit 64 (EX_USAGE), not a stack trace.
import assert from 'node:assert/strict';
import { type StdioOptions, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { helperPaths } from '../helpers/host.js';

function run(stdio: StdioOptions): Promise<{ code: number | null; stderr: string }> {
  const proc = spawn(process.execPath, [helperPaths.mainJs, 'serve-stdio', tmpdir()], { stdio });
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString('utf8');
  });
  const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
  return new Promise((resolve) =>
    proc.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    }),
  );
}

test('serve-stdio with a regular file as standard input: one-line error, exit 64', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'serve-stdio-file-'));
  const file = join(dir, 'input');
  writeFileSync(file, 'QUIT\r\n');
  const fd = openSync(file, 'r');
  try {
    const r = await run([fd, 'pipe', 'pipe']);
    assert.equal(r.code, 64, r.stderr);
    assert.equal(
      r.stderr,
      'host serve-stdio: standard input is a regular file: it must be a socket or a pipe\n',
    );
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('serve-stdio with /dev/null as standard input: one-line error, exit 64', async () => {
  const r = await run(['ignore', 'pipe', 'pipe']);
  assert.equal(r.code, 64, r.stderr);
  assert.match(r.stderr, /^host serve-stdio: standard input is [^\n]*: it must be a socket or a pipe\n$/);
  assert.doesNotMatch(r.stderr, /TypeError|ERR_INVALID_FD_TYPE/);
});
