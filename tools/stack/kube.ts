import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { request as httpRequest } from 'node:http';
import { dirname, join } from 'node:path';
import { createPki, issueClientCert, type TestPki } from './certs';
import { freePort } from './ports';
import { startProcess, stopProcess, type ManagedProcess } from './processes';
import { waitFor } from './wait';

/** A running etcd + kube-apiserver pair with an admin kubeconfig. */
export interface KubeControlPlane {
  etcd: ManagedProcess;
  apiserver: ManagedProcess;
  etcdUrl: string;
  /** `https://127.0.0.1:<port>` */
  server: string;
  /** Path of a kubeconfig for user `admin` in group `system:masters`. */
  kubeconfig: string;
  pki: TestPki;
  /** Folder with certificates, kubeconfigs and logs. */
  dir: string;
  /** Writes a kubeconfig for another user (client certificate CN=user, O=groups), e.g. to test RBAC. */
  kubeconfigFor(user: string, groups: readonly string[]): string;
  /** Stops the API server, then etcd. */
  stop(): Promise<void>;
}

/** Options of {@link startKubeControlPlane}. */
export interface KubeOptions {
  etcdBin: string;
  apiserverBin: string;
  /** Working folder (certificates, data, logs). */
  dir: string;
  /** Extra kube-apiserver flags, e.g. `--authorization-mode=RBAC` is already set; `--min-request-timeout=60`. */
  extraApiserverArgs?: string[];
  log?: (msg: string) => void;
}

function httpOk(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = httpRequest(url, { timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

function httpsGet(url: string, tls: { ca: string; cert: string; key: string }): Promise<number> {
  return new Promise((resolve) => {
    const req = request(url, { ...tls, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => {
      req.destroy();
      resolve(0);
    });
    req.end();
  });
}

function kubeconfigYaml(server: string, ca: string, user: string, cert: string, key: string): string {
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  // JSON is valid YAML; kubectl and client-node read it.
  return JSON.stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'stack',
      clusters: [{ name: 'stack', cluster: { server, 'certificate-authority-data': b64(ca) } }],
      users: [{ name: user, user: { 'client-certificate-data': b64(cert), 'client-key-data': b64(key) } }],
      contexts: [{ name: 'stack', context: { cluster: 'stack', user } }],
    },
    null,
    2,
  );
}

/**
 * Writes a kubeconfig for another user of a control plane started by {@link startKubeControlPlane}, found through its
 * admin kubeconfig (the PKI lies next to it): a client certificate with CN = user and O = groups. Works from any
 * process that sees the stack's files, e.g. a jest worker that only has `KUBECONFIG`. For a ServiceAccount identity
 * use CN `system:serviceaccount:<ns>:<name>` and the groups `system:serviceaccounts`, `system:serviceaccounts:<ns>`:
 * RBAC authorizes it like the ServiceAccount's token. A CN holds at most 64 characters.
 */
export function kubeconfigForUser(adminKubeconfig: string, user: string, groups: readonly string[]): string {
  const dir = dirname(adminKubeconfig);
  const pkiDir = join(dir, 'pki');
  const pki: TestPki = {
    caCert: join(pkiDir, 'ca.crt'),
    caKey: join(pkiDir, 'ca.key'),
    serverCert: join(pkiDir, 'apiserver.crt'),
    serverKey: join(pkiDir, 'apiserver.key'),
    saKey: join(pkiDir, 'sa.key'),
    saPub: join(pkiDir, 'sa.pub'),
  };
  const admin = JSON.parse(readFileSync(adminKubeconfig, 'utf8')) as { clusters: { cluster: { server: string } }[] };
  const c = issueClientCert(pki, pkiDir, user, groups);
  const file = join(dir, `kubeconfig-${user.replace(/[^a-zA-Z0-9_-]/g, '_')}`);
  writeFileSync(
    file,
    kubeconfigYaml(admin.clusters[0]!.cluster.server, readFileSync(pki.caCert, 'utf8'), user, c.cert, c.key),
    { mode: 0o600 },
  );
  return file;
}

function hasDefaultRoute(): boolean {
  try {
    return readFileSync('/proc/net/route', 'utf8')
      .split('\n')
      .slice(1)
      .some((l) => l.split('\t')[1] === '00000000');
  } catch {
    return true;
  }
}

/**
 * Starts etcd and kube-apiserver the way controller-runtime's envtest does (free ports, a throw-away PKI, RBAC
 * authorization with an admin in `system:masters`), waits until `/readyz` answers and the `default` namespace exists.
 */
export async function startKubeControlPlane(opts: KubeOptions): Promise<KubeControlPlane> {
  const log = opts.log ?? (() => undefined);
  const dir = opts.dir;
  mkdirSync(join(dir, 'pki'), { recursive: true });
  const pki = createPki(join(dir, 'pki'));
  const [clientPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
  const etcdUrl = `http://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  log(`starting etcd on ${etcdUrl}`);
  const etcd = startProcess(
    'etcd',
    opts.etcdBin,
    [
      '--name=stack',
      `--data-dir=${join(dir, 'etcd-data')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=stack=${peerUrl}`,
      '--unsafe-no-fsync=true',
      '--log-level=warn',
    ],
    join(dir, 'etcd.log'),
  );
  await waitFor(() => httpOk(`${etcdUrl}/health`), { what: 'etcd /health', process: etcd, timeoutMs: 60_000 });

  const server = `https://127.0.0.1:${apiPort}`;
  log(`starting kube-apiserver on ${server}`);
  const args = [
    `--etcd-servers=${etcdUrl}`,
    `--cert-dir=${join(dir, 'pki')}`,
    `--secure-port=${apiPort}`,
    '--bind-address=127.0.0.1',
    `--tls-cert-file=${pki.serverCert}`,
    `--tls-private-key-file=${pki.serverKey}`,
    `--client-ca-file=${pki.caCert}`,
    '--service-cluster-ip-range=10.0.0.0/24',
    '--allow-privileged=true',
    '--disable-admission-plugins=ServiceAccount',
    '--authorization-mode=RBAC',
    `--service-account-issuer=${server}/`,
    `--service-account-key-file=${pki.saPub}`,
    `--service-account-signing-key-file=${pki.saKey}`,
    '--profiling=false',
    '--v=0',
    ...(hasDefaultRoute() ? [] : ['--advertise-address=192.0.2.10']),
    ...(opts.extraApiserverArgs ?? []),
  ];
  const apiserver = startProcess('kube-apiserver', opts.apiserverBin, args, join(dir, 'kube-apiserver.log'));
  const admin = issueClientCert(pki, join(dir, 'pki'), 'admin', ['system:masters']);
  const tls = { ca: readFileSync(pki.caCert, 'utf8'), ...admin };
  await waitFor(async () => (await httpsGet(`${server}/readyz`, tls)) === 200, {
    what: 'kube-apiserver /readyz',
    process: apiserver,
    timeoutMs: 120_000,
    intervalMs: 250,
  });
  await waitFor(async () => (await httpsGet(`${server}/api/v1/namespaces/default`, tls)) === 200, {
    what: 'namespace default',
    process: apiserver,
    timeoutMs: 30_000,
  });
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, kubeconfigYaml(server, tls.ca, 'admin', admin.cert, admin.key), { mode: 0o600 });
  return {
    etcd,
    apiserver,
    etcdUrl,
    server,
    kubeconfig,
    pki,
    dir,
    kubeconfigFor: (user, groups) => kubeconfigForUser(kubeconfig, user, groups),
    async stop() {
      await stopProcess(apiserver);
      await stopProcess(etcd);
    },
  };
}
