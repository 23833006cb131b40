import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/** A self-signed certificate made with openssl, for the TLS listeners. */
export function makeCert(dir: string, cn = 'mta.test'): { cert: string; key: string } {
  const cert = join(dir, `${cn}.crt`);
  const key = join(dir, `${cn}.key`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert,
    '-days', '2', '-subj', `/CN=${cn}`], { stdio: 'ignore' });
  return { cert, key };
}
