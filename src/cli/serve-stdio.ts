// `host serve-stdio [DIR] [MODULE]`: one session on standard input/output, for a super-server:
// inetd and xinetd (`wait = no`), tcpserver, socat EXEC, systemd `Accept=yes` services. The same
// personality, modules, c11n and logs as `host start`; only the listeners differ: none is bound,
// and the first one of MODULE (default: the first module that listens) gets this one connection.
// MODULE may also name a listener: `pop3s` serves implicit TLS (the module's pop3s listener, so
// tls_port > 0 and a certificate).
// Logs go to standard error (standard output is the client). The process exits when the session
// ends.
//
// The client's address: TCPREMOTEIP/TCPREMOTEPORT (tcpserver), REMOTE_ADDR/REMOTE_PORT (systemd),
// SOCAT_PEERADDR/SOCAT_PEERPORT (socat), else the peer of fd 0 when it is a TCP socket. A pipe or
// a Unix socket pair without any of these is a local client (loopback for plaintext_without_tls).
import { fstatSync } from 'node:fs';
import { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import type { Connection, Endpoint, Listener, ListenSpec, Logger } from '../api.js';
import { Host, logStartupError } from '../host/host.js';
import { peekHostOptions, peekLogger } from '../host/peek.js';
import { personalityDir } from '../host/personality.js';
import { inheritListeningStdin } from '../net/activation.js';
import { canonicalAddress, isLoopback } from '../net/addresses.js';
import { Conn } from '../net/connection.js';
import { divertListeners } from '../net/listener.js';
import { loadSecureContext, serverTls } from '../net/tls.js';

const HANDSHAKE_TIMEOUT_MS = 30_000;

export const SERVE_STDIO_USAGE = `usage: host serve-stdio [DIR] [MODULE]
       host serve-stdio --wait [DIR]

One session on standard input and output (inetd, xinetd, tcpserver, socat, systemd Accept=yes).
DIR is the personality (else $SERVER_PERSONALITY_PATH, else ./personality); MODULE the module or
listener that serves it (default: the first that opens a listener; pop3s: implicit TLS).
--wait: standard input is a listening socket (inetd/xinetd wait = yes, popserv -i): the first
listener accepts on it, the others bind as usual, and the server runs until SIGTERM.
Logs go to standard error.
`;

/** fd 0 and fd 1 are the same open socket (inetd, tcpserver, systemd and socat all do this). */
function sameFile(a: number, b: number): boolean {
  try {
    const x = fstatSync(a);
    const y = fstatSync(b);
    return x.dev === y.dev && x.ino === y.ino;
  } catch {
    return false;
  }
}

/**
 * Separate input and output descriptors (two pipes) as one socket-like duplex: what a Connection
 * needs from a socket (data, end, close, timeout, cork) and no more.
 */
class PipePair extends Duplex {
  private timer: NodeJS.Timeout | undefined;
  private timeoutMs = 0;

  constructor(
    private readonly input: Socket,
    private readonly output: Socket,
  ) {
    super({ allowHalfOpen: true });
    input.on('data', (d: Buffer) => {
      this.touch();
      if (!this.push(d)) input.pause();
    });
    input.on('end', () => this.push(null));
    input.on('error', (e) => this.destroy(e));
    output.on('error', (e) => this.destroy(e));
  }

  override _read(): void {
    this.input.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.touch();
    this.output.write(chunk, cb);
  }

  override _final(cb: (e?: Error | null) => void): void {
    this.output.end(() => cb());
  }

  override _destroy(err: Error | null, cb: (e: Error | null) => void): void {
    clearTimeout(this.timer);
    this.input.destroy();
    this.output.destroy();
    cb(err);
  }

  setTimeout(ms: number, cb?: () => void): this {
    this.timeoutMs = ms;
    if (cb) this.once('timeout', cb);
    this.touch();
    return this;
  }

  setNoDelay(): this {
    return this;
  }

  private touch(): void {
    clearTimeout(this.timer);
    if (this.timeoutMs > 0 && !this.destroyed) {
      this.timer = setTimeout(() => this.emit('timeout'), this.timeoutMs);
      this.timer.unref();
    }
  }
}

function envAddress(env: NodeJS.ProcessEnv, sock: Socket | null): { ip: string | undefined; port: number } {
  const pairs: [string, string][] = [
    ['TCPREMOTEIP', 'TCPREMOTEPORT'],
    ['REMOTE_ADDR', 'REMOTE_PORT'],
    ['SOCAT_PEERADDR', 'SOCAT_PEERPORT'],
  ];
  for (const [a, p] of pairs) {
    if (env[a]) return { ip: env[a], port: Number(env[p]) || 0 };
  }
  if (sock?.remoteAddress) return { ip: sock.remoteAddress, port: sock.remotePort ?? 0 };
  return { ip: undefined, port: 0 };
}

function localAddress(env: NodeJS.ProcessEnv, sock: Socket | null): Endpoint {
  if (env.TCPLOCALIP)
    return { address: canonicalAddress(env.TCPLOCALIP), port: Number(env.TCPLOCALPORT) || 0 };
  if (env.SOCAT_SOCKADDR) {
    return { address: canonicalAddress(env.SOCAT_SOCKADDR), port: Number(env.SOCAT_SOCKPORT) || 0 };
  }
  if (sock?.localAddress) return { address: canonicalAddress(sock.localAddress), port: sock.localPort ?? 0 };
  return { address: 'stdio', port: 0 };
}

/**
 * Why `fd` cannot serve as the session's stream (net.Socket takes only a socket or a pipe and
 * throws ERR_INVALID_FD_TYPE for the rest), or null when it can.
 */
function unusableStream(fd: number): string | null {
  let st: ReturnType<typeof fstatSync>;
  try {
    st = fstatSync(fd);
  } catch {
    return 'closed';
  }
  if (st.isSocket() || st.isFIFO()) return null;
  if (st.isFile()) return 'a regular file';
  if (st.isCharacterDevice()) return 'a character device (a terminal or /dev/null)';
  return 'neither a socket nor a pipe';
}

interface Target {
  spec: ListenSpec;
  onConnection: (c: Connection) => void;
  log: Logger;
}

/** Start the host with its signal handlers; null (the reason logged) when it did not start. */
async function startHost(dir: string, root: Logger, log: Logger): Promise<Host | null> {
  const host = new Host(dir, root);
  try {
    await host.start();
  } catch (e) {
    logStartupError(log, e);
    return null;
  }
  host.installSignals();
  return host;
}

export async function runServeStdio(args: string[]): Promise<number | undefined> {
  if (args[0] === '--help' || args[0] === '-h') {
    process.stdout.write(SERVE_STDIO_USAGE);
    return 0;
  }
  const wait = args[0] === '--wait';
  const [dirArg, moduleName] = wait ? args.slice(1) : args;
  if (!wait) {
    for (const [fd, name] of [
      [0, 'standard input'],
      [1, 'standard output'],
    ] as const) {
      const why = unusableStream(fd);
      if (why !== null) {
        process.stderr.write(`host serve-stdio: ${name} is ${why}: it must be a socket or a pipe\n`);
        return 64; // EX_USAGE
      }
    }
  }
  const dir = personalityDir(dirArg);
  const peek = peekHostOptions(dir);
  // Under inetd fd 2 may be the client socket too: then nothing may be written there.
  const quiet = sameFile(0, 2);
  const root = peekLogger(peek, { stderr: true, silent: quiet });
  const log = root.child({ module: 'host' });

  if (wait) {
    inheritListeningStdin();
    return (await startHost(dir, root, log)) === null ? 1 : undefined;
  }

  const targets: Target[] = [];
  divertListeners(async (spec, onConnection, moduleLog) => {
    targets.push({ spec, onConnection, log: moduleLog });
    const listener: Listener = {
      name: spec.name,
      address: 'stdio',
      port: 0,
      close: async () => {},
      update: () => {},
    };
    return listener;
  });

  const host = await startHost(dir, root, log);
  if (host === null) return 1;
  const target =
    moduleName === undefined
      ? targets[0]
      : targets.find((t) => t.log.bindings().module === moduleName || t.spec.name === moduleName);
  if (target === undefined) {
    log.fatal(moduleName ? `no listener of module "${moduleName}"` : 'no module opened a listener');
    await host.stop('no module');
    return 1;
  }

  let sock: Socket | null = null;
  let stream: Socket;
  if (sameFile(0, 1)) {
    sock = new Socket({ fd: 0, readable: true, writable: true, allowHalfOpen: true });
    stream = sock;
    if (sock.remoteAddress) sock.setNoDelay(true);
  } else {
    const input = new Socket({ fd: 0, readable: true, writable: false });
    const output = new Socket({ fd: 1, readable: false, writable: true });
    stream = new PipePair(input, output) as unknown as Socket;
  }
  const env = process.env;
  const peer = envAddress(env, sock);
  const remote: Endpoint = {
    address: peer.ip !== undefined ? canonicalAddress(peer.ip) : 'stdio',
    port: peer.port,
  };
  const slot = await target.spec.sessions.tryAcquire();
  if (slot === null) {
    stream.end(target.spec.busyReply);
    return 1;
  }
  let secure: Socket = stream;
  if (target.spec.tls) {
    try {
      secure = await serverTls(stream, loadSecureContext(target.spec.tls), HANDSHAKE_TIMEOUT_MS);
    } catch (e) {
      target.log.info({ address: remote.address, err: (e as Error).message }, 'TLS handshake failed');
      slot.release();
      await host.stop('end of session');
      setImmediate(() => process.exit(1));
      return 1;
    }
  }
  const conn = new Conn({
    id: 1,
    remote,
    local: localAddress(env, sock),
    proxied: false,
    secure: secure !== stream,
    // No address at all: a pipe from a local process.
    loopback: peer.ip === undefined || isLoopback(remote.address),
    socket: secure,
    parentLog: target.log,
    slot,
    gate: null,
  });
  target.onConnection(conn);
  await conn.closed;
  // The module logs the session's disconnect line while it stops (it waits for its sessions).
  await host.stop('end of session');
  // Nothing else is left to serve; do not wait for stray handles.
  setImmediate(() => process.exit(0));
  return 0;
}
