// Lint for what types cannot see: above all a promise left floating on the hot path,
// which would turn a failed write or send into a silent loss.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Module boundaries (STYLE.md "Layout"; issue 15 point 7): a module imports only contracts/ and its
// own folder; only app/ wires modules together, so data flows one way. tests/ and bench/ exercise
// many modules and are exempt. A relative import's reach is known from the file's depth: from
// gateway/x.ts, `../` leaves gateway/ and may only go on into contracts/; from ingest/store/x.ts
// the same holds for `../../`.
const MODULES = ['contracts', 'gateway', 'ingest', 'rules', 'alerts', 'dashboards', 'registry', 'simulator', 'pipeline', 'journal', 'adapters', 'privacy', 'storage', 'worker'];
const MAX_DEPTH = 4;
// Below a module as contracts/ is: the stores behind the storage seam (issue 21), which import only
// contracts/. alerts/ builds its queries' transactions from them (storage/README.md).
const LOWER = { alerts: ['storage'] };
const boundaries = MODULES.flatMap((m) =>
  Array.from({ length: MAX_DEPTH }, (_, i) => i + 1).map((depth) => ({
    files: [`${m}/${'*/'.repeat(depth - 1)}*.ts`],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          {
            regex: `^(\\.\\./){${depth}}(?!contracts/|${(LOWER[m] ?? []).map((l) => `${l}/|`).join('')}\\.\\./)`,
            message: `${m}/ imports only ../contracts/ and its own folder; hand it an interface from contracts/ and let app/ wire the module (STYLE.md "Layout").`,
          },
          { regex: `^(\\.\\./){${depth + 1},}`, message: 'An import that climbs above the project root.' },
        ],
      }],
    },
  })),
);

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'bench/results/**', 'bench/nodered/**', 'dashboards/public/vendor/**', 'data/**', '.data/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false, attributes: false } }],
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'off',
    },
  },
  ...boundaries,
  {
    files: ['dashboards/public/**/*.js'],
    languageOptions: { globals: { window: 'readonly', document: 'readonly', fetch: 'readonly', EventSource: 'readonly', localStorage: 'readonly', navigator: 'readonly', Audio: 'readonly', AudioContext: 'readonly', console: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', URLSearchParams: 'readonly', Intl: 'readonly' } },
  },
);
