import { Storage, type GetFilesResponse } from '@google-cloud/storage';
import { stackEnv, uniqueName } from '../support/env';

describe('fake-gcs-server through @google-cloud/storage', () => {
  it('uploads and lists objects page by page under a prefix via apiEndpoint', async () => {
    delete process.env.STORAGE_EMULATOR_HOST; // its URL rules differ from apiEndpoint's; we never use it
    const storage = new Storage({ apiEndpoint: stackEnv('GCS_API_ENDPOINT'), projectId: 'test' });
    const [bucket] = await storage.createBucket(uniqueName('bucket'));
    const keys = [
      'e1/etcd-main/v2/Full-00000000-00000010-1755684000.gz',
      'e1/etcd-main/v2/Incr-00000011-00000020-1755684300.gz',
      'e1/etcd-main/v2/Incr-00000021-00000030-1755684600.gz',
      'e12/etcd-main/v2/Full-00000000-00000005-1755684000.gz',
    ];
    for (const k of keys) await bucket.file(k).save(Buffer.from(`data of ${k}`));
    const names: string[] = [];
    type Query = { prefix: string; maxResults: number; autoPaginate: false; pageToken?: string };
    let query: Query | null = { prefix: 'e1/', maxResults: 2, autoPaginate: false };
    let pages = 0;
    while (query) {
      const response: GetFilesResponse = await bucket.getFiles(query);
      const [files, next] = response;
      names.push(...files.map((f) => f.name));
      pages += 1;
      query = next ? (next as Query) : null;
    }
    expect(names.sort()).toEqual(keys.slice(0, 3));
    expect(pages).toBe(2);
  });
});
