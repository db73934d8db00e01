// One accepted client: ordered line delivery with backpressure, one idle timer, STLS, and the
// release of its session slot and per-IP count exactly once when the socket closes.
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Connection, Endpoint, LineHandlers, Logger, SessionSlot, TlsFiles } from '../api.js';
import { HostError } from '../errors.js';
import { LineReader, OVERFLOW } from './lines.js';
import { secureContextFor, serverTls } from './tls.js';

/** Input waiting behind a command in progress before the socket is paused. */
const HIGH_WATER = 64 * 1024;
const HANDSHAKE_TIMEOUT_MS = 30_000;
/** After end(): how long a peer may keep its half of the connection open. */
const END_LINGER_MS = 10_000;

/** Per-IP accounting shared by a listener's connections. */
export interface IpGate {
  leave(address: string): void;
}

export interface ConnectionInit {
  id: number;
  remote: Endpoint;
  local: Endpoint;
  proxied: boolean;
  secure: boolean;
  loopback: boolean;
  socket: Socket | TLSSocket;
  /** The module's logger; the session's child is made on first use (pino children are not free). */
  parentLog: Logger;
  slot: SessionSlot;
  /** Null when this connection was not counted per IP. */
  gate: IpGate | null;
}

// Socket listeners are shared functions, not per-connection closures: the socket points back here.
const kConn = Symbol('connection');
type Owned = (Socket | TLSSocket) & { [kConn]?: Conn };

function onData(this: Owned, chunk: Buffer): void {
  this[kConn]?.data(chunk);
}
function onEnd(this: Owned): void {
  this[kConn]?.peerEnd();
}
function onClose(this: Owned): void {
  this[kConn]?.finish();
}
function onError(this: Owned, err: Error): void {
  this[kConn]?.error(err);
}
function onTimeout(this: Owned): void {
  this[kConn]?.timeout();
}

const DONE: Promise<void> = Promise.resolve();

/** Shared with the listener: swallows errors of a socket before it has a Connection. */
export function ignore(): void {}

export class Conn implements Connection {
  delays = 0;
  readonly id: number;
  readonly remote: Endpoint;
  readonly local: Endpoint;
  readonly proxied: boolean;
  readonly loopback: boolean;
  private parentLog: Logger;
  private childLog: Logger | null = null;
  private sock: Socket | TLSSocket;
  private tls: boolean;
  private slot: SessionSlot | null;
  private gate: IpGate | null;
  private reader: LineReader | null = null;
  private handlers: LineHandlers | null = null;
  /** A handler's promise is pending: lines wait. */
  private busy = false;
  /** We paused the socket for backpressure. */
  private paused = false;
  private peerEnded = false;
  private done = false;
  private idleMs = 0;
  private onIdle: (() => void) | null = null;
  private closedPromise: Promise<void> | null = null;
  private resolveClosed: (() => void) | null = null;

  constructor(init: ConnectionInit) {
    this.id = init.id;
    this.remote = init.remote;
    this.local = init.local;
    this.proxied = init.proxied;
    this.tls = init.secure;
    this.loopback = init.loopback;
    this.parentLog = init.parentLog;
    this.sock = init.socket;
    this.slot = init.slot;
    this.gate = init.gate;
    this.attach(init.socket);
    if (init.socket.destroyed) this.finish();
  }

  get log(): Logger {
    this.childLog ??= this.parentLog.child({ session: this.id });
    return this.childLog;
  }
  get socket(): Socket | TLSSocket {
    return this.sock;
  }
  get secure(): boolean {
    return this.tls;
  }
  get closed(): Promise<void> {
    if (this.done) return DONE;
    this.closedPromise ??= new Promise<void>((resolve) => {
      this.resolveClosed = resolve;
    });
    return this.closedPromise;
  }

  private attach(s: Socket | TLSSocket): void {
    (s as Owned)[kConn] = this;
    s.removeListener('error', ignore); // the listener's pre-session guard; ours replaces it
    s.on('close', onClose);
    s.on('error', onError);
    s.on('end', onEnd);
    s.on('timeout', onTimeout);
  }

  readLines(handlers: LineHandlers): void {
    if (this.reader !== null) throw new Error('readLines called twice');
    this.handlers = handlers;
    this.reader = new LineReader(handlers.maxLine);
    this.sock.on('data', onData);
    this.sock.resume(); // a socket paused after its PROXY header stays paused without this
  }

  data(chunk: Buffer): void {
    const r = this.reader;
    if (r === null || this.done) return;
    r.push(chunk);
    if (!this.busy) this.pump();
    if (this.busy && !this.paused && r.buffered > HIGH_WATER) {
      this.paused = true;
      this.sock.pause();
    }
  }

  /** Deliver buffered lines until one handler goes async or none is complete. */
  private pump(): void {
    const r = this.reader!;
    const h = this.handlers!;
    // Answers to pipelined commands handled in one go leave in one write (writev) instead of one
    // syscall each; a lone command is not corked at all.
    let corked: Socket | TLSSocket | null = null;
    let handled = 0;
    while (!this.done) {
      const line = r.next();
      if (line === null) break;
      if (handled++ === 1) {
        corked = this.sock;
        corked.cork();
      }
      let p: void | Promise<void>;
      try {
        p = line === OVERFLOW ? h.onOverflow() : h.onLine(line);
      } catch (e) {
        corked?.uncork();
        this.fail(e);
        return;
      }
      if (p !== undefined && typeof p.then === 'function') {
        corked?.uncork();
        this.busy = true;
        p.then(
          () => this.settled(),
          (e: unknown) => this.fail(e),
        );
        return;
      }
    }
    corked?.uncork();
    if (this.paused && r.buffered <= HIGH_WATER / 2) {
      this.paused = false;
      this.sock.resume();
    }
    // The peer half-closed: every complete line it sent has been answered; now close our half.
    if (this.peerEnded && !this.done && !this.sock.writableEnded) this.end();
  }

  private settled(): void {
    this.busy = false;
    if (!this.done) this.pump();
  }

  private fail(e: unknown): void {
    this.busy = false;
    this.log.error({ err: e instanceof Error ? e.message : String(e) }, 'line handler failed');
    this.destroy();
  }

  peerEnd(): void {
    this.peerEnded = true;
    if (!this.busy && this.reader !== null) this.pump();
  }

  error(err: Error): void {
    // Resets and timeouts are ordinary client behaviour; 'close' follows and does the accounting.
    this.log.debug({ err: err.message }, 'socket error');
  }

  timeout(): void {
    const cb = this.onIdle;
    if (cb !== null) cb();
  }

  /** Exactly once, on the first 'close' of the current or a replaced socket. */
  finish(): void {
    if (this.done) return;
    this.done = true;
    this.reader = null;
    this.handlers = null;
    this.slot?.release();
    this.slot = null;
    this.gate?.leave(this.remote.address);
    this.gate = null;
    this.resolveClosed?.();
  }

  write(data: string | Buffer, written?: () => void): boolean {
    const s = this.sock;
    if (this.done || s.writableEnded) return false;
    return written === undefined ? s.write(data) : s.write(data, () => written());
  }

  drained(): Promise<void> {
    const s = this.sock;
    if (this.done || !s.writableNeedDrain) return DONE;
    return new Promise<void>((resolve) => {
      const ok = () => {
        s.removeListener('drain', ok);
        s.removeListener('close', ok);
        resolve();
      };
      s.on('drain', ok);
      s.on('close', ok);
    });
  }

  setIdleTimeout(ms: number, onTimeout: () => void): void {
    this.idleMs = ms;
    this.onIdle = onTimeout;
    this.sock.setTimeout(ms);
  }

  end(data?: string | Buffer): void {
    const s = this.sock;
    if (this.done || s.writableEnded) return;
    if (data === undefined) s.end();
    else s.end(data);
    // The listener keeps half-open sockets (pipelined input is answered after the client's FIN), so
    // a peer that never closes its half must not hold the session slot.
    this.onIdle = () => this.destroy();
    s.setTimeout(END_LINGER_MS);
  }

  destroy(): void {
    this.sock.destroy();
  }

  async startTls(files: TlsFiles): Promise<void> {
    if (this.tls) throw new HostError('TLS_UNAVAILABLE', 'the connection is already secure');
    if (this.done) throw new HostError('TLS_UNAVAILABLE', 'the connection is closed');
    const raw = this.sock as Socket;
    // Before any await: stop reading plaintext and forget everything received so far, so nothing the
    // client sent before the handshake is ever taken as a command (STARTTLS injection).
    raw.removeListener('data', onData);
    raw.pause();
    while (raw.read() !== null);
    this.reader?.clear();
    this.paused = false;
    let context: Awaited<ReturnType<typeof secureContextFor>>;
    try {
      context = await secureContextFor(files);
    } catch (e) {
      // No certificate: stay in plaintext; the module answers -ERR.
      if (!this.done && this.reader !== null) {
        raw.on('data', onData);
        raw.resume();
      }
      throw e;
    }
    if (this.done) throw new HostError('TLS_UNAVAILABLE', 'the connection closed before TLS');
    raw.removeListener('end', onEnd);
    raw.removeListener('timeout', onTimeout);
    raw.setTimeout(0);
    let secure: TLSSocket;
    try {
      secure = await serverTls(raw, context, HANDSHAKE_TIMEOUT_MS);
    } catch (e) {
      raw.destroy();
      throw e;
    }
    this.sock = secure;
    this.tls = true;
    this.attach(secure);
    if (secure.destroyed) {
      this.finish();
      return;
    }
    if (this.idleMs > 0) secure.setTimeout(this.idleMs);
    if (this.reader !== null) secure.on('data', onData);
  }
}
