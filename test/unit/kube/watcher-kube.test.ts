/**
 * The watcher's Kubernetes access against an in-process HTTP server that plays the API server: the paths it reads,
 * 404 as "absent" (never an error), other statuses as errors, and the BackupEntry informer's list and watch paths.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import pino from 'pino';
import { WatcherKube } from '../../../adapters/kubernetes/watcher-kube';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

let server: Server;
const requests: string[] = [];
let handler: Handler;

const json = (res: ServerResponse, status: number, body: unknown): void => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};
const notFound = (res: ServerResponse): void =>
  json(res, 404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 });
/** A handler that answers each listed path with its status and body, and 404 for any other. */
const answering =
  (routes: Record<string, [status: number, body: unknown]>): Handler =>
  (req, res) => {
    const route = routes[req.url ?? ''];
    if (route) json(res, route[0], route[1]);
    else notFound(res);
  };

function kubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [
      { name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true },
    ],
    users: [{ name: 'u' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}

beforeAll(async () => {
  server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

beforeEach(() => {
  requests.length = 0;
});

describe('WatcherKube', () => {
  it("reads a secret's data; a missing secret is undefined, a server error rejects", async () => {
    const kube = new WatcherKube(kubeConfig());
    handler = answering({
      '/api/v1/namespaces/shoot--a--b/secrets/etcd-backup': [
        200,
        {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 'etcd-backup', namespace: 'shoot--a--b' },
          data: { bucketName: 'YQ==' },
        },
      ],
      '/api/v1/namespaces/shoot--a--b/secrets/empty': [
        200,
        { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'empty', namespace: 'shoot--a--b' } },
      ],
      '/api/v1/namespaces/shoot--a--b/secrets/boom': [
        500,
        { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 500 },
      ],
    });
    await expect(kube.readSecretData('shoot--a--b', 'etcd-backup')).resolves.toEqual({ bucketName: 'YQ==' });
    await expect(kube.readSecretData('shoot--a--b', 'empty')).resolves.toEqual({});
    await expect(kube.readSecretData('shoot--a--b', 'gone')).resolves.toBeUndefined();
    await expect(kube.readSecretData('shoot--a--b', 'boom')).rejects.toMatchObject({ code: 500 });
  });

  it("reads a BackupEntry's finalizers; a missing entry is undefined", async () => {
    const kube = new WatcherKube(kubeConfig());
    const entry = (metadata: object): [number, unknown] => [
      200,
      { apiVersion: 'extensions.gardener.cloud/v1alpha1', kind: 'BackupEntry', metadata },
    ];
    handler = answering({
      '/apis/extensions.gardener.cloud/v1alpha1/backupentries/shoot--a--b--1234': entry({
        name: 'shoot--a--b--1234',
        finalizers: ['extensions.gardener.cloud/local'],
      }),
      '/apis/extensions.gardener.cloud/v1alpha1/backupentries/bare': entry({ name: 'bare' }),
    });
    await expect(kube.readBackupEntryFinalizers('shoot--a--b--1234')).resolves.toEqual([
      'extensions.gardener.cloud/local',
    ]);
    await expect(kube.readBackupEntryFinalizers('bare')).resolves.toEqual([]);
    await expect(kube.readBackupEntryFinalizers('gone')).resolves.toBeUndefined();
  });

  it('the BackupEntry informer lists and watches the cluster-scoped collection', async () => {
    const kube = new WatcherKube(kubeConfig());
    let listed!: () => void;
    const synced = new Promise<void>((r) => (listed = r));
    let watched!: () => void;
    const watching = new Promise<void>((r) => (watched = r));
    handler = (req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname !== '/apis/extensions.gardener.cloud/v1alpha1/backupentries') return notFound(res);
      if (url.searchParams.get('watch') === 'true') {
        res.writeHead(200);
        res.flushHeaders(); // hold the watch open
        watched();
        return;
      }
      json(res, 200, {
        apiVersion: 'extensions.gardener.cloud/v1alpha1',
        kind: 'BackupEntryList',
        metadata: { resourceVersion: '9' },
        items: [{ metadata: { name: 'e1', resourceVersion: '3' } }],
      });
    };
    const informer = kube.backupEntryInformer<string>({
      transform: (o) => (o as { metadata?: { name?: string } }).metadata?.name,
      keyOf: (name) => name,
      onSync: () => listed(),
      onEvent: () => undefined,
      idleTimeoutMs: 60_000,
      watchTimeoutMs: 300_000,
      log: pino({ level: 'silent' }),
    });
    informer.start();
    await synced;
    await watching;
    await informer.stop();
    expect([...informer.items().keys()]).toEqual(['e1']);
    expect(requests[0]).toMatch(/^GET \/apis\/extensions\.gardener\.cloud\/v1alpha1\/backupentries\?limit=500$/);
    expect(requests[1]).toMatch(/^GET \/apis\/extensions\.gardener\.cloud\/v1alpha1\/backupentries\?.*watch=true/);
    expect(requests[1]).toContain('resourceVersion=9');
  });
});
