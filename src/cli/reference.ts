// `host reference [DIR]`: the c11n reference as Markdown, generated from the option schemas (host,
// [database.ID], and every module in the personality), so the README never drifts from the code.
import pino from 'pino';
import type { OptionSchema, OptionSpec } from '../api.js';
import { DATABASE_OPTIONS, HOST_OPTIONS } from '../config/host-options.js';
import { c11nValue } from '../config/render.js';
import { loadModules } from '../host/loader.js';
import { personalityDir } from '../host/personality.js';

function typeText(spec: OptionSpec): string {
  let t = spec.type === 'enum' ? spec.values.join(' \\| ') : spec.type;
  if ('min' in spec || 'max' in spec) {
    const b = spec as { min?: number; max?: number };
    const show = (n: number) => c11nValue({ ...spec, secret: false } as OptionSpec, n);
    t += ` (${b.min !== undefined ? show(b.min) : ''}..${b.max !== undefined ? show(b.max) : ''})`;
  }
  return t;
}

export function referenceTable(schema: OptionSchema): string {
  let out = '| Option | Type | Default | Reload | Description |\n|---|---|---|---|---|\n';
  for (const [key, spec] of Object.entries(schema)) {
    const def = spec.required
      ? '*required*'
      : spec.default === undefined
        ? ''
        : `\`${c11nValue(spec, spec.default)}\``;
    const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
    out += `| \`${key}\` | ${typeText(spec)} | ${cell(def)} | ${spec.reloadable ? 'yes' : ''} | ${cell(spec.description)} |\n`;
  }
  return out;
}

export async function runReference(argv: string[]): Promise<number> {
  const dir = personalityDir(argv[0]);
  const log = pino({ level: 'warn' }, pino.destination({ fd: 2, sync: true }));
  let out = '### Host options (top of c11n)\n\n' + referenceTable(HOST_OPTIONS);
  out += '\n### `[database.ID]`\n\n' + referenceTable(DATABASE_OPTIONS);
  for (const m of await loadModules(dir, log)) {
    out +=
      `\n### \`[${m.descriptor.name}]\` — ${m.descriptor.description}\n\n` +
      referenceTable(m.descriptor.options);
  }
  process.stdout.write(out);
  return 0;
}
