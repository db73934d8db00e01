// `host inspect MODULE [DIR]`: MODULE is a path to a module file, or the name of a module in the
// personality's modules directory (DIR, else $SERVER_PERSONALITY_PATH, else ./personality).
import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import { inspectorSummary } from '../config/inspect.js';
import { importModule, moduleFiles } from '../host/loader.js';
import { personalityDir } from '../host/personality.js';

const stem = (f: string) => basename(f).replace(/\.m?js$/, '');

export async function runInspect(argv: string[]): Promise<number> {
  const [what, dirArg] = argv;
  if (!what || what.startsWith('-')) {
    process.stderr.write('usage: host inspect MODULE|FILE [DIR]\n');
    return 64;
  }
  let file: string | undefined;
  if (what.includes('/') || /\.m?js$/.test(what)) {
    file = what;
  } else {
    const dir = personalityDir(dirArg);
    const files = existsSync(dir) ? moduleFiles(dir) : [];
    file = files.find((f) => stem(f) === what);
    if (!file) {
      // The file name may differ from the module name: ask each file.
      for (const f of files) {
        const { descriptor } = await importModule(f).catch(() => ({ descriptor: undefined }));
        if (descriptor?.name === what) file = f;
      }
    }
    if (!file) {
      process.stderr.write(`host inspect: no module "${what}" in ${dir}/modules\n`);
      return 1;
    }
  }
  try {
    const { descriptor, warning } = await importModule(file);
    if (warning) process.stderr.write(`warning: ${warning}\n`);
    process.stdout.write(inspectorSummary(descriptor));
    return 0;
  } catch (e) {
    process.stderr.write(`host inspect: ${(e as Error).message}\n`);
    return 1;
  }
}
