// A small LMTP/SMTP client over a real socket for the lmtp tests: replies are read whole (multi-line
// `250-` ... `250 `), every wait is bounded so a broken server fails the test instead of hanging it.
import { connect as netConnect, type Socket } from 'node:net';

export class LmtpClient {
  private buf = '';
  private waiter: (() => void) | undefined;
  private ended = false;
  readonly closed: Promise<void>;

  private constructor(
    readonly socket: Socket,
    private readonly timeoutMs: number,
  ) {
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      this.buf += d;
      this.waiter?.();
    });
    this.closed = new Promise((resolve) => {
      socket.on('close', () => {
        this.ended = true;
        this.waiter?.();
        resolve();
      });
    });
    socket.on('error', () => {});
  }

  static async connect(port: number | string, timeoutMs = 5000): Promise<LmtpClient> {
    const socket = typeof port === 'string' ? netConnect(port) : netConnect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new LmtpClient(socket, timeoutMs);
  }

  /** One complete reply: its lines without CRLF. */
  async reply(): Promise<string[]> {
    const deadline = Date.now() + this.timeoutMs;
    for (;;) {
      const lines: string[] = [];
      let pos = 0;
      for (;;) {
        const nl = this.buf.indexOf('\r\n', pos);
        if (nl < 0) break;
        const line = this.buf.slice(pos, nl);
        lines.push(line);
        pos = nl + 2;
        if (line[3] !== '-') {
          this.buf = this.buf.slice(pos);
          return lines;
        }
      }
      if (this.ended)
        throw new Error(`connection closed while waiting for a reply; got ${JSON.stringify(this.buf)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no reply within ${this.timeoutMs} ms; got ${JSON.stringify(this.buf)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.waiter = undefined;
    }
  }

  /** The first line of the next reply. */
  async line(): Promise<string> {
    const r = await this.reply();
    return r[r.length - 1];
  }

  write(data: string | Buffer): boolean {
    return this.socket.write(data);
  }

  async command(line: string): Promise<string> {
    this.write(`${line}\r\n`);
    return this.line();
  }

  /** Sends a message body (dot-stuffed here) and the final dot, with backpressure. */
  async sendBody(text: string | Buffer): Promise<void> {
    const s = typeof text === 'string' ? text : text.toString('latin1');
    const stuffed = s.replace(/(^|\r\n)\./g, '$1..');
    const body = stuffed.endsWith('\r\n') ? stuffed : `${stuffed}\r\n`;
    const CHUNK = 1 << 20;
    for (let i = 0; i < body.length; i += CHUNK) {
      if (!this.socket.write(Buffer.from(body.slice(i, i + CHUNK), 'latin1'))) {
        await new Promise((r) => this.socket.once('drain', r));
      }
    }
    this.write('.\r\n');
  }

  close(): void {
    this.socket.destroy();
  }
}
