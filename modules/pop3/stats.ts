// The module's counters: plain numbers bumped in place, copied into report() snapshots.
import { Counters } from '../../src/api.js';

export class Pop3Stats extends Counters {
  sessions = 0;
  loginsOk = 0;
  loginsFailed = 0;
  loginsRefused = 0;
  retrieved = 0;
  retrievedBytes = 0;
  deleted = 0;
  deletedBytes = 0;
  deleteFailures = 0;
}
