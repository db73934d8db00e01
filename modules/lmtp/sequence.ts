// LMTP's letters for the sequence string of the disconnect log line (the folding is the host's,
// src/sequence.ts): LHLO MAIL RCPT×3 DATA QUIT = `LMr3Dq`.
//
// L LHLO, M MAIL, r RCPT, D DATA, R RSET, n NOOP, v VRFY, q QUIT, ! invalid (unknown or refused
// verb, over-long line).
export { Sequence } from '../../src/api.js';
