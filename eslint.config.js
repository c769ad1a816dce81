import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * The folders of src/, bottom first (docs/ARCHITECTURE.md): each may import only the folders
 * before it here, so that dependencies point one way and the layers stay apart.
 */
export const LAYERS = [
  'errors',
  'onnx',
  'zoo',
  'partition',
  'profile',
  'compile',
  'sched',
  'engine',
  'sim',
  'runtime',
  'load',
  'server',
  'cli',
];

/**
 * Folders that must stay pure, with what they may not import: what the scheduler and the
 * simulator compute from a profile must depend on the profile alone. Tests may still use
 * node:test and node:assert.
 */
const PURE = {
  profile: {
    regex: '^(?!node:(test|assert(/strict)?)$)(node:|onnxruntime-node$)',
    message: 'src/profile is pure: no I/O, no timers, no ONNX Runtime (docs/ARCHITECTURE.md)',
  },
};

/** One config per folder: importing a folder above it is an error that names the rule. */
const layerOrder = LAYERS.map((folder, k) => ({
  files: [`src/${folder}/**/*.ts`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          ...LAYERS.slice(k + 1).map((above) => ({
            regex: `^(\\.\\./)+${above}(/|$)`,
            message: `src/${folder} sits below src/${above}: it may import only the folders below it (docs/ARCHITECTURE.md)`,
          })),
          ...(PURE[folder] ? [PURE[folder]] : []),
        ],
      },
    ],
  },
}));

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', '.cache/', 'models/', 'zoo/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  ...layerOrder,
  {
    files: ['bin/**/*.js', 'scripts/**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
  {
    files: ['bench/**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
);
