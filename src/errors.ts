// Errors with stable codes: callers switch on `code`, never on message text.
export type HostErrorCode =
  | 'BAD_MODULE' // a module file does not export a valid descriptor
  | 'API_VERSION' // a module needs another host API major
  | 'CONFIG' // c11n could not be read or validated (message lists every problem)
  | 'NO_DATABASE' // a module asked for a database ID with no [database.ID] section
  | 'DB_UNAVAILABLE' // the database could not be reached (temporary)
  | 'DB_QUERY' // the database refused the query
  | 'TLS_UNAVAILABLE' // STLS/implicit TLS asked for without key and certificate
  | 'ROOT_REFUSED' // running as root without executes_as_root
  | 'PRIVILEGES' // the uid/gid switch failed
  | 'LISTEN' // a listener could not bind
  | 'WORKER' // a worker task failed
  | 'SESSION_LIMIT'; // max_sessions reached

export class HostError extends Error {
  readonly code: HostErrorCode;
  constructor(code: HostErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HostError';
    this.code = code;
  }
}

export function isHostError(e: unknown, code?: HostErrorCode): e is HostError {
  return e instanceof HostError && (code === undefined || e.code === code);
}
