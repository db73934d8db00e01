// The module's counters: plain numbers bumped in place, copied into report() snapshots.
export class Pop3Stats {
  sessions = 0;
  loginsOk = 0;
  loginsFailed = 0;
  loginsRefused = 0;
  retrieved = 0;
  retrievedBytes = 0;
  deleted = 0;
  deletedBytes = 0;
  deleteFailures = 0;

  snapshot(): Record<string, number> {
    const { ...plain } = this;
    return plain as unknown as Record<string, number>;
  }
}
