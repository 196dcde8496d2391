// Lint rules for the TypeScript sources (make lint). Syntax-only rules, so the run stays a
// few seconds; the type checker (tsc, strict) covers the rest.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'lab-run/**', 'bench-results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-exports': ['error', { restrictDefaultExports: { direct: true, named: true } }],
    },
  },
  {
    // Tests edit parsed YAML documents and hostile frames freely.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // The ground floor: hal/ holds the device interfaces, drivers and the base types that
    // everything else builds on. Nothing in it may reach up into src/, scripts/ or test/.
    files: ['hal/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/src/**', '../../src/*', '../src/*'],
              message: 'hal/ is the ground floor: it must not import src/.',
            },
            { group: ['**/scripts/**', '**/test/**'], message: 'hal/ must not import scripts/ or test/.' },
          ],
        },
      ],
    },
  },
  {
    // The core (src/) runs on the device interfaces; scripts and tests sit above it.
    files: ['src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/scripts/**', '**/test/**'], message: 'src/ must not import scripts/ or test/.' }] },
      ],
    },
  },
);
