#!/usr/bin/env node
// The machine's ceiling for the best-case session (issue 6): a plain Node `net` server answering
// popload's session script from memory — greeting, +OK to USER and PASS, STAT, a 14-line UIDL,
// +OK to QUIT and close. No disk, no database, no worker: what Node's sockets alone cost.
//   node bench/ceiling.mjs [PORT]        (default 12199), then
//   bench/work/popload --port 12199 --users bench/work/users-s14.txt --mode session -c 50 --seconds 5
import net from 'node:net';

const port = Number(process.argv[2] ?? 12199);
const uidl = `+OK\r\n${Array.from({ length: 14 }, (_, i) => `${i + 1} 1700000000.M${i}P1.host\r\n`).join('')}.\r\n`;

const server = net.createServer({ noDelay: true }, (s) => {
  s.write('+OK ready\r\n');
  let pending = '';
  s.on('data', (d) => {
    pending += d.toString('latin1');
    for (let i = pending.indexOf('\r\n'); i >= 0; i = pending.indexOf('\r\n')) {
      const verb = pending.slice(0, Math.min(i, 4)).toUpperCase();
      pending = pending.slice(i + 2);
      if (verb === 'USER' || verb === 'PASS') s.write('+OK\r\n');
      else if (verb === 'STAT') s.write('+OK 14 16709\r\n');
      else if (verb === 'UIDL') s.write(uidl);
      else if (verb === 'QUIT') s.end('+OK bye\r\n');
      else s.write('-ERR\r\n');
    }
  });
  s.on('error', () => {});
});
server.listen(port, '127.0.0.1', () => process.stdout.write(`ceiling server on 127.0.0.1:${port}\n`));
