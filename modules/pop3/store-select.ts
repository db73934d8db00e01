// Chooses the store per maildrop: `store = maildir` or `mbox` forces one; `auto` (the default)
// opens a Maildir first, so Maildir users cost exactly what they did before, and only when that
// fails asks the mbox store whether the path is an mbox file. Paths found to be mbox files are
// remembered, so from their second session on they too cost one hand-off to open.
import type { MboxStore } from './mbox/store.js';
import type { MaildropStore, OpenOptions, OpenResult } from './seams.js';

export type StoreKind = 'auto' | 'maildir' | 'mbox';

/** Remembered mbox paths; the set is simply emptied when it grows past this. */
const KNOWN_MBOX_MAX = 65_536;

export function createStoreSelector(
  kind: () => StoreKind,
  maildir: MaildropStore,
  mbox: MboxStore,
): MaildropStore {
  const knownMbox = new Set<string>();

  async function viaMbox(path: string, options: OpenOptions): Promise<OpenResult | null> {
    const m = await mbox.probe(path, options);
    if (!m.ok && m.reason === 'not-mbox') {
      knownMbox.delete(path);
      return null;
    }
    if (m.ok) {
      if (knownMbox.size >= KNOWN_MBOX_MAX) knownMbox.clear();
      knownMbox.add(path);
    }
    return m as OpenResult;
  }

  return {
    async open(path: string, options: OpenOptions): Promise<OpenResult> {
      const k = kind();
      if (k === 'maildir') return maildir.open(path, options);
      if (k === 'mbox') return mbox.open(path, options);
      if (knownMbox.has(path)) {
        const m = await viaMbox(path, options);
        if (m !== null) return m;
        return maildir.open(path, options);
      }
      const r = await maildir.open(path, options);
      if (r.ok || r.reason === 'in-use') return r;
      // A directory or a missing path: the Maildir's answer stands.
      return (await viaMbox(path, options)) ?? r;
    },
  };
}
