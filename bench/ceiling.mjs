#!/usr/bin/env node
// The machine's ceiling for popload's scripts (issue 6): a plain Node `net` server answering from
// memory. No disk, no database, no worker: what Node's sockets alone cost.
//   session: greeting, +OK to USER and PASS, STAT, a 14-line UIDL, +OK to QUIT and close.
//   retr:    with a Maildir given, STAT counts its messages and RETR n answers message n, read
//            into memory (CRLF, dot-stuffed, with its +OK line) at start, in one write.
//   node bench/ceiling.mjs [PORT] [MAILDIR]        (default 12199), then
//   bench/work/popload --port 12199 --users bench/work/users-s14.txt --mode session -c 50 --seconds 5
//   bench/work/popload --port 12199 --users bench/work/users-bulk.txt --only-user bulk --mode retr --seconds 5
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';

const port = Number(process.argv[2] ?? 12199);
const uidl = `+OK\r\n${Array.from({ length: 14 }, (_, i) => `${i + 1} 1700000000.M${i}P1.host\r\n`).join('')}.\r\n`;

/** Each message of a Maildir as its whole RETR answer. */
function answers(maildir) {
  const out = [];
  for (const sub of ['cur', 'new']) {
    for (const name of readdirSync(`${maildir}/${sub}`).sort()) {
      const text = readFileSync(`${maildir}/${sub}/${name}`, 'latin1').replace(/\r?\n/g, '\r\n');
      const body = text.replace(/^\./gm, '..');
      const end = body.endsWith('\r\n') ? '.\r\n' : '\r\n.\r\n';
      out.push(Buffer.from(`+OK ${Buffer.byteLength(text, 'latin1')} octets\r\n${body}${end}`, 'latin1'));
    }
  }
  return out;
}

const messages = process.argv[3] ? answers(process.argv[3]) : [];
// The octet total is not the messages' own (popload reads only the count).
const stat =
  messages.length > 0
    ? `+OK ${messages.length} ${messages.reduce((n, m) => n + m.length, 0)}\r\n`
    : '+OK 14 16709\r\n';

const server = net.createServer({ noDelay: true }, (s) => {
  s.write('+OK ready\r\n');
  let pending = '';
  s.on('data', (d) => {
    pending += d.toString('latin1');
    for (let i = pending.indexOf('\r\n'); i >= 0; i = pending.indexOf('\r\n')) {
      const line = pending.slice(0, i);
      const verb = line.slice(0, 4).toUpperCase();
      pending = pending.slice(i + 2);
      if (verb === 'USER' || verb === 'PASS') s.write('+OK\r\n');
      else if (verb === 'STAT') s.write(stat);
      else if (verb === 'UIDL') s.write(uidl);
      else if (verb === 'RETR' && messages[Number(line.slice(5)) - 1])
        s.write(messages[Number(line.slice(5)) - 1]);
      else if (verb === 'QUIT') s.end('+OK bye\r\n');
      else s.write('-ERR\r\n');
    }
  });
  s.on('error', () => {});
});
server.listen(port, '127.0.0.1', () =>
  process.stdout.write(`ceiling server on 127.0.0.1:${port}, ${messages.length} messages in memory\n`),
);
