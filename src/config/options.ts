// Typing one c11n section against an option schema: every problem is collected, the result frozen.
import { isAbsolute, resolve } from 'node:path';
import type { OptionSchema, OptionSpec } from '../api.js';
import { formatDuration, formatSize, nearest, parseDuration, parseList, parseSize } from './values.js';

/** One problem, with where it is: `section` is '' for top-level host options. */
export interface ConfigIssue {
  section: string;
  key: string;
  message: string;
}

export function formatIssue(i: ConfigIssue): string {
  const where = i.section === '' ? i.key : i.key === '' ? `[${i.section}]` : `[${i.section}] ${i.key}`;
  return where === '' ? i.message : `${where}: ${i.message}`;
}

export type RawValue = string | boolean | null | readonly unknown[] | Record<string, unknown>;

export interface TypeContext {
  /** Relative paths resolve against this directory. */
  baseDir: string;
}

/** Human text of a bound, in the option's own unit. */
function showBound(spec: OptionSpec, n: number): string {
  if (spec.type === 'duration') return formatDuration(n);
  if (spec.type === 'size') return formatSize(n);
  return String(n);
}

function describe(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : Array.isArray(v) ? 'a list (key[])' : String(v);
}

/** Converts one raw ini value; a string result is an error message. */
export function convertValue(
  spec: OptionSpec,
  raw: RawValue,
  ctx: TypeContext,
): { value: unknown } | { error: string } {
  if (raw !== null && typeof raw === 'object' && !Array.isArray(raw)) {
    return { error: 'is a section, expected a value' };
  }
  if (Array.isArray(raw) && spec.type !== 'list') {
    return { error: `expected one ${spec.type} value, got ${describe(raw)}` };
  }
  const text = typeof raw === 'string' ? raw.trim() : String(raw);
  switch (spec.type) {
    case 'string':
      if (raw === true && spec.required) return { error: 'needs a value (`key = value`)' };
      return { value: typeof raw === 'string' ? raw : text };
    case 'boolean': {
      if (typeof raw === 'boolean') return { value: raw };
      const t = text.toLowerCase();
      if (['yes', 'on', '1'].includes(t)) return { value: true };
      if (['no', 'off', '0'].includes(t)) return { value: false };
      return { error: `expected true or false, got ${describe(raw)}` };
    }
    case 'integer':
    case 'duration':
    case 'size': {
      let n: number | undefined;
      if (spec.type === 'integer') n = /^[+-]?\d+$/.test(text) ? Number(text) : undefined;
      else if (spec.type === 'duration') n = parseDuration(text);
      else n = parseSize(text);
      if (n === undefined || !Number.isSafeInteger(n)) {
        const want =
          spec.type === 'integer'
            ? 'an integer'
            : spec.type === 'duration'
              ? 'a duration (600 = seconds, 250ms, 30s, 10m, 1h)'
              : 'a size (1048576, 512k, 10M, 1G)';
        return { error: `expected ${want}, got ${describe(raw)}` };
      }
      if (spec.min !== undefined && n < spec.min)
        return { error: `must be at least ${showBound(spec, spec.min)}, got ${text}` };
      if (spec.max !== undefined && n > spec.max)
        return { error: `must be at most ${showBound(spec, spec.max)}, got ${text}` };
      return { value: n };
    }
    case 'path':
      if (typeof raw !== 'string' || text === '') return { error: `expected a path, got ${describe(raw)}` };
      return { value: resolvePath(text, ctx) };
    case 'list':
      if (Array.isArray(raw)) return { value: Object.freeze(raw.flatMap((x) => parseList(String(x)))) };
      if (typeof raw !== 'string') return { error: `expected a list of words, got ${describe(raw)}` };
      return { value: Object.freeze(parseList(text)) };
    case 'enum': {
      if (spec.values.includes(text)) return { value: text };
      const hint = nearest(text, spec.values);
      return {
        error: `expected one of ${spec.values.join(', ')}, got ${describe(raw)}${hint ? ` (did you mean ${hint}?)` : ''}`,
      };
    }
  }
}

export function resolvePath(p: string, ctx: TypeContext): string {
  return isAbsolute(p) ? p : resolve(ctx.baseDir, p);
}

/** A default as the module gets it: paths resolved, lists frozen. */
function defaultValue(spec: OptionSpec, ctx: TypeContext): unknown {
  if (spec.default === undefined) return undefined;
  if (spec.type === 'path') return resolvePath(spec.default, ctx);
  if (spec.type === 'list') return Object.freeze([...spec.default]);
  return spec.default;
}

/**
 * Types `raw` (one ini section) against `schema`. Every unknown key, malformed value, bound and
 * missing required option is pushed to `issues`; the returned object is frozen and has every key.
 */
export function typeSection(
  section: string,
  schema: OptionSchema,
  raw: Readonly<Record<string, unknown>>,
  ctx: TypeContext,
  issues: ConfigIssue[],
): Readonly<Record<string, unknown>> {
  const typed = new Map<string, unknown>();
  for (const [key, value] of Object.entries(raw)) {
    const spec = Object.hasOwn(schema, key) ? schema[key] : undefined;
    if (!spec) {
      const hint = nearest(key, Object.keys(schema));
      issues.push({ section, key, message: `unknown option${hint ? ` (did you mean ${hint}?)` : ''}` });
      continue;
    }
    const r = convertValue(spec, value as RawValue, ctx);
    if ('error' in r) issues.push({ section, key, message: r.error });
    else typed.set(key, r.value);
  }
  // Schema order, so `host check` prints options as the module declares them.
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(schema)) {
    if (typed.has(key)) out[key] = typed.get(key);
    else {
      if (spec.required && !Object.hasOwn(raw, key)) issues.push({ section, key, message: 'is required' });
      out[key] = defaultValue(spec, ctx);
    }
  }
  return Object.freeze(out);
}
