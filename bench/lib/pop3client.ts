// A tiny POP3 client that times each step of USER, PASS, STAT, UIDL, QUIT (the scale figure).
import { connect, type Socket } from 'node:net';

export interface StepTimes {
  connectMs: number;
  userMs: number;
  passMs: number;
  statMs: number;
  uidlMs: number;
  /** Connect to the end of the UIDL listing. */
  totalMs: number;
  messages: number;
  uidlLines: number;
}

/** Received bytes in one growing buffer; each terminator search resumes where the last stopped,
 * so reading a 100,000-line listing costs the client O(n), not O(n²). */
class Reader {
  private buf = Buffer.allocUnsafe(1 << 16);
  private used = 0;
  private scanned = 0;
  private waiting: (() => void) | undefined;
  private failure: Error | undefined;

  constructor(sock: Socket) {
    sock.on('data', (d: Buffer) => {
      if (this.used + d.length > this.buf.length) {
        const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.used + d.length));
        this.buf.copy(bigger, 0, 0, this.used);
        this.buf = bigger;
      }
      d.copy(this.buf, this.used);
      this.used += d.length;
      this.wake();
    });
    sock.on('error', (e) => this.fail(e));
    sock.on('close', () => this.fail(new Error('connection closed')));
  }

  private fail(e: Error): void {
    this.failure ??= e;
    this.wake();
  }

  private wake(): void {
    const w = this.waiting;
    this.waiting = undefined;
    w?.();
  }

  /** Waits until `end` occurs in the buffer; returns and consumes everything up to it. */
  async until(endText: string, deadline: number): Promise<string> {
    const end = Buffer.from(endText, 'latin1');
    this.scanned = 0;
    for (;;) {
      const from = Math.max(0, this.scanned - end.length + 1);
      const i = this.buf.subarray(0, this.used).indexOf(end, from);
      if (i >= 0) {
        const stop = i + end.length;
        const out = this.buf.toString('latin1', 0, stop);
        this.buf.copy(this.buf, 0, stop, this.used);
        this.used -= stop;
        return out;
      }
      this.scanned = this.used;
      if (this.failure) throw this.failure;
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`timed out waiting for ${JSON.stringify(endText)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiting = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }
}

/** One session; throws on -ERR or when the whole session takes longer than `limitMs`. */
export async function timeSession(
  port: number,
  user: string,
  pass: string,
  limitMs = 120_000,
): Promise<StepTimes> {
  const t0 = performance.now();
  const deadline = t0 + limitMs;
  const sock = connect({ host: '127.0.0.1', port, noDelay: true });
  const reader = new Reader(sock);
  try {
    const line = async () => {
      const l = await reader.until('\r\n', deadline);
      if (!l.startsWith('+OK')) throw new Error(`server said ${l.trim()}`);
      return l;
    };
    await line();
    const tConn = performance.now();
    sock.write(`USER ${user}\r\n`);
    await line();
    const tUser = performance.now();
    sock.write(`PASS ${pass}\r\n`);
    await line();
    const tPass = performance.now();
    sock.write('STAT\r\n');
    const stat = await line();
    const tStat = performance.now();
    sock.write('UIDL\r\n');
    await line();
    const body = await reader.until('\r\n.\r\n', deadline);
    const tUidl = performance.now();
    sock.write('QUIT\r\n');
    await line();
    let uidlLines = 0;
    for (let i = body.indexOf('\n'); i >= 0; i = body.indexOf('\n', i + 1)) uidlLines++;
    return {
      connectMs: tConn - t0,
      userMs: tUser - tConn,
      passMs: tPass - tUser,
      statMs: tStat - tPass,
      uidlMs: tUidl - tStat,
      totalMs: tUidl - t0,
      messages: Number(stat.split(' ')[1]),
      uidlLines: uidlLines - 1,
    };
  } finally {
    sock.destroy();
  }
}
