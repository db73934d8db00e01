// Before modules load, the logger needs identity, level and format: read just those from c11n,
// leniently (full validation comes after the modules have declared their options).
import { readFileSync } from 'node:fs';
import ini from 'ini';
import pino, { type Logger } from 'pino';
import { c11nPath } from '../config/c11n.js';
import { HOST_OPTIONS, type HostOptions } from '../config/host-options.js';
import { typeSection } from '../config/options.js';
import { createLogger, type LogLevel } from '../log.js';

export function peekHostOptions(dir: string): HostOptions {
  let raw: Record<string, unknown> = {};
  try {
    raw = ini.parse(readFileSync(c11nPath(dir), 'utf8'));
  } catch {
    // reported properly by the full read
  }
  const top: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (Object.hasOwn(HOST_OPTIONS, k)) top[k] = v;
  }
  // A malformed value falls back to its default here; the full read reports it.
  return typeSection('', HOST_OPTIONS, top, { baseDir: dir }, []) as HostOptions;
}

/**
 * The root logger c11n asks for (identity, log_level, log_format), before the full read: on standard
 * output, or on standard error where standard output is not the log's; `silent` writes nothing.
 */
export function peekLogger(peek: HostOptions, o: { stderr?: boolean; silent?: boolean } = {}): Logger {
  return createLogger({
    identity: peek.identity,
    level: o.silent ? ('silent' as LogLevel) : (peek.log_level as LogLevel),
    format: peek.log_format,
    destination: o.stderr ? pino.destination({ fd: 2, sync: true }) : undefined,
  });
}
