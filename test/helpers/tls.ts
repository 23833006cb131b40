import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';

/** A self-signed certificate made with openssl, for the TLS listeners. */
export function makeCert(dir: string, cn = 'mta.test'): { cert: string; key: string } {
  const cert = join(dir, `${cn}.crt`);
  const key = join(dir, `${cn}.key`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert,
    '-days', '2', '-subj', `/CN=${cn}`], { stdio: 'ignore' });
  return { cert, key };
}

/** A test certificate authority (trusted through a config key, never the system's store). */
export function makeCa(dir: string): { cert: string; key: string } {
  const cert = join(dir, 'test-ca.crt');
  const key = join(dir, 'test-ca.key');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert,
    '-days', '2', '-subj', '/CN=mta test CA'], { stdio: 'ignore' });
  return { cert, key };
}

/** A certificate signed by `ca`, valid for these DNS names (subjectAltName). */
export function makeLeaf(dir: string, ca: { cert: string; key: string }, label: string, names: string[]): { cert: string; key: string } {
  const cert = join(dir, `${label}.crt`);
  const key = join(dir, `${label}.key`);
  const csr = join(dir, `${label}.csr`);
  const ext = join(dir, `${label}.ext`);
  writeFileSync(ext, `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}\n`);
  execFileSync('openssl', ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${names[0]}`], { stdio: 'ignore' });
  execFileSync('openssl', ['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-days', '2',
    '-out', cert, '-extfile', ext], { stdio: 'ignore' });
  return { cert, key };
}
