// Jest runs TypeScript through @swc/jest (fast, no type-check; `npm run typecheck` does that).
// @kubernetes/client-node and a few of its dependencies are ESM-only: Jest's CommonJS loader cannot require them
// without --experimental-vm-modules, so they are transpiled to CommonJS like our own code (docs/adr/0001).
const esmOnly = [
  '@kubernetes/client-node',
  'openid-client',
  'oauth4webapi',
  'jose',
  'jsonpath-plus',
  'rfc4648',
  'socks-proxy-agent',
  'agent-base',
];
const base = {
  testEnvironment: 'node',
  transform: { '^.+\\.(ts|js|mjs)$': ['@swc/jest', { jsc: { target: 'es2023' }, module: { type: 'commonjs' } }] },
  transformIgnorePatterns: [`/node_modules/(?!(${esmOnly.join('|')})/)`],
  moduleFileExtensions: ['ts', 'js', 'mjs', 'json'],
};
/** One jest project per test tier (docs/design.md §8). Tiers that need servers share one stack per run (test/setup/). */
module.exports = {
  // Per-project testTimeout is ignored by jest; server-backed tests need minutes on a busy 2-core machine.
  testTimeout: 180000,
  projects: [
    { ...base, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    {
      ...base,
      displayName: 'workflows',
      setupFiles: ['<rootDir>/test/setup/quiet-temporal.ts'],
      testMatch: ['<rootDir>/test/workflows/**/*.test.ts'],
      globalSetup: '<rootDir>/test/setup/global-setup.ts',
      globalTeardown: '<rootDir>/test/setup/global-teardown.ts',
    },
    {
      ...base,
      displayName: 'integration',
      setupFiles: ['<rootDir>/test/setup/quiet-temporal.ts'],
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      globalSetup: '<rootDir>/test/setup/global-setup.ts',
      globalTeardown: '<rootDir>/test/setup/global-teardown.ts',
    },
    {
      // Crash/restart, storage faults, bad input, prefix isolation, credential leaks, load (docs/reliability.md).
      // Larger sizes with BEL_RELIABILITY_FULL=1.
      ...base,
      displayName: 'reliability',
      setupFiles: ['<rootDir>/test/setup/quiet-temporal.ts'],
      testMatch: ['<rootDir>/test/reliability/**/*.test.ts'],
      globalSetup: '<rootDir>/test/setup/global-setup.ts',
      globalTeardown: '<rootDir>/test/setup/global-teardown.ts',
    },
    {
      // Alerts, dashboard and runbook on a real Prometheus (Debian's, tools/scripts/install-prometheus.sh) scraping real worker
      // and watcher processes; promtool rule tests; the chart's monitoring templates (README "Operating it").
      ...base,
      displayName: 'prometheus',
      setupFiles: ['<rootDir>/test/setup/quiet-temporal.ts'],
      testMatch: ['<rootDir>/test/prometheus/**/*.test.ts'],
      globalSetup: '<rootDir>/test/setup/global-setup.ts',
      globalTeardown: '<rootDir>/test/setup/global-teardown.ts',
    },
    {
      // Temporal Web UI in Debian's Chromium (tools/scripts/install-chromium.sh), driven by playwright-core; screenshots in test/browser/artifacts/.
      ...base,
      displayName: 'browser',
      setupFiles: ['<rootDir>/test/setup/quiet-temporal.ts'],
      testMatch: ['<rootDir>/test/browser/**/*.test.ts'],
      globalSetup: '<rootDir>/test/setup/global-setup.ts',
      globalTeardown: '<rootDir>/test/setup/global-teardown.ts',
    },
  ],
};
