// One loaded module inside the host: its context (what construct receives), instance, options and
// session limiter. The context's pieces become usable as the lifecycle reaches them.
import type {
  Database,
  Logger,
  ModuleContext,
  ModuleDescriptor,
  ModuleInstance,
  SessionLimiter,
  WorkerPool,
} from '../api.js';
import { HostError } from '../errors.js';
import { listen } from '../net/listener.js';
import { createSessionLimiter } from '../pools/sessions.js';

export type ModuleOptions = Readonly<Record<string, unknown>>;

/** Shared host facilities, filled in by the lifecycle (see host.ts). */
export interface HostFacilities {
  personalityDir: string;
  identity: string;
  workers?: WorkerPool;
  databases: Map<string, Database>;
}

const DEFAULT_MIN_SESSIONS = 0;
const DEFAULT_MAX_SESSIONS = 1000;

export class ModuleRuntime {
  readonly name: string;
  readonly log: Logger;
  readonly instance: ModuleInstance<ModuleOptions>;
  private current?: ModuleOptions;
  private limiter?: SessionLimiter;

  constructor(
    readonly descriptor: ModuleDescriptor,
    readonly file: string,
    root: Logger,
    private readonly facilities: HostFacilities,
  ) {
    this.name = descriptor.name;
    this.log = root.child({ module: descriptor.name });
    this.instance = descriptor.construct(this.context() as ModuleContext<never>);
  }

  get options(): ModuleOptions {
    if (!this.current)
      throw new HostError(
        'CONFIG',
        `module ${this.name}: options are not read yet (use them from prestart on)`,
      );
    return this.current;
  }

  /** Sets (or replaces, on reload) the typed options and sizes the session limiter from them. */
  setOptions(o: ModuleOptions): void {
    this.current = o;
    const [min, max] = this.sessionBounds(o);
    if (this.limiter) this.limiter.resize(min, max);
    else this.limiter = createSessionLimiter(min, max);
  }

  /** The module's own `min_sessions`/`max_sessions`, when its schema declares them. */
  sessionBounds(o: ModuleOptions): [number, number] {
    const min = typeof o.min_sessions === 'number' ? o.min_sessions : DEFAULT_MIN_SESSIONS;
    const max = typeof o.max_sessions === 'number' ? o.max_sessions : DEFAULT_MAX_SESSIONS;
    return [Math.min(min, max), max];
  }

  get sessions(): SessionLimiter {
    if (!this.limiter)
      throw new HostError('CONFIG', `module ${this.name}: sessions are ready from prestart on`);
    return this.limiter;
  }

  private context(): ModuleContext<ModuleOptions> {
    const self = this;
    const f = this.facilities;
    return {
      name: this.name,
      log: this.log,
      personalityDir: f.personalityDir,
      get identity() {
        return f.identity;
      },
      options: () => self.options,
      database(id: string): Database {
        const db = f.databases.get(id);
        if (!db) {
          const known = [...f.databases.keys()].join(', ') || 'none';
          throw new HostError(
            'NO_DATABASE',
            `module ${self.name}: no [database.${id}] section (configured: ${known})`,
          );
        }
        return db;
      },
      get workers(): WorkerPool {
        if (!f.workers)
          throw new HostError('WORKER', `module ${self.name}: the worker pool is ready from prestart on`);
        return f.workers;
      },
      get sessions() {
        return self.sessions;
      },
      listen: (spec, onConnection) => listen({ ...spec, sessions: self.sessions }, onConnection, self.log),
    };
  }
}
