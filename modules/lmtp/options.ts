// The lmtp module's options; the schema is the one source of `LmtpOptions`.
import type { OptionSchema, Options } from '../../src/api.js';
import { DEFAULT_DELIVERY_QUERY } from '../../src/delivery/lookup.js';

export const optionSchema = {
  address: {
    type: 'string',
    default: '127.0.0.1',
    description:
      'Address to listen on. LMTP has no authentication: keep it on loopback or a private network.',
  },
  port: {
    type: 'integer',
    min: 0,
    max: 65535,
    default: 24,
    description: 'Port to bind to (0: any free port).',
  },
  path: {
    type: 'path',
    description:
      'Unix socket path to listen on instead of address and port (e.g. for Postfix lmtp:unix:...).',
  },
  backlog: {
    type: 'integer',
    min: 1,
    default: 511,
    description: 'Kernel connection backlog, passed to listen().',
  },
  min_sessions: {
    type: 'integer',
    min: 0,
    default: 4,
    reloadable: true,
    description: 'Sessions kept allocated.',
  },
  max_sessions: {
    type: 'integer',
    min: 1,
    default: 256,
    reloadable: true,
    description: 'Sessions at once; further clients get "421 4.3.2". An MTA opens a few, not thousands.',
  },
  min_threads: {
    type: 'integer',
    min: 0,
    default: 1,
    description: 'Worker threads kept alive for Maildir writes.',
  },
  max_threads: {
    type: 'integer',
    min: 1,
    default: 8,
    description: 'Most worker threads (each chunk write and each commit with its fsyncs runs in one).',
  },
  database: {
    type: 'string',
    default: 'default',
    description: 'ID of the [database.ID] pool for recipient lookups.',
  },
  delivery_query_format_string: {
    type: 'string',
    default: DEFAULT_DELIVERY_QUERY,
    reloadable: true,
    description:
      'SQL returning the Maildir of a recipient (first column, or one named maildrop). Substitutions, all bound parameters: %u address, %l local part, %d domain, %r client address, %% a percent. No row: 550 5.1.1.',
  },
  maildir_root: {
    type: 'path',
    required: true,
    description: 'Every Maildir must lie under it; a relative maildrop from the query is taken under it.',
  },
  create_maildir: {
    type: 'boolean',
    default: false,
    reloadable: true,
    description:
      'Create a missing Maildir (tmp/, new/, cur/); otherwise such a recipient is deferred (4.2.0).',
  },
  max_message_size: {
    type: 'size',
    min: 1024,
    default: 50 * 1024 * 1024,
    reloadable: true,
    description: 'Largest message (CRLF octets), advertised as SIZE; larger ones get 552 5.3.4.',
  },
  max_recipients: {
    type: 'integer',
    min: 1,
    default: 100,
    reloadable: true,
    description: 'Recipients per message; more get 452 4.5.3 (the client sends them again later).',
  },
  idle_timeout: {
    type: 'duration',
    min: 1000,
    default: 300_000,
    reloadable: true,
    description: 'Close a session idle this long (RFC 5321 §4.5.3.2: 5 minutes for commands).',
  },
  return_path: {
    type: 'boolean',
    default: true,
    reloadable: true,
    description: 'Prepend `Return-Path: <sender>` (RFC 5321 §4.4: the final delivery adds it).',
  },
  trusted_proxies: {
    type: 'list',
    default: [],
    reloadable: true,
    description: 'Peers whose PROXY protocol header is required and trusted (addresses or CIDRs).',
  },
} as const satisfies OptionSchema;

export type LmtpOptions = Options<typeof optionSchema>;
