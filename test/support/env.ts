import { KubeConfig } from '@kubernetes/client-node';

/** Reads a variable the global setup exported; fails with a clear message when a tier runs without the stack. */
export function stackEnv(key: string): string {
  const v = process.env[key];
  if (!v) throw new Error(`${key} is not set: this test needs the local stack (test/setup/global-setup.ts)`);
  return v;
}

/** A KubeConfig for the stack's admin user. */
export function adminKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(stackEnv('KUBECONFIG'));
  return kc;
}

/** A name unique within this test run (the API server is shared by every test file). */
export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid.toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}
