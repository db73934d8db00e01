// The pino root logger. Text format: one line per event, as ServerKit wrote them —
//   server.pop3[13906]: [1] disconnected: peer quit, sequence="upsUr4d4q" delays="3"
// JSON format: plain pino. Both write synchronously to stdout (no worker thread, no buffering
// that a crash could lose); the text formatter runs once per event, never per command.
import pino, { type DestinationStream, type Logger } from 'pino';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

export interface LogOptions {
  identity: string;
  level: LogLevel;
  format: 'text' | 'json';
  /** Where lines go; stdout (synchronous) unless told. */
  destination?: DestinationStream;
}

const LEVEL_NAMES: Readonly<Record<number, string>> = {
  10: 'trace',
  20: 'debug',
  40: 'warn',
  50: 'error',
  60: 'fatal',
};

// Fields the line's prefix already shows, or pino's own bookkeeping.
const SKIP = new Set(['level', 'time', 'pid', 'hostname', 'name', 'module', 'session', 'msg']);

/** Quote a value so the event stays on one line and `"` inside cannot end it early. */
export function quote(v: unknown): string {
  let s: string;
  if (typeof v === 'string') s = v;
  else if (v === null || typeof v !== 'object') s = String(v);
  else s = JSON.stringify(v);
  if (/["\\\r\n\t\u0000-\u001f]/.test(s)) {
    s = s.replace(/["\\\r\n\t\u0000-\u001f]/g, (c) => {
      switch (c) {
        case '"':
          return '\\"';
        case '\\':
          return '\\\\';
        case '\n':
          return '\\n';
        case '\r':
          return '\\r';
        case '\t':
          return '\\t';
        default:
          return `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
      }
    });
  }
  return `"${s}"`;
}

interface SerializedError {
  type?: string;
  message?: string;
  code?: string;
}

/** One pino JSON record → one text line (with its newline). */
export function formatText(identity: string, rec: Record<string, unknown>): string {
  const module = typeof rec.module === 'string' ? rec.module : 'host';
  let line = `${identity}.${module}[${rec.pid ?? process.pid}]: `;
  if (rec.session !== undefined) line += `[${rec.session}] `;
  const level = LEVEL_NAMES[rec.level as number];
  if (level) line += `${level}: `;
  line += typeof rec.msg === 'string' ? oneLine(rec.msg) : '';
  for (const key of Object.keys(rec)) {
    if (SKIP.has(key)) continue;
    let v = rec[key];
    if (v === undefined) continue;
    if (key === 'err' && v !== null && typeof v === 'object') {
      const e = v as SerializedError;
      v = `${e.type ?? 'Error'}${e.code ? ` ${e.code}` : ''}: ${e.message ?? ''}`;
    }
    line += ` ${key}=${quote(v)}`;
  }
  return `${line}\n`;
}

function oneLine(s: string): string {
  return /[\r\n]/.test(s) ? s.replace(/\r?\n|\r/g, '\\n') : s;
}

/** Turns pino's JSON lines into text lines on their way to `out`. */
export function textStream(identity: string, out: DestinationStream): DestinationStream {
  return {
    write(chunk: string) {
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(chunk);
      } catch {
        out.write(chunk);
        return;
      }
      out.write(formatText(identity, rec));
    },
  };
}

export function createLogger(o: LogOptions): Logger {
  const dest = o.destination ?? pino.destination({ fd: 1, sync: true });
  const stream = o.format === 'text' ? textStream(o.identity, dest) : dest;
  return pino(
    {
      level: o.level,
      name: o.format === 'json' ? o.identity : undefined,
      base: { pid: process.pid },
    },
    stream,
  );
}

/** The first logger, before c11n has been read: text at info level. */
export function bootstrapLogger(): Logger {
  return createLogger({ identity: 'server', level: 'info', format: 'text' });
}
