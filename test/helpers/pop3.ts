// A small promise-based POP3 client over a real socket, for tests: every wait is bounded, so a
// broken server fails the test instead of hanging it.
import { connect as netConnect, type Socket } from 'node:net';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';

export interface Pop3ClientOptions {
  host?: string;
  /** Implicit TLS (POP3S); certificates are not verified (test certificates). */
  tls?: boolean;
  /** Per-reply wait, 5 s unless told. */
  timeoutMs?: number;
}

export interface MultiLine {
  first: string;
  /** Lines of the body with dot-stuffing removed, without line ends. */
  lines: string[];
  /** The body exactly as sent by the server, before un-stuffing (without the terminating `.CRLF`). */
  raw: Buffer;
  /** The body un-stuffed, CRLF line ends kept: the message bytes for RETR. */
  bytes: Buffer;
}

export class Pop3Client {
  private buf: Buffer = Buffer.alloc(0);
  private waiter: (() => void) | undefined;
  private ended = false;
  readonly closed: Promise<void>;
  greeting = '';

  constructor(
    public socket: Socket | TLSSocket,
    private readonly timeoutMs: number,
  ) {
    this.closed = new Promise((resolve) => {
      socket.once('close', () => {
        this.ended = true;
        this.waiter?.();
        resolve();
      });
    });
    this.attach(socket);
    socket.on('error', () => {});
  }

  private attach(socket: Socket | TLSSocket): void {
    socket.on('data', (d: Buffer) => {
      this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
      this.waiter?.();
    });
  }

  /** True once the server closed the connection. */
  get isClosed(): boolean {
    return this.ended;
  }

  private async waitFor<T>(take: () => T | undefined, what: string): Promise<T> {
    const deadline = Date.now() + this.timeoutMs;
    for (;;) {
      const v = take();
      if (v !== undefined) return v;
      if (this.ended) throw new Error(`connection closed while waiting for ${what}`);
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`timeout waiting for ${what}; have ${JSON.stringify(this.buf.toString())}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          this.waiter = undefined;
          resolve();
        };
      });
    }
  }

  /** The next CRLF-terminated line (without CRLF). */
  readLine(): Promise<string> {
    return this.waitFor(() => {
      const i = this.buf.indexOf('\r\n');
      if (i < 0) return undefined;
      const line = this.buf.subarray(0, i).toString('latin1');
      this.buf = this.buf.subarray(i + 2);
      return line;
    }, 'a line');
  }

  /** A multi-line body up to `.CRLF` (call after reading a +OK first line). */
  readBody(): Promise<Omit<MultiLine, 'first'>> {
    return this.waitFor(() => {
      let end = -1;
      if (this.buf.subarray(0, 3).toString('latin1') === '.\r\n') end = 0;
      else {
        const i = this.buf.indexOf('\r\n.\r\n');
        if (i >= 0) end = i + 2;
      }
      if (end < 0) return undefined;
      const raw = this.buf.subarray(0, end);
      this.buf = this.buf.subarray(end + 3);
      const lines = raw.length === 0 ? [] : raw.toString('latin1').slice(0, -2).split('\r\n');
      const unstuffed = lines.map((l) => (l.startsWith('.') ? l.slice(1) : l));
      const bytes = Buffer.from(unstuffed.map((l) => `${l}\r\n`).join(''), 'latin1');
      return { raw: Buffer.from(raw), lines: unstuffed, bytes };
    }, 'a multi-line body');
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Sends one command line; resolves with the first reply line. */
  async command(line: string): Promise<string> {
    this.write(`${line}\r\n`);
    return this.readLine();
  }

  /** Sends a command with a multi-line answer; the body is read only after a +OK first line. */
  async multiline(line: string): Promise<MultiLine> {
    const first = await this.command(line);
    if (!first.startsWith('+OK')) return { first, lines: [], raw: Buffer.alloc(0), bytes: Buffer.alloc(0) };
    return { first, ...(await this.readBody()) };
  }

  /** Waits until the server closes (bounded). */
  async waitClosed(timeoutMs = this.timeoutMs): Promise<void> {
    let t: NodeJS.Timeout | undefined;
    await Promise.race([
      this.closed,
      new Promise((_, reject) => {
        t = setTimeout(() => reject(new Error('server did not close the connection')), timeoutMs);
      }),
    ]);
    clearTimeout(t);
  }

  /** Upgrades to TLS after a `+OK` to STLS. */
  async startTls(): Promise<void> {
    const plain = this.socket;
    plain.removeAllListeners('data');
    const s = tlsConnect({ socket: plain, rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => {
      s.once('secureConnect', resolve);
      s.once('error', reject);
    });
    s.on('error', () => {});
    this.socket = s;
    this.attach(s);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Connects and reads the greeting. */
export async function connect(port: number, opts: Pop3ClientOptions = {}): Promise<Pop3Client> {
  const host = opts.host ?? '127.0.0.1';
  const timeoutMs = opts.timeoutMs ?? 5000;
  const socket = opts.tls
    ? tlsConnect({ host, port, rejectUnauthorized: false })
    : netConnect({ host, port });
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`connect to ${port} timed out`)), timeoutMs);
    socket.once(opts.tls ? 'secureConnect' : 'connect', () => {
      clearTimeout(t);
      resolve();
    });
    socket.once('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
  });
  socket.setNoDelay(true);
  const c = new Pop3Client(socket, timeoutMs);
  c.greeting = await c.readLine();
  return c;
}
