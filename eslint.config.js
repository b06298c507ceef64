import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['node_modules/**', '.data/**', 'infra/kafka/libs/**', '.scratch/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      // Only core/kafka may import a Kafka client package: everything else goes through the wrapper.
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['kafkajs', '@platformatic/kafka'],
              message: 'Import Kafka through core/kafka.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['core/kafka/**', 'bench/kafka-client/**'],
    rules: { 'no-restricted-imports': 'off' },
  },
);
