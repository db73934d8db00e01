// `host check DIR`: import the modules, validate c11n, print the effective configuration (defaults
// filled in, secrets redacted); exit 1 listing every problem found.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import pino from 'pino';
import { readConfig } from '../config/c11n.js';
import { DATABASE_OPTIONS, HOST_OPTIONS } from '../config/host-options.js';
import { formatIssue } from '../config/options.js';
import { renderOptions } from '../config/render.js';
import { loadModulesCollecting } from '../host/loader.js';

export async function runCheck(argv: string[]): Promise<number> {
  if (argv.length !== 1 || argv[0].startsWith('-')) {
    process.stderr.write('usage: host check DIR\n');
    return 64;
  }
  const dir = resolve(argv[0]);
  const problems: string[] = [];
  // Warnings (a newer API minor) go to stderr; the configuration goes to stdout.
  const log = pino({ level: 'warn' }, pino.destination({ fd: 2, sync: true }));
  let modules: Awaited<ReturnType<typeof loadModulesCollecting>>['modules'] = [];
  try {
    const r = await loadModulesCollecting(dir, log);
    modules = r.modules;
    problems.push(...r.errors.map((e) => `${e.code}: ${e.message}`));
  } catch (e) {
    problems.push((e as Error).message);
  }
  const r = readConfig(
    dir,
    modules.map((m) => m.descriptor),
  );
  if (!r.ok) problems.push(...r.issues.map(formatIssue));
  else {
    // Files the start would need: found now rather than at start-up.
    for (const [id, db] of r.config.databases) {
      if (db.init !== undefined && !existsSync(db.init))
        problems.push(`[database.${id}] init: ${db.init} does not exist`);
    }
  }
  if (problems.length > 0 || !r.ok) {
    process.stderr.write(
      `${dir}: ${problems.length} problem(s)\n${problems.map((p) => `  ${p}\n`).join('')}`,
    );
    return 1;
  }
  const c = r.config;
  let out = `; effective configuration of ${dir}/c11n\n`;
  out += `; modules: ${modules.map((m) => `${m.descriptor.name} ${m.descriptor.version} (${m.file})`).join(', ') || 'none'}\n\n`;
  out += renderOptions(HOST_OPTIONS, (k) => (c.host as Record<string, unknown>)[k]);
  for (const [id, db] of c.databases) {
    out += `\n[database.${id}]\n${renderOptions(DATABASE_OPTIONS, (k) => (db as Record<string, unknown>)[k])}`;
  }
  for (const m of modules) {
    const o = c.modules.get(m.descriptor.name) ?? {};
    out += `\n[${m.descriptor.name}]\n${renderOptions(m.descriptor.options, (k) => o[k])}`;
  }
  process.stdout.write(out);
  return 0;
}
