// Chooses the store per maildrop: `store = maildir` or `mbox` forces one; `auto` (the default)
// opens a Maildir first, so Maildir users cost exactly what they did before, and only when that
// fails asks the mbox store whether the path is an mbox file (one more hand-off, mbox users only).
import type { MboxStore } from './mbox/store.js';
import type { MaildropStore, OpenOptions, OpenResult } from './seams.js';

export type StoreKind = 'auto' | 'maildir' | 'mbox';

export function createStoreSelector(
  kind: () => StoreKind,
  maildir: MaildropStore,
  mbox: MboxStore,
): MaildropStore {
  return {
    async open(path: string, options: OpenOptions): Promise<OpenResult> {
      const k = kind();
      if (k === 'maildir') return maildir.open(path, options);
      if (k === 'mbox') return mbox.open(path, options);
      const r = await maildir.open(path, options);
      if (r.ok || r.reason === 'in-use') return r;
      const m = await mbox.probe(path, options);
      // A directory or a missing path: the Maildir's answer stands.
      return m.ok || m.reason !== 'not-mbox' ? (m as OpenResult) : r;
    },
  };
}
