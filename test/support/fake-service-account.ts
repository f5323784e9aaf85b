import type { SecretData } from '../../activities/storage-port';

/**
 * Provider secret data of a `gcp` entry whose service account cannot sign anything (no real key): for tests of the
 * GCS provider against stub servers. `key` is what stands in the PEM block (tests look for it in error texts).
 */
export function fakeServiceAccountSecret(key = 'not-a-real-key'): SecretData {
  return {
    'serviceaccount.json': Buffer.from(
      JSON.stringify({
        type: 'service_account',
        project_id: 'test',
        client_email: 'a@test.iam.gserviceaccount.com',
        private_key_id: 'k1',
        private_key: `-----BEGIN PRIVATE KEY-----\n${key}\n-----END PRIVATE KEY-----\n`,
        token_uri: 'https://t',
      }),
    ),
  };
}
