import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'var/**', 'coverage/**', 'node_modules/**', 'test-output/**', '.cache/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        require: 'readonly',
        module: 'writable',
        __dirname: 'readonly',
        Buffer: 'readonly',
        URL: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
        performance: 'readonly',
        fetch: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-require-imports': 'off',
      'no-console': 'off',
    },
  },
  // Layers point down (README, Layout). The import-cycle check (`npm run lint:cycles`) keeps modules from
  // importing each other; these rules keep the low parts from reaching up.
  {
    files: ['src/util/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['../*', '!../errors'],
              message: 'src/util is the lowest layer: it imports only itself and src/errors.ts.',
            },
          ],
        },
      ],
    },
  },
  {
    files: [
      'collectors/**/*.ts',
      'src/runtime/**/*.ts',
      'src/store/**/*.ts',
      'src/secrets/**/*.ts',
      'src/auth/**/*.ts',
      'src/token/**/*.ts',
      'src/lease/**/*.ts',
    ],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [
                '**/dispatch/*',
                '!**/dispatch/types',
                '**/execution/*',
                '**/http/*',
                '**/cli/*',
                '**/create-services',
                '**/services',
              ],
              message:
                'Collectors and the parts below the dispatcher take shared tools from src/util, never from the dispatcher, an entry point or the services.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/dispatch/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/services', '**/create-services', '**/execution/*', '**/http/*', '**/cli/*'],
              message:
                'Dispatchers take the narrow dependencies they use (their *Deps interfaces), not the services.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.cjs'],
    rules: { '@typescript-eslint/no-var-requires': 'off' },
  },
);
