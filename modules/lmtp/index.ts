// The lmtp module: an LMTP server (RFC 2033) delivering into Maildirs with the host's shared
// delivery routine. It uses nothing of the host but src/api.ts and src/delivery: the proof that a
// second protocol module plugs in without a change to the host.
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
} from '../../src/api.js';
import { validateDeliveryQuery } from '../../src/delivery/lookup.js';
import { type LmtpOptions, optionSchema } from './options.js';
import { R, Session, type SessionDeps } from './session.js';
import { LmtpStats } from './stats.js';

function checkQuery(o: LmtpOptions): void {
  try {
    validateDeliveryQuery(o.delivery_query_format_string);
  } catch (e) {
    throw new HostError('CONFIG', `[lmtp] delivery_query_format_string: ${(e as Error).message}`);
  }
}

export default defineModule(import.meta, {
  name: 'lmtp',
  description: 'LMTP server (RFC 2033) delivering into Maildirs with r2d2 names (70 characters, Z size)',
  version: '0.1.0',
  hostApi: HOST_API_VERSION,
  authors: ['mailhost contributors'],
  options: optionSchema,
  construct(ctx) {
    const stats = new LmtpStats();
    const sessions = new LiveSessions<Session>();
    const listeners: Listener[] = [];
    let deps: SessionDeps | undefined;

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
        checkQuery(o);
        deps = {
          options: () => ctx.options(),
          database: () => ctx.database(ctx.options().database),
          workers: ctx.workers,
          stats,
          hostname: hostname(),
        };
        const spec: Omit<ListenSpec, 'sessions'> = {
          name: 'lmtp',
          address: o.address,
          port: o.port,
          ...(o.path ? { path: o.path } : {}),
          backlog: o.backlog,
          trustedProxies: o.trusted_proxies,
          perIpLimit: 0,
          busyReply: R.busy,
        };
        listeners.push(await ctx.listen(spec, onConnection));
      },

      async reload(next, previous) {
        checkQuery(next);
        ctx.sessions.resize(next.min_sessions, next.max_sessions);
        for (const l of listeners) l.update({ trustedProxies: next.trusted_proxies });
        if (next.port !== previous.port || next.address !== previous.address || next.path !== previous.path) {
          ctx.log.warn('address, port and path changes need a restart');
        }
      },

      report() {
        let inData = 0;
        for (const s of sessions) if (s.phase === 'data') inData++;
        return {
          sessions: { active: sessions.size, data: inData },
          ...stats.snapshot(),
          listeners: listeners.map((l) => ({ name: l.name, address: l.address, port: l.port })),
        };
      },

      async stop(deadline) {
        // Clients finish their transactions until the deadline (LMTP clients QUIT quickly), then 421.
        await drainSessions(listeners, sessions, deadline);
      },
    };
  },
});
