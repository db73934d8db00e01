// The module's counters: plain numbers bumped in place, copied into report() snapshots.
import { Counters } from '../../src/api.js';

export class LmtpStats extends Counters {
  sessions = 0;
  /** Messages whose DATA completed (whatever the per-recipient outcome). */
  messages = 0;
  /** Recipients a message was delivered to / refused for after DATA. */
  delivered = 0;
  failed = 0;
  /** CRLF octets of delivered messages (once per message, not per recipient). */
  bytes = 0;
  /** RCPT answered 550 5.1.1 / 451 4.3.0. */
  unknownRecipients = 0;
  lookupFailures = 0;
}
