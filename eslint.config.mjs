import js from '@eslint/js';
import graphqlPlugin from '@graphql-eslint/eslint-plugin';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

const CODE = ['**/*.{js,mjs,cjs,ts,tsx,mts,cts}'];

export default tseslint.config(
  { ignores: ['dist/', 'client/dist/', 'node_modules/', 'data/', 'coverage/', 'src/generated/', 'client/generated/', 'test-results/', 'jest.config.js'] },

  // TypeScript and JavaScript
  { files: CODE, extends: [js.configs.recommended, ...tseslint.configs.recommended] },
  {
    files: ['**/*.{ts,tsx}'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  // CommonJS files load with require(): the bench's child that runs the built service without a TypeScript loader
  { files: ['**/*.cjs'], rules: { '@typescript-eslint/no-require-imports': 'off' } },

  // The service's modules depend one way (docs/architecture.md): no import cycles (type-only imports,
  // which this rule skips, are checked by `npm run imports`)
  {
    files: ['src/**/*.ts', 'cli/**/*.ts', 'client/**/*.ts', 'scripts/**/*.ts', 'bench/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: { ...importX.flatConfigs.typescript.settings, 'import-x/resolver-next': [createTypeScriptImportResolver()] },
    rules: { 'import-x/no-cycle': ['error', { ignoreExternal: true }] },
  },

  // The schema's SDL: the schema is the documentation clients read (docs/api-contract.md, design rules)
  {
    files: ['schema/*.graphql'],
    languageOptions: {
      parser: graphqlPlugin.parser,
      // the rules that need the whole schema (unreachable types, Relay shapes, known types) get it here
      parserOptions: { graphQLConfig: { schema: 'schema/*.graphql' } },
    },
    plugins: { '@graphql-eslint': graphqlPlugin },
    rules: {
      ...graphqlPlugin.configs['flat/schema-recommended'].rules,
      ...graphqlPlugin.configs['flat/schema-relay'].rules,
      // the schema files use one-line "…" descriptions
      '@graphql-eslint/description-style': ['error', { style: 'inline' }],
      // a description on every type, field, argument, input field, enum value and directive
      '@graphql-eslint/require-description': ['error', {
        types: true, rootField: true, FieldDefinition: true, InputValueDefinition: true, EnumValueDefinition: true, DirectiveDefinition: true,
      }],
      // every business object has `id: ID!` (and implements Node); payloads, connections, edges,
      // PageInfo, the viewer and the usage report's parts are not objects with an identity
      '@graphql-eslint/strict-id-in-types': ['error', {
        acceptedIdNames: ['id'], acceptedIdTypes: ['ID'],
        exceptions: { suffixes: ['Payload', 'Connection', 'Edge'], types: ['PageInfo', 'Viewer', 'UsageReport', 'UsageSeries', 'UsagePoint', 'UsageRejections', 'ApiKeyFacets'] },
      }],
      // The contract fixes plain lists where the set stays small (channels, instances, a key's
      // teams, a developer's instances, revoked keys in a payload, usage series and points), so
      // lists of other types than edges are allowed; edges must still be `…Edge` with a Node.
      '@graphql-eslint/relay-edge-types': ['error', { withEdgeSuffix: true, shouldImplementNode: true, listTypeCanWrapOnlyEdgeType: false }],
      // The contract gives most connections forward paging only (`first`/`after`; `apiKeys` has
      // both directions), so backward arguments are not required.
      '@graphql-eslint/relay-arguments': ['error', { includeBoth: false }],
      // one `input` argument per mutation, of type <MutationName>Input (mutation names are camelCase)
      '@graphql-eslint/input-name': ['error', { checkInputType: true, caseSensitiveInputType: false }],
      '@graphql-eslint/no-scalar-result-type-on-mutation': 'error',
      // Not enabled, as they contradict the contract: require-nullable-result-in-root (the contract
      // makes `viewer`, `apiKeys`, `usage`… non-null) and require-field-of-type-query-in-mutation-result
      // (the contract fixes the payload fields).
    },
  },
);
