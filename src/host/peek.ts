// Before modules load, the logger needs identity, level and format: read just those from c11n,
// leniently (full validation comes after the modules have declared their options).
import { readFileSync } from 'node:fs';
import ini from 'ini';
import { c11nPath } from '../config/c11n.js';
import { HOST_OPTIONS, type HostOptions } from '../config/host-options.js';
import { typeSection } from '../config/options.js';

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
