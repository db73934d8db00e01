// Imports the module files of a personality (ServerKit step 2): every *.js/*.mjs in DIR/modules in
// name order, symlinks allowed. Each default export must be a ModuleDescriptor for our API major.
import { readdirSync, realpathSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { HOST_API_VERSION, type Logger, type ModuleDescriptor, type OptionSpec } from '../api.js';
import { HostError } from '../errors.js';

export interface LoadedModule {
  readonly file: string;
  readonly descriptor: ModuleDescriptor;
}

const OPTION_TYPES = new Set<OptionSpec['type']>([
  'string',
  'integer',
  'boolean',
  'duration',
  'size',
  'path',
  'list',
  'enum',
]);

/** Module files of a personality, in load order. */
export function moduleFiles(dir: string): string[] {
  const modulesDir = join(dir, 'modules');
  let names: string[];
  try {
    names = readdirSync(modulesDir);
  } catch (e) {
    throw new HostError('BAD_MODULE', `cannot read ${modulesDir}: ${(e as Error).message}`, { cause: e });
  }
  return names
    .filter((n) => n.endsWith('.js') || n.endsWith('.mjs'))
    .sort()
    .map((n) => join(modulesDir, n));
}

function parseVersion(v: string): [number, number] | undefined {
  const m = /^(\d+)\.(\d+)/.exec(v);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

/**
 * Checks what a module file exported. Throws HostError BAD_MODULE or API_VERSION; returns a warning
 * text when the module was built for a newer minor version of the host API.
 */
export function checkDescriptor(
  file: string,
  d: unknown,
): { descriptor: ModuleDescriptor; warning?: string } {
  const bad = (why: string) => new HostError('BAD_MODULE', `${file}: ${why}`);
  if (d === null || typeof d !== 'object')
    throw bad('the default export is not a module descriptor (use defineModule)');
  const m = d as Partial<ModuleDescriptor>;
  if (typeof m.name !== 'string' || !/^[a-z][a-z0-9_]*$/.test(m.name))
    throw bad('the module name must be [a-z][a-z0-9_]*');
  if (m.name === 'database' || m.name === 'host')
    throw bad(`"${m.name}" is reserved and cannot name a module`);
  if (typeof m.construct !== 'function') throw bad(`module ${m.name} has no construct function`);
  if (typeof m.hostApi !== 'string') throw bad(`module ${m.name} does not declare hostApi`);
  if (m.options === null || typeof m.options !== 'object')
    throw bad(`module ${m.name} has no options schema`);
  for (const [key, spec] of Object.entries(m.options)) {
    if (!OPTION_TYPES.has(spec?.type)) throw bad(`module ${m.name}: option ${key} has an unknown type`);
    if (spec.type === 'enum' && !Array.isArray(spec.values))
      throw bad(`module ${m.name}: enum option ${key} has no values`);
  }
  const want = parseVersion(m.hostApi);
  const have = parseVersion(HOST_API_VERSION) as [number, number];
  if (!want || want[0] !== have[0]) {
    throw new HostError(
      'API_VERSION',
      `${file}: module ${m.name} was built for host API ${m.hostApi}, this host provides ${HOST_API_VERSION} (same major version required)`,
    );
  }
  const descriptor = m as ModuleDescriptor;
  if (want[1] > have[1]) {
    return {
      descriptor,
      warning: `module ${m.name} was built for host API ${m.hostApi}, newer than this host's ${HOST_API_VERSION}`,
    };
  }
  return { descriptor };
}

export async function importModule(
  file: string,
): Promise<{ descriptor: ModuleDescriptor; warning?: string }> {
  const abs = resolve(file);
  let mod: { default?: unknown };
  try {
    // Import the link's target, not the link: the module's own relative imports must resolve
    // from where it really lies (seen failing under serve-stdio when left to the resolver).
    mod = await import(pathToFileURL(realpathSync(abs)).href);
  } catch (e) {
    throw new HostError('BAD_MODULE', `${abs}: cannot import: ${(e as Error).message}`, { cause: e });
  }
  return checkDescriptor(abs, mod.default);
}

/** Imports every module of the personality; the first failure throws. */
export async function loadModules(dir: string, log: Logger): Promise<LoadedModule[]> {
  const r = await loadModulesCollecting(dir, log);
  if (r.errors.length > 0) throw r.errors[0];
  return r.modules;
}

/** Imports every module it can, collecting failures (for `host check`). */
export async function loadModulesCollecting(
  dir: string,
  log: Logger,
): Promise<{ modules: LoadedModule[]; errors: HostError[] }> {
  const modules: LoadedModule[] = [];
  const errors: HostError[] = [];
  const seen = new Map<string, string>();
  for (const file of moduleFiles(dir)) {
    try {
      const { descriptor, warning } = await importModule(file);
      if (warning) log.warn({ file }, warning);
      const other = seen.get(descriptor.name);
      if (other)
        throw new HostError(
          'BAD_MODULE',
          `${file}: module ${descriptor.name} is already loaded from ${other}`,
        );
      seen.set(descriptor.name, file);
      modules.push({ file, descriptor });
      log.debug({ file, version: descriptor.version }, `loaded module ${descriptor.name}`);
    } catch (e) {
      errors.push(
        e instanceof HostError
          ? e
          : new HostError('BAD_MODULE', `${file}: ${(e as Error).message}`, { cause: e }),
      );
    }
  }
  return { modules, errors };
}
