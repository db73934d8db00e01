// popserv's login notifications (logudp.dst / logudp.secret / logudp.multicast.ttl): after each
// successful authentication one UDP datagram goes to `notify_udp_destination`, for POP-before-SMTP
// relays and audit collectors. Fire and forget: the login never waits for it and never fails
// because of it; a send error is logged once until a send succeeds again.
//
// The datagram is text, one `key value` per line, ended by a line holding a dot (popserv's shape):
//
//   service pop
//   user joe
//   ip 192.0.2.7
//   time 1700000000
//   source mail.example.com
//   nonce 6f1c2a9e0b7d4c55
//   hmac-sha256 <64 hex>
//   .
//
// popserv signed with `md5 MD5(challenge + secret)`: the digest covered only the challenge, so
// anyone who saw one packet could replay it with another user or address. Here, when
// `notify_udp_secret` is set, `hmac-sha256` is HMAC-SHA256(secret, every byte before that line),
// so every field is covered; receivers check it, reject a `time` far from their clock and remember
// recent nonces to drop replays. Without a secret the line is left out.
import { createHmac, randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import type { Logger } from '../../src/api.js';

export interface NotifyConfig {
  /** `host:port`, `[v6]:port`; undefined or empty: off. */
  destination: string | undefined;
  /** IP TTL for a multicast destination. */
  ttl: number;
  secret: string | undefined;
  /** `source` field: the server's name. */
  server: string;
}

export interface LoginNotice {
  user: string;
  ip: string;
  /** Seconds since 1970. */
  time: number;
}

/** The datagram for a login; `nonce` fixed only in tests. */
export function notice(n: LoginNotice, server: string, secret: string | undefined, nonce?: string): Buffer {
  const clean = (v: string) => v.replace(/[\r\n]/g, '?');
  const body =
    'service pop\n' +
    `user ${clean(n.user)}\n` +
    `ip ${clean(n.ip)}\n` +
    `time ${n.time}\n` +
    `source ${clean(server)}\n` +
    `nonce ${nonce ?? randomBytes(8).toString('hex')}\n`;
  const mac = secret
    ? `hmac-sha256 ${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}\n`
    : '';
  return Buffer.from(`${body}${mac}.\n`, 'utf8');
}

/** `host:port` or `[v6]:port`; null when malformed. */
export function parseDestination(d: string): { host: string; port: number } | null {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(d) ?? /^([^:]+):(\d+)$/.exec(d);
  if (!m) return null;
  const port = Number(m[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return null;
  return { host: m[1], port };
}

function isMulticast(host: string): boolean {
  const v = isIP(host);
  if (v === 4) {
    const first = Number(host.split('.')[0]);
    return first >= 224 && first <= 239;
  }
  return v === 6 && /^ff/i.test(host);
}

export interface Notifier {
  loginOk(user: string, ip: string): void;
  close(): void;
}

export function createNotifier(config: () => NotifyConfig, log: Logger): Notifier {
  let sock: Socket | null = null;
  let ready: Promise<Socket> | null = null;
  let sockFor = '';
  let failing = false;

  const fail = (e: unknown, dest: string) => {
    if (failing) return;
    failing = true;
    log.warn(
      { destination: dest, err: e instanceof Error ? e.message : String(e) },
      'login notification not sent',
    );
  };

  /** The socket for this destination kind; a multicast one is bound and has its TTL before use. */
  function socketFor(host: string, ttl: number): Promise<Socket> {
    const family = isIP(host) === 6 ? 'udp6' : 'udp4';
    const multicast = isMulticast(host);
    const key = `${family} ${ttl} ${multicast}`;
    if (ready !== null && sockFor === key) return ready;
    sock?.close();
    const s = createSocket(family);
    s.unref();
    s.on('error', (e) => fail(e, host));
    sock = s;
    sockFor = key;
    ready = multicast
      ? new Promise<Socket>((resolve) => {
          s.bind(0, () => {
            try {
              s.setMulticastTTL(ttl);
            } catch (e) {
              fail(e, host);
            }
            resolve(s);
          });
        })
      : Promise.resolve(s);
    return ready;
  }

  return {
    loginOk(user: string, ip: string): void {
      const cfg = config();
      if (!cfg.destination) return;
      const dest = parseDestination(cfg.destination);
      if (dest === null) {
        fail(new Error('expected host:port'), cfg.destination);
        return;
      }
      try {
        const msg = notice({ user, ip, time: Math.floor(Date.now() / 1000) }, cfg.server, cfg.secret);
        const where = cfg.destination;
        socketFor(dest.host, cfg.ttl)
          .then((s) =>
            s.send(msg, dest.port, dest.host, (e) => {
              if (e) fail(e, where);
              else failing = false;
            }),
          )
          .catch((e: unknown) => fail(e, where));
      } catch (e) {
        fail(e, cfg.destination);
      }
    },
    close(): void {
      sock?.close();
      sock = null;
      ready = null;
    },
  };
}
