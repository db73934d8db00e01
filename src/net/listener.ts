// A TCP (or Unix socket) listener: PROXY header from trusted peers, per-IP and session limits with
// the busy reply, implicit TLS, then a Connection for the module.
import cluster from 'node:cluster';
import { lstatSync, unlinkSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { type SecureContext, TLSSocket } from 'node:tls';
import type { Connection, Endpoint, Listener, ListenSpec, Logger } from '../api.js';
import { HostError } from '../errors.js';
import { claimListenFd } from './activation.js';
import { type AddressMatcher, addressMatcher, canonicalAddress, isLoopback } from './addresses.js';
import { Conn, type IpGate, ignore } from './connection.js';
import { parseProxyHeader } from './proxy.js';
import { loadSecureContext, serverTls } from './tls.js';

/** How long a trusted proxy has to send its header. */
export const PROXY_TIMEOUT_MS = 5_000;
const HANDSHAKE_TIMEOUT_MS = 30_000;
/** A refused client gets this long to read the busy reply. */
const REFUSE_LINGER_MS = 5_000;

/** Per-process session numbers, as in `[1]` in the log. */
let nextSession = 1;

export type ListenFunction = (
  spec: ListenSpec,
  onConnection: (c: Connection) => void,
  log: Logger,
) => Promise<Listener>;

/** `host serve-stdio`: listeners are not bound; the diversion receives them (src/cli/serve-stdio.ts). */
let diversion: ListenFunction | null = null;
export function divertListeners(fn: ListenFunction | null): void {
  diversion = fn;
}

export async function listen(
  spec: ListenSpec,
  onConnection: (c: Connection) => void,
  log: Logger,
): Promise<Listener> {
  if (diversion !== null) return diversion(spec, onConnection, log);
  let perIpLimit = spec.perIpLimit;
  let busyReply = spec.busyReply;
  let trusted: AddressMatcher = addressMatcher(spec.trustedProxies);
  let context: SecureContext | null = spec.tls ? loadSecureContext(spec.tls) : null;
  const perIp = new Map<string, number>();
  const gate: IpGate = {
    leave(address) {
      const n = (perIp.get(address) ?? 1) - 1;
      if (n <= 0) perIp.delete(address);
      else perIp.set(address, n);
    },
  };

  // allowHalfOpen: a client may pipeline commands and close its half; we answer them all first.
  const server = createServer({ allowHalfOpen: true });
  server.on('connection', accept);

  // systemd socket activation: an inherited listening socket instead of a bind (activation.ts).
  const fd = claimListenFd(spec.name);
  if (spec.path !== undefined && fd === undefined) removeStaleSocket(spec.path);
  const where = fd !== undefined ? `inherited fd ${fd}` : (spec.path ?? `${spec.address}:${spec.port}`);
  await new Promise<void>((resolve, reject) => {
    const failed = (e: Error) =>
      reject(new HostError('LISTEN', `${spec.name}: cannot listen on ${where}: ${e.message}`, { cause: e }));
    server.once('error', failed);
    const done = () => {
      server.removeListener('error', failed);
      resolve();
    };
    if (fd !== undefined) server.listen({ fd, backlog: spec.backlog }, done);
    else if (spec.path !== undefined) server.listen({ path: spec.path, backlog: spec.backlog }, done);
    else server.listen({ host: spec.address, port: spec.port, backlog: spec.backlog }, done);
  });
  server.on('error', (e) => log.error({ listener: spec.name, err: e.message }, 'listener error'));
  const bound = server.address();
  const address = typeof bound === 'string' ? bound : (bound?.address ?? spec.address);
  const port = typeof bound === 'object' && bound !== null ? bound.port : 0;
  log.info({ listener: spec.name, address, port, fd }, 'listening');

  function accept(socket: Socket): void {
    socket.on('error', ignore); // resets before the session exists; the Connection logs later ones
    // Reset before we saw it: no address to judge (and never mistake it for a local peer).
    if (spec.path === undefined && socket.remoteAddress === undefined) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    const peer = canonicalAddress(socket.remoteAddress);
    const self: Endpoint = {
      address: spec.path ?? canonicalAddress(socket.localAddress),
      port: socket.localPort ?? 0,
    };
    const remote: Endpoint = { address: peer, port: socket.remotePort ?? 0 };
    if (trusted(peer)) readProxyHeader(socket, remote, self);
    else void admit(socket, remote, self, false);
  }

  function readProxyHeader(socket: Socket, peer: Endpoint, self: Endpoint): void {
    let buf: Buffer | null = null;
    const expire = () => {
      log.warn({ listener: spec.name, peer: peer.address }, 'no PROXY header from trusted proxy');
      socket.destroy();
    };
    const onData = (chunk: Buffer) => {
      buf = buf === null ? chunk : Buffer.concat([buf, chunk]);
      const r = parseProxyHeader(buf);
      if (r.state === 'more') return;
      socket.removeListener('data', onData);
      socket.removeListener('timeout', expire);
      socket.setTimeout(0);
      socket.pause();
      if (r.state === 'invalid') {
        log.warn({ listener: spec.name, peer: peer.address, reason: r.reason }, 'bad PROXY header');
        socket.destroy();
        return;
      }
      // What followed the header (a pipelined command, a TLS ClientHello) is read again later.
      if (r.consumed < buf.length) socket.unshift(buf.subarray(r.consumed));
      if (r.source === null || r.destination === null) void admit(socket, peer, self, false);
      else {
        const remote = { address: canonicalAddress(r.source.address), port: r.source.port };
        const local = { address: canonicalAddress(r.destination.address), port: r.destination.port };
        void admit(socket, remote, local, true);
      }
    };
    socket.on('data', onData);
    socket.setTimeout(PROXY_TIMEOUT_MS, expire);
  }

  async function admit(socket: Socket, remote: Endpoint, local: Endpoint, proxied: boolean): Promise<void> {
    const ip = remote.address;
    // Counted even without a limit, so a limit set by reload sees the sessions already open.
    const counted = spec.path === undefined;
    if (counted) {
      const n = perIp.get(ip) ?? 0;
      if (perIpLimit > 0 && n >= perIpLimit) return refuse(socket, remote, 'per-IP limit');
      perIp.set(ip, n + 1);
    }
    const slot = await spec.sessions.tryAcquire();
    if (slot === null) {
      if (counted) gate.leave(ip);
      return refuse(socket, remote, 'session limit');
    }
    if (socket.destroyed) {
      // Gone while we waited for the slot: no session to hand over.
      slot.release();
      if (counted) gate.leave(ip);
      return;
    }
    let s: Socket | TLSSocket = socket;
    if (context !== null) {
      try {
        s = await serverTls(socket, context, HANDSHAKE_TIMEOUT_MS);
      } catch (e) {
        log.debug({ listener: spec.name, peer: ip, err: (e as Error).message }, 'TLS handshake failed');
        slot.release();
        if (counted) gate.leave(ip);
        return;
      }
    }
    const id = nextSession++;
    const conn = new Conn({
      id,
      remote,
      local,
      proxied,
      secure: context !== null,
      loopback: isLoopback(ip),
      socket: s,
      parentLog: log,
      slot,
      gate: counted ? gate : null,
    });
    onConnection(conn);
  }

  function refuse(socket: Socket, remote: Endpoint, why: string): void {
    log.info({ listener: spec.name, peer: remote.address, reason: why }, 'connection refused');
    if (socket.destroyed) return;
    let s: Socket | TLSSocket = socket;
    if (context !== null) {
      // Implicit TLS: the client only understands the reply inside TLS.
      s = new TLSSocket(socket, { isServer: true, secureContext: context });
      s.on('error', ignore);
    }
    s.setTimeout(REFUSE_LINGER_MS, () => s.destroy());
    s.end(busyReply);
    s.resume(); // read and drop until the peer closes, so its FIN is seen
  }

  return {
    name: spec.name,
    address,
    port,
    close(): Promise<void> {
      // server.close()'s callback waits for every connection; we only stop accepting.
      return new Promise((resolve) => {
        server.close();
        setImmediate(resolve);
      });
    },
    update(changes): void {
      if (changes.perIpLimit !== undefined) perIpLimit = changes.perIpLimit;
      if (changes.busyReply !== undefined) busyReply = changes.busyReply;
      if (changes.trustedProxies !== undefined) {
        try {
          trusted = addressMatcher(changes.trustedProxies);
        } catch (e) {
          log.error({ listener: spec.name, err: (e as Error).message }, 'trusted proxies not changed');
        }
      }
      // Only an implicit-TLS listener has a context to replace; a broken file keeps the old one.
      if (changes.tls !== undefined && context !== null) {
        try {
          context = loadSecureContext(changes.tls);
          log.info({ listener: spec.name }, 'TLS certificate reloaded');
        } catch (e) {
          log.error({ listener: spec.name, err: (e as Error).message }, 'TLS certificate not reloaded');
        }
      }
    },
  };
}

/** A socket file left by a previous run; never in a cluster worker (the primary owns the file). */
function removeStaleSocket(path: string): void {
  if (cluster.isWorker) return;
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new HostError('LISTEN', `cannot remove stale socket ${path}: ${(e as Error).message}`, {
        cause: e,
      });
    }
  }
}
