// Puts the 100,000-message Maildir back as setup made it, so each "first open" does the same work:
// messages that a server moved from new/ to cur/ go back to new/ under their original names, and
// whatever a server left at the top of the Maildir (a listing cache, a lock) is removed.
import { readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { files } from './paths.js';

const KEEP = new Set(['cur', 'new', 'tmp']);

export function restoreScale(maildir: string): { movedBack: number; removed: string[] } {
  const wanted = readFileSync(files.scaleNew, 'utf8').split('\n').filter(Boolean);
  const inNew = new Set(readdirSync(join(maildir, 'new')));
  const curByBase = new Map<string, string>();
  for (const name of readdirSync(join(maildir, 'cur'))) {
    const colon = name.indexOf(':');
    curByBase.set(colon >= 0 ? name.slice(0, colon) : name, name);
  }
  let movedBack = 0;
  for (const name of wanted) {
    if (inNew.has(name)) continue;
    const cur = curByBase.get(name);
    if (cur === undefined) throw new Error(`scale: ${name} is in neither new/ nor cur/`);
    renameSync(join(maildir, 'cur', cur), join(maildir, 'new', name));
    movedBack++;
  }
  const removed: string[] = [];
  for (const name of readdirSync(maildir)) {
    if (KEEP.has(name)) continue;
    rmSync(join(maildir, name), { recursive: true, force: true });
    removed.push(name);
  }
  return { movedBack, removed };
}
