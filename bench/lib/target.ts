// A server under test: ours (the host with the POP3 module), a private Dovecot, or one of the
// machine's ceilings (bench/lib/ceiling.ts: answers from memory, no POP3 server).
export type Side = 'ours' | 'dovecot' | 'ceiling-node' | 'ceiling-c';

export interface Target {
  readonly name: Side;
  readonly port: number;
  /** The maildir root this server reads (each server has its own copy of the corpus). */
  readonly maildirRoot: string;
  /** Root processes of the server; memory and CPU are summed over their trees. */
  pids(): number[];
  /** Makes the next session on the `scale` mailbox a first open (no index, no cache). */
  resetScale(): Promise<{ movedBack: number; removed: string[] }>;
  /** Restarts the server, so a memory figure does not reuse heap freed by earlier runs. */
  fresh?(): Promise<void>;
  stop(): Promise<void>;
}
