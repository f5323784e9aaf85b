import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Files of a throw-away PKI for a test API server. */
export interface TestPki {
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  saKey: string;
  saPub: string;
}

// Node can generate keys but not sign X.509 certificates, so the PKI is made with the openssl CLI (Debian's openssl 3).
function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new Error(`openssl ${args[0]} failed: ${stderr.trim()}`);
  }
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

/** Creates a CA, a serving certificate for localhost/127.0.0.1 and a service-account key pair in `dir`. */
export function createPki(dir: string): TestPki {
  openssl(
    [
      'req',
      '-x509',
      ...EC,
      '-days',
      '7',
      '-subj',
      '/CN=backupentry-lifecycle-test-ca',
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
    ],
    dir,
  );
  openssl(['req', ...EC, '-subj', '/CN=localhost', '-keyout', 'apiserver.key', '-out', 'apiserver.csr'], dir);
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  openssl(
    [
      'x509',
      '-req',
      '-in',
      'apiserver.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '7',
      '-extfile',
      'server.ext',
      '-out',
      'apiserver.crt',
    ],
    dir,
  );
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'sa.key'], dir);
  openssl(['pkey', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], dir);
  const f = (n: string): string => join(dir, n);
  return {
    caCert: f('ca.crt'),
    caKey: f('ca.key'),
    serverCert: f('apiserver.crt'),
    serverKey: f('apiserver.key'),
    saKey: f('sa.key'),
    saPub: f('sa.pub'),
  };
}

/** Issues a client certificate (CN = user, O = groups) signed by the PKI's CA; returns PEM strings. */
export function issueClientCert(
  pki: TestPki,
  dir: string,
  user: string,
  groups: readonly string[],
): { cert: string; key: string } {
  const base = user.replace(/[^a-zA-Z0-9_-]/g, '_');
  const subj = [...groups.map((g) => `/O=${g}`), `/CN=${user}`].join('');
  openssl(['req', ...EC, '-subj', subj, '-keyout', `${base}.key`, '-out', `${base}.csr`], dir);
  writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  openssl(
    [
      'x509',
      '-req',
      '-in',
      `${base}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '7',
      '-extfile',
      'client.ext',
      '-out',
      `${base}.crt`,
    ],
    dir,
  );
  return { cert: readFileSync(join(dir, `${base}.crt`), 'utf8'), key: readFileSync(join(dir, `${base}.key`), 'utf8') };
}
