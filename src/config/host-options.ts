// The host's own options (top of c11n) and the `[database.ID]` section schema.
import type { OptionSchema, Options } from '../api.js';

export const HOST_OPTIONS = {
  identity: {
    type: 'string',
    default: 'server',
    description: 'Name of this server: the process title and the first word of every log line.',
  },
  executes_as_root: {
    type: 'boolean',
    default: false,
    description: 'Allow running as root without a uid switch (development only; production sets uid/gid).',
  },
  uid: {
    type: 'string',
    description: 'User (name or number) to switch to after the modules bound their sockets.',
  },
  gid: {
    type: 'string',
    description: 'Group (name or number) to switch to after the modules bound their sockets.',
  },
  log_level: {
    type: 'enum',
    values: ['trace', 'debug', 'info', 'warn', 'error', 'fatal'],
    default: 'info',
    description: 'Least severe log level written.',
  },
  log_format: {
    type: 'enum',
    values: ['text', 'json'],
    default: 'text',
    description: 'text: one `identity.module[pid]: [session] event key="value"` line per event; json: pino.',
  },
  worker_idle_timeout: {
    type: 'duration',
    default: 30_000,
    min: 0,
    description: 'An idle worker thread above the minimum exits after this long.',
  },
  drain_time: {
    type: 'duration',
    default: 10_000,
    min: 0,
    description: 'On SIGTERM, how long open sessions may finish before they are closed.',
  },
  processes: {
    type: 'string',
    default: '1',
    description: 'Processes sharing the listening sockets: a number, or auto (one per core).',
  },
} as const satisfies OptionSchema;

export type HostOptions = Options<typeof HOST_OPTIONS>;

export const DATABASE_OPTIONS = {
  driver: {
    type: 'enum',
    values: ['sqlite', 'mysql'],
    required: true,
    description: 'sqlite or mysql (MySQL, MariaDB).',
  },
  path: {
    type: 'path',
    description: 'sqlite: the database file (created when missing), relative to the personality.',
  },
  init: { type: 'path', description: 'sqlite: SQL file run when the database file is created.' },
  host: {
    type: 'string',
    description: 'mysql: server host name or address (127.0.0.1 unless socket is set).',
  },
  port: { type: 'integer', default: 3306, min: 1, max: 65535, description: 'mysql: server port.' },
  socket: { type: 'path', description: 'mysql: Unix socket path instead of host and port.' },
  user: { type: 'string', description: 'mysql: user name.' },
  password: { type: 'string', secret: true, description: 'mysql: password.' },
  database: { type: 'string', description: 'mysql: database (schema) name.' },
  min_conns: { type: 'integer', default: 0, min: 0, description: 'mysql: connections kept open.' },
  max_conns: { type: 'integer', default: 10, min: 1, description: 'mysql: most connections at once.' },
  connect_timeout: {
    type: 'duration',
    default: 5000,
    min: 1,
    description: 'mysql: give up connecting after this long.',
  },
  tls: { type: 'boolean', default: false, description: 'mysql: connect over TLS.' },
  tls_ca_file: {
    type: 'path',
    description: 'mysql: CA certificate file that signed the server certificate.',
  },
  tls_reject_unauthorized: {
    type: 'boolean',
    default: true,
    description: 'mysql: refuse a server certificate that does not verify.',
  },
} as const satisfies OptionSchema;

export type DatabaseOptions = Options<typeof DATABASE_OPTIONS>;
