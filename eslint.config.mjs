// Lint rules of the project. Type-aware (no-floating-promises needs types).
import { builtinModules } from 'node:module';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
// Last in the list: turns off the stylistic rules that prettier owns (formatting is checked by `prettier --check`).
import prettier from 'eslint-config-prettier';

const nodeBuiltins = builtinModules.filter((m) => !m.startsWith('_'));
/** Globals that workflow code (and the domain, bundled into it) must not touch. */
const sandboxGlobals = ['process', 'Buffer', 'setTimeout', 'setInterval', 'require'];
const noNodeBuiltins = nodeBuiltins
  .flatMap((m) => [m, `node:${m}`])
  .map((name) => ({ name, message: 'Node builtins are not allowed in workflow/domain code.' }));
/** Import patterns banned in workflow code and the domain. */
const sandboxPatterns = [
  { group: ['node:*'], message: 'Node builtins are not allowed in workflow/domain code.' },
  {
    group: ['@kubernetes/*', '@google-cloud/*', 'pino', 'prom-client', 'zod'],
    message: 'I/O clients belong in adapters/ and activities/.',
  },
  {
    group: ['@temporalio/activity', '@temporalio/client', '@temporalio/worker', '@temporalio/testing'],
    message: 'Only @temporalio/workflow and @temporalio/common are bundle-safe.',
  },
  {
    group: [
      '**/adapters',
      '**/adapters/**',
      '**/config',
      '**/config/**',
      '**/worker/**',
      '**/starter/**',
      '**/tools/**',
    ],
    message: 'Workflow code must not import adapters, config or processes.',
  },
  {
    group: ['**/activities', '**/activities/**'],
    allowTypeImports: true,
    message: 'Import activities with `import type` only.',
  },
];

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      'coverage/**',
      '.dev/**',
      'jest.config.js',
      'test/workflows/fixtures/uses-node-fs.ts',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
      eqeqeq: ['error', 'smart'],
      'no-console': 'error',
    },
  },
  {
    // Workflow code runs in Temporal's deterministic sandbox: no Node, no I/O clients, no adapters or config.
    // Activities may be imported for their types only. The bundle test (test/workflows/bundle.test.ts) checks the same.
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-globals': ['error', ...sandboxGlobals],
      '@typescript-eslint/no-restricted-imports': ['error', { paths: noNodeBuiltins, patterns: sandboxPatterns }],
    },
  },
  {
    // The same for the domain (it is bundled into workflow code), and it depends on nothing outside domain/:
    // domain ← workflows / activities ← adapters ← worker / watcher / cli.
    files: ['domain/**/*.ts'],
    rules: {
      'no-restricted-globals': ['error', ...sandboxGlobals],
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: noNodeBuiltins,
          patterns: [
            ...sandboxPatterns,
            {
              regex: '^(?!\\./)',
              message: 'The domain imports only from domain/ (./...): plain TypeScript, no packages.',
            },
          ],
        },
      ],
    },
  },
  {
    // Activities depend on their ports (activities/storage-port.ts, activities/kube-port.ts); adapters implement them.
    files: ['activities/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/adapters', '**/adapters/**'],
              message:
                'Activities must not import adapters/: put what they need in a port (activities/*-port.ts) or in domain/.',
            },
            {
              group: ['**/worker', '**/worker/**', '**/starter', '**/starter/**', '**/tools/**'],
              message: 'Activities must not import processes.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['tools/scripts/**/*.ts', 'tools/stack/**/*.ts', 'tools/bench/**/*.ts'],
    rules: { 'no-console': 'off' },
  },
  prettier,
);
