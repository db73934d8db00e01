// POP3's letters for the sequence string of the disconnect log line (the folding is the host's,
// src/sequence.ts): USER PASS STAT UIDL RETR×4 DELE×4 QUIT = `upsUr4d4q`.
//
// r2d2's: c CAPA, u USER, p PASS, q QUIT, s STAT, U UIDL, i UIDL n, L LIST, l LIST n, d DELE,
// R RSET, r RETR, t TOP, n NOOP, ^ STLS, ! invalid (unknown verb or over-long line).
// Ours: a APOP, A AUTH (the SASL exchange that follows counts as part of the AUTH).
export { encodeSequence, Sequence } from '../../src/api.js';
