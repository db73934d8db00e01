// Where the kit's files are, from this compiled file's own location (dist/bench/ or .build/NAME/bench/).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The compiled tree this file belongs to (the tsc outDir). */
const outDir = fileURLToPath(new URL('../../', import.meta.url));

/** The project root: the nearest directory above the output dir with our package.json. */
function findRoot(): string {
  let dir = outDir;
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && existsSync(join(dir, 'bench'))) {
      const name = (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name;
      if (name === 'mailhost') return dir;
    }
    const up = dirname(dir);
    if (up === dir) throw new Error(`no project root above ${outDir}`);
    dir = up;
  }
}

export const root = findRoot();
export const benchSrc = join(root, 'bench');
export const work = process.env.BENCH_WORK ?? join(benchSrc, 'work');
export const sharedKit = process.env.BENCH_KIT ?? join(root, '..', 'shared', 'bench');

export const compiled = {
  mainJs: join(outDir, 'src/cli/main.js'),
  pop3Module: join(outDir, 'modules/pop3/index.js'),
} as const;

export const files = {
  popload: join(work, 'popload'),
  setup: join(benchSrc, 'setup.sh'),
  ready: join(work, '.ready'),
  personality: join(work, 'personality'),
  oursRoot: join(work, 'ours'),
  dovecotRoot: join(work, 'dovecot'),
  scaleNew: join(work, 'scale-new.txt'),
  dovecotScript: join(sharedKit, 'peers', 'dovecot.sh'),
  users: (set: string) => join(work, `users-${set}.txt`),
} as const;
