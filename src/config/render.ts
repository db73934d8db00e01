// Options written back as c11n lines: the inspector's defaults and `host check`'s effective config.
import type { OptionSchema, OptionSpec } from '../api.js';
import { formatDuration, formatSize } from './values.js';

/** A value in c11n syntax; strings quoted so `;`/`#` in them survive ini. */
export function c11nValue(spec: OptionSpec, value: unknown): string {
  if (spec.secret) return '"<redacted>"';
  switch (spec.type) {
    case 'integer':
      return String(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'duration':
      return formatDuration(value as number);
    case 'size':
      return formatSize(value as number);
    case 'list':
      return JSON.stringify((value as readonly string[]).join(', '));
    default:
      return JSON.stringify(String(value));
  }
}

/**
 * One `; description` comment and one `key = value` line per option; options without a value are
 * commented out (`# key = `), as r2d2's inspector printed them.
 */
export function renderOptions(
  schema: OptionSchema,
  values: (key: string, spec: OptionSpec) => unknown,
): string {
  let out = '';
  for (const [key, spec] of Object.entries(schema)) {
    const bits = [spec.type === 'enum' ? spec.values.join('|') : spec.type];
    if (spec.required) bits.push('required');
    if (spec.reloadable) bits.push('reloadable');
    out += `; ${spec.description} (${bits.join(', ')})\n`;
    const v = values(key, spec);
    out += v === undefined ? `# ${key} = \n` : `${key} = ${c11nValue(spec, v)}\n`;
  }
  return out;
}
