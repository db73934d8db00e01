// The pop3 module: descriptor, lifecycle (prestart binds, reload applies, stop drains) and the
// wiring of the protocol engine to the Maildir store and the SQL authenticator.
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import {
  type Connection,
  defineModule,
  drainSessions,
  HOST_API_VERSION,
  HostError,
  type Listener,
  type ListenSpec,
  LiveSessions,
  type Logger,
  type ModuleContext,
  type TlsFiles,
} from '../../src/api.js';
import { createSqlAuthenticator, type SqlAuthConfig, validateSqlAuthConfig } from './auth/sql.js';
import { createSystemAuthenticator, type SystemAuthConfig } from './auth/system.js';
import { CapaCache } from './capa.js';
import { createMaildirStore, type MaildirStoreConfig } from './maildir/store.js';
import { createMboxStore, type MboxStoreConfig } from './mbox/store.js';
import { createNotifier, type Notifier, type NotifyConfig } from './notify.js';
import { observeAuth, observeStore, popa3dLines } from './observe.js';
import { optionSchema, type Pop3Options } from './options.js';
import { FailurePolicy } from './policy.js';
import { R } from './replies.js';
import type { Authenticator, UpdateResult } from './seams.js';
import { Session, type SessionDeps } from './session.js';
import { Pop3Stats } from './stats.js';
import { createStoreSelector } from './store-select.js';

const popa3dObserver = {
  loaded: (md: { messages: readonly unknown[]; totalSize: number }, log: Logger) =>
    log.info(popa3dLines.loaded(md.messages.length, md.totalSize)),
  updated: (r: UpdateResult, log: Logger) => log.info(popa3dLines.updated(r)),
};

/** Derived configs are rebuilt only when the options object changes (after a reload). */
function memo<T>(ctx: ModuleContext<Pop3Options>, make: (o: Pop3Options) => T): () => T {
  let last: Pop3Options | undefined;
  let value: T;
  return () => {
    const o = ctx.options();
    if (o !== last) {
      last = o;
      value = make(o);
    }
    return value;
  };
}

export function tlsFiles(o: Pop3Options): TlsFiles | undefined {
  const keyFile = o.x509_key_file;
  const certFile = o.x509_cert_file;
  if (!keyFile || !certFile || !existsSync(keyFile) || !existsSync(certFile)) return undefined;
  return { keyFile, certFile };
}

export function storeConfig(o: Pop3Options): MaildirStoreConfig {
  return {
    deleteMode: o.dele_action,
    trashFolder: o.dele_folder,
    stripNul: o.strip_nul,
    ensureHeaderEnd: o.ensure_header_end,
    lockStaleMs: o.lock_stale,
    chunkSize: o.read_chunk,
  };
}

export function authConfig(o: Pop3Options): SqlAuthConfig {
  return {
    query: o.maildrop_query_format_string,
    loginLogQuery: o.login_log_query,
    maildirRoot: o.maildir_root,
  };
}

export function mboxConfig(o: Pop3Options): MboxStoreConfig {
  return {
    stripNul: o.strip_nul,
    ensureHeaderEnd: o.ensure_header_end,
    chunkSize: o.read_chunk,
    quoting: o.mbox_from_quoting,
    lockStaleMs: o.lock_stale,
    dotlockWaitMs: o.mbox_dotlock_wait,
    dotlockStaleMs: o.mbox_dotlock_stale,
  };
}

export function systemAuthConfig(o: Pop3Options): SystemAuthConfig {
  return {
    passwdFile: o.system_passwd_file,
    shadowFile: o.system_shadow_file,
    mailPath: o.system_mail_path,
    minUid: o.system_min_uid,
  };
}

export default defineModule(import.meta, {
  name: 'pop3',
  description: 'High performance Maildir POP3 server designed for large scale usage (successor of r2d2)',
  version: '0.1.0',
  hostApi: HOST_API_VERSION,
  authors: ['mailhost contributors'],
  options: optionSchema,
  construct(ctx) {
    const stats = new Pop3Stats();
    const sessions = new LiveSessions<Session>();
    const listeners: Listener[] = [];
    let deps: SessionDeps | undefined;
    let tlsNow: () => TlsFiles | undefined = () => undefined;
    let notifier: Notifier | undefined;

    const listenSpec = (o: Pop3Options): Omit<ListenSpec, 'sessions' | 'name' | 'address' | 'port'> => ({
      backlog: o.backlog,
      trustedProxies: o.trusted_proxies,
      perIpLimit: o.max_sessions_per_ip,
      busyReply: R.busy,
    });

    const onConnection = (conn: Connection) => {
      if (!deps) {
        conn.end(R.busy);
        return;
      }
      stats.sessions++;
      sessions.start(new Session(conn, deps));
    };

    return {
      async prestart(o) {
        if (o.auth === 'sql') {
          try {
            validateSqlAuthConfig(authConfig(o));
          } catch (e) {
            throw new HostError('CONFIG', `[pop3] ${(e as Error).message}`, { cause: e });
          }
        }
        tlsNow = memo(ctx, tlsFiles);
        const store = observeStore(
          createStoreSelector(
            () => ctx.options().store,
            createMaildirStore(memo(ctx, storeConfig), ctx.workers),
            createMboxStore(memo(ctx, mboxConfig), ctx.workers),
          ),
          () => (ctx.options().popa3d_log ? popa3dObserver : null),
        );
        const backend: Authenticator =
          o.auth === 'system'
            ? createSystemAuthenticator(memo(ctx, systemAuthConfig), ctx.workers)
            : createSqlAuthenticator({
                config: memo(ctx, authConfig),
                database: () => ctx.database(ctx.options().database),
                workers: ctx.workers,
              });
        const server = hostname();
        const notify = createNotifier((): NotifyConfig => {
          const c = ctx.options();
          return {
            destination: c.notify_udp_destination,
            ttl: c.notify_udp_ttl,
            secret: c.notify_udp_secret,
            server,
          };
        }, ctx.log);
        notifier = notify;
        const auth = observeAuth(backend, (user, lc) => {
          if (ctx.options().popa3d_log) lc.log.info(popa3dLines.passed(user));
          notify.loginOk(user, lc.remoteAddress);
        });
        deps = {
          options: () => ctx.options(),
          auth,
          store,
          tls: () => tlsNow(),
          stats,
          failures: new FailurePolicy(),
          workers: ctx.workers,
          capa: new CapaCache(),
          hostname: hostname(),
        };
        const common = listenSpec(o);
        listeners.push(
          await ctx.listen({ ...common, name: 'pop3', address: o.address, port: o.port }, onConnection),
        );
        const tls = tlsFiles(o);
        if (o.tls_port > 0 && tls) {
          listeners.push(
            await ctx.listen(
              { ...common, name: 'pop3s', address: o.tls_address, port: o.tls_port, tls },
              onConnection,
            ),
          );
        } else if (o.tls_port > 0) {
          ctx.log.warn(
            { key: o.x509_key_file, cert: o.x509_cert_file },
            'TLS key or certificate missing: POP3S and STLS are off',
          );
        }
      },

      async reload(next, previous) {
        try {
          if (next.auth === 'sql') validateSqlAuthConfig(authConfig(next));
        } catch (e) {
          // Logins answer -ERR [SYS/PERM] until the query is fixed; the rest of the reload applies.
          ctx.log.error({ err: (e as Error).message }, 'invalid query after reload');
        }
        ctx.sessions.resize(next.min_sessions, next.max_sessions);
        const tls = tlsFiles(next);
        for (const l of listeners) {
          l.update({
            perIpLimit: next.max_sessions_per_ip,
            trustedProxies: next.trusted_proxies,
            busyReply: R.busy,
            ...(l.name === 'pop3s' && tls ? { tls } : {}),
          });
        }
        if (next.tls_port !== previous.tls_port || next.port !== previous.port) {
          ctx.log.warn('port changes need a restart');
        }
      },

      report() {
        // Flat fields: the text log format writes key="value" pairs.
        const r: Record<string, number> = {
          sessions_active: sessions.size,
          sessions_authorization: 0,
          sessions_transaction: 0,
          sessions_update: 0,
        };
        for (const s of sessions) if (s.state !== 'closed') r[`sessions_${s.state}`]++;
        const st = stats.snapshot();
        for (const k of Object.keys(st)) r[k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)] = st[k];
        return r;
      },

      async stop(deadline) {
        notifier?.close();
        // Sessions finish on their own until the deadline; then an UPDATE in progress is let finish.
        await drainSessions(listeners, sessions, deadline);
      },
    };
  },
});
