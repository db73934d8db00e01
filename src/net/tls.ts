// Secure contexts from key/cert files: read once, re-read when either file changes (so a SIGHUP
// certificate renewal reaches STLS without any call from the module).
import { readFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { createSecureContext, type SecureContext, TLSSocket } from 'node:tls';
import type { TlsFiles } from '../api.js';
import { HostError } from '../errors.js';

interface Cached {
  context: SecureContext;
  stamp: string;
}
const cache = new Map<string, Cached>();

const keyOf = (f: TlsFiles) => `${f.keyFile}\n${f.certFile}`;

/** Synchronous read: at bind and on reload, never per connection. */
export function loadSecureContext(files: TlsFiles): SecureContext {
  try {
    return createSecureContext({ key: readFileSync(files.keyFile), cert: readFileSync(files.certFile) });
  } catch (e) {
    throw new HostError(
      'TLS_UNAVAILABLE',
      `TLS key/certificate ${files.keyFile}, ${files.certFile}: ${message(e)}`,
      {
        cause: e,
      },
    );
  }
}

/** For STLS: cached per file pair, revalidated by two async stats. */
export async function secureContextFor(files: TlsFiles): Promise<SecureContext> {
  const k = keyOf(files);
  try {
    const [ks, cs] = await Promise.all([stat(files.keyFile), stat(files.certFile)]);
    const stamp = `${ks.mtimeMs}:${ks.size}:${cs.mtimeMs}:${cs.size}`;
    const hit = cache.get(k);
    if (hit !== undefined && hit.stamp === stamp) return hit.context;
    const [key, cert] = await Promise.all([readFile(files.keyFile), readFile(files.certFile)]);
    const context = createSecureContext({ key, cert });
    cache.set(k, { context, stamp });
    return context;
  } catch (e) {
    throw new HostError(
      'TLS_UNAVAILABLE',
      `TLS key/certificate ${files.keyFile}, ${files.certFile}: ${message(e)}`,
      {
        cause: e,
      },
    );
  }
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Handshake as server over an accepted socket (implicit TLS, or STLS after the plaintext part).
 * Bytes still buffered in `raw` are fed to TLS by node; the caller has already discarded what it must.
 */
export function serverTls(raw: Socket, context: SecureContext, timeoutMs: number): Promise<TLSSocket> {
  const tls = new TLSSocket(raw, { isServer: true, secureContext: context });
  return new Promise((resolve, reject) => {
    const settle = (err: Error | null) => {
      tls.removeListener('secure', onSecure);
      tls.removeListener('error', onError);
      tls.removeListener('close', onClose);
      tls.removeListener('timeout', onTimeout);
      tls.setTimeout(0);
      if (err === null) return resolve(tls);
      tls.on('error', ignore); // late errors of a socket nobody owns any more
      tls.destroy();
      reject(err);
    };
    const onSecure = () => settle(null);
    const onError = (e: Error) =>
      settle(new HostError('TLS_UNAVAILABLE', `TLS handshake failed: ${e.message}`));
    const onClose = () => settle(new HostError('TLS_UNAVAILABLE', 'closed during TLS handshake'));
    const onTimeout = () => settle(new HostError('TLS_UNAVAILABLE', 'TLS handshake timed out'));
    tls.on('secure', onSecure);
    tls.on('error', onError);
    tls.on('close', onClose);
    tls.on('timeout', onTimeout);
    tls.setTimeout(timeoutMs);
  });
}

function ignore(): void {}
