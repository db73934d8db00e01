// The pop3 module's options: r2d2's names and meaning first, then ours. The schema is the one source
// of the option types (`Pop3Options`); nothing else repeats them.
import type { Options } from '../../src/api.js';

/** r2d2's default query (MySQL), kept as the default so an r2d2 c11n keeps working unchanged. */
export const R2D2_DEFAULT_QUERY =
  'SELECT Maildrop FROM EmailAddress WHERE Address="%u" AND BINARY Password=PASSWORD(\'%p\') AND PopAttribute=1';

export const optionSchema = {
  // ------------------------------------------------------------ r2d2's options
  port: {
    type: 'integer',
    min: 0,
    max: 65535,
    default: 110,
    description: 'Port to bind to (0: any free port).',
  },
  address: { type: 'string', default: '0.0.0.0', description: 'Address to listen on.' },
  backlog: {
    type: 'integer',
    min: 1,
    default: 511,
    description:
      "Kernel connection backlog, passed to listen(). r2d2 used 32; 511 is Node's default and absorbs bursts of pollers.",
  },
  min_sessions: {
    type: 'integer',
    min: 0,
    default: 8,
    reloadable: true,
    description:
      'Sessions kept allocated. r2d2 preallocated 128 C structs; a Node session is a few small objects made on connect, so a small number suffices.',
  },
  max_sessions: {
    type: 'integer',
    min: 1,
    default: 16384,
    reloadable: true,
    description:
      'Sessions at once; further clients get "-ERR [SYS/TEMP] too many sessions". r2d2: 32768; Node holds one descriptor per session, so keep it under the process descriptor limit.',
  },
  min_threads: {
    type: 'integer',
    min: 0,
    default: 1,
    description:
      'Worker threads kept alive for Maildir IO and password hashing. r2d2: 10 pthreads; a Node worker thread costs megabytes, so start with one.',
  },
  max_threads: {
    type: 'integer',
    min: 1,
    default: 4,
    description:
      'Worker threads at most. r2d2: 500 blocking pthreads; Node workers run many small tasks each, and a few per core saturate the disk.',
  },
  database: {
    type: 'string',
    default: 'default',
    description: 'ID of the [database.ID] pool used for logins.',
  },
  maildrop_query_format_string: {
    type: 'string',
    default: R2D2_DEFAULT_QUERY,
    reloadable: true,
    description:
      "SQL returning the Maildir path (first column or one named maildrop); %u user, %l local part, %d domain, %p password, %r remote address, %% percent, each a bound parameter. With a password column the module checks the password itself. The default is r2d2's (MySQL/MariaDB).",
  },
  tls_address: {
    type: 'string',
    default: '0.0.0.0',
    description: 'Address of the implicit-TLS (POP3S) listener.',
  },
  tls_port: {
    type: 'integer',
    min: 0,
    max: 65535,
    default: 995,
    description: 'Implicit-TLS port; 0 turns POP3S off but keeps STLS when a certificate is configured.',
  },
  x509_key_file: {
    type: 'path',
    default: 'key.pem',
    reloadable: true,
    description:
      'TLS private key (PEM). TLS (POP3S and STLS) is off while this file or the certificate is missing.',
  },
  x509_cert_file: {
    type: 'path',
    default: 'cert.pem',
    reloadable: true,
    description: 'TLS certificate chain (PEM).',
  },
  // ------------------------------------------------------------ ours
  maildir_root: {
    type: 'path',
    required: true,
    reloadable: true,
    description: 'Every maildrop returned by the query must lie under this directory.',
  },
  idle_timeout: {
    type: 'duration',
    min: 600_000,
    default: 600_000,
    reloadable: true,
    description:
      'Inactivity after login before the session is closed; RFC 1939 §3 asks for at least 10 minutes.',
  },
  login_timeout: {
    type: 'duration',
    min: 1000,
    default: 60_000,
    reloadable: true,
    description: 'Time allowed before a successful login (a short leash for scanners).',
  },
  max_sessions_per_ip: {
    type: 'integer',
    min: 0,
    default: 20,
    reloadable: true,
    description: 'Sessions at once from one client address (popserv sameaddrmax); 0 = unlimited.',
  },
  trusted_proxies: {
    type: 'list',
    default: [],
    reloadable: true,
    description: 'Load balancers whose PROXY v1/v2 header is required and trusted (addresses or CIDRs).',
  },
  auth_failure_delay: {
    type: 'duration',
    min: 0,
    default: 2000,
    reloadable: true,
    description:
      'Delay before a failed login is answered; doubled for each recent failure from the same address.',
  },
  auth_failure_max_delay: {
    type: 'duration',
    min: 0,
    default: 30_000,
    reloadable: true,
    description: 'Ceiling of the growing failure delay.',
  },
  auth_failure_limit: {
    type: 'integer',
    min: 1,
    default: 3,
    reloadable: true,
    description: 'Failed logins on one connection before it is closed.',
  },
  plaintext_without_tls: {
    type: 'enum',
    values: ['never', 'loopback', 'always'],
    default: 'loopback',
    reloadable: true,
    description: 'Whether USER/PASS and AUTH PLAIN are allowed on a connection without TLS.',
  },
  apop: {
    type: 'boolean',
    default: false,
    reloadable: true,
    description:
      'Offer APOP (needs plaintext passwords in the database); the greeting then carries a banner.',
  },
  login_log_query: {
    type: 'string',
    reloadable: true,
    description:
      'SQL run after each successful login (popserv loginfo.query, e.g. last-login tracking); same substitutions.',
  },
  folder_pattern: {
    type: 'string',
    reloadable: true,
    description:
      'Regular expression on the user name whose first group selects a Maildir++ folder and is removed from the name (popserv folder), e.g. \\+([^@]+): joe+Spam@example.com opens .Spam of joe@example.com.',
  },
  dele_action: {
    type: 'enum',
    values: ['delete', 'move'],
    default: 'delete',
    reloadable: true,
    description: 'What UPDATE does with deleted messages: unlink them, or move them to dele_folder.',
  },
  dele_folder: {
    type: 'string',
    default: 'Trash',
    reloadable: true,
    description: 'Maildir++ folder for dele_action = move.',
  },
  login_delay: {
    type: 'duration',
    min: 0,
    default: 0,
    reloadable: true,
    description:
      'Minimum time between logins of one user, advertised as LOGIN-DELAY and enforced per process; 0 = off.',
  },
  expire: {
    type: 'string',
    default: 'NEVER',
    reloadable: true,
    description:
      'EXPIRE value in CAPA: NEVER, or days a retrieved message is kept. 0 is enforced (what a session retrieved is removed at QUIT); other day counts are advertised only.',
  },
  strip_nul: {
    type: 'boolean',
    default: false,
    reloadable: true,
    description:
      'Client workaround: remove NUL octets from messages sent. Off by default (r2d2 had none): while on, no size hint in a file name can be trusted, so the first open of a maildrop reads every message whole (5 messages of 10 MB: 26 ms instead of 0.7 ms, page cache warm).',
  },
  ensure_header_end: {
    type: 'boolean',
    default: false,
    reloadable: true,
    description:
      'Client workaround: send an empty line after the headers of a message that has none. Off by default (r2d2 had none): while on, the first open reads the header of every message.',
  },
  lock_stale: {
    type: 'duration',
    min: 1000,
    default: 1_800_000,
    reloadable: true,
    description: 'A maildrop lock file older than this (and not refreshed) is taken over.',
  },
  read_chunk: {
    type: 'size',
    min: 4096,
    // 512 KiB: a 10 MB RETR at 680-760 MB/s here (256 KiB: 640-700, 1 MiB: 750-760), while a
    // message being sent holds about three buffers of twice this size.
    default: 524_288,
    reloadable: true,
    description: 'Bytes read per worker hand-off when sending a message.',
  },
  // ------------------------------------------------------------ other seed servers (issue 5)
  store: {
    type: 'enum',
    values: ['auto', 'maildir', 'mbox'],
    default: 'auto',
    reloadable: true,
    description:
      'Maildrop format: auto opens a Maildir, and an mbox file when the path is a file (popa3d); maildir or mbox forces one (with mbox a missing file is an empty maildrop).',
  },
  mbox_from_quoting: {
    type: 'enum',
    values: ['mboxrd', 'mboxo', 'none'],
    default: 'mboxrd',
    reloadable: true,
    description:
      'How quoted From_ lines in mbox bodies are read: mboxrd removes one > from >+From lines, mboxo only from >From lines, none sends them as stored (as mutt and Dovecot show them).',
  },
  mbox_dotlock_wait: {
    type: 'duration',
    min: 0,
    default: 10_000,
    reloadable: true,
    description:
      'How long to wait for an MDA holding the mbox dotlock (USER.lock) before answering [SYS/TEMP].',
  },
  mbox_dotlock_stale: {
    type: 'duration',
    min: 10_000,
    default: 300_000,
    reloadable: true,
    description: 'A dotlock older than this was left by a crashed program and is removed.',
  },
  auth: {
    type: 'enum',
    values: ['sql', 'system'],
    default: 'sql',
    description: 'Who checks logins: sql (maildrop_query_format_string) or system (passwd + shadow, popa3d).',
  },
  system_passwd_file: {
    type: 'path',
    default: '/etc/passwd',
    reloadable: true,
    description: 'auth = system: the passwd file.',
  },
  system_shadow_file: {
    type: 'path',
    default: '/etc/shadow',
    reloadable: true,
    description: 'auth = system: the shadow file (readable by the server: root or group shadow).',
  },
  system_mail_path: {
    type: 'string',
    default: '/var/mail/%u',
    reloadable: true,
    description:
      'auth = system: the maildrop of a user; %u user, %h or a leading ~ home directory, %% percent (e.g. ~/Maildir/).',
  },
  system_min_uid: {
    type: 'integer',
    min: 0,
    default: 1000,
    reloadable: true,
    description: 'auth = system: accounts with a lower uid (system accounts, root) cannot log in.',
  },
  popa3d_log: {
    type: 'boolean',
    default: false,
    reloadable: true,
    description:
      'Also log popa3d\'s lines: "Authentication passed for USER", "N messages (B bytes) loaded", "D (B) deleted, N (B) left". Off by default: the login and disconnect lines carry the same figures, and three more lines per session cost the cheap poll.',
  },
  notify_udp_destination: {
    type: 'string',
    reloadable: true,
    description:
      'host:port receiving a UDP datagram after each successful login (popserv logudp.dst), for POP-before-SMTP and audit; unset: off.',
  },
  notify_udp_ttl: {
    type: 'integer',
    min: 1,
    max: 255,
    default: 1,
    reloadable: true,
    description: 'IP TTL of notifications to a multicast destination (popserv logudp.multicast.ttl).',
  },
  notify_udp_secret: {
    type: 'string',
    secret: true,
    reloadable: true,
    description:
      'Shared secret: each notification carries HMAC-SHA256 over its fields (popserv logudp.secret signed MD5(challenge + secret)).',
  },
} as const;

export type Pop3Options = Options<typeof optionSchema>;
