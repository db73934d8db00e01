// A throwaway self-signed certificate for TLS tests (openssl on the PATH).
import { execFileSync } from 'node:child_process';

/** Write a new RSA key and a self-signed certificate for CN=`cn` to `keyFile` and `certFile`. */
export function selfSignedCert(keyFile: string, certFile: string, cn = 'localhost'): void {
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${cn}`, '-days', '2'].concat([
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ]),
    { stdio: 'ignore' },
  );
}
