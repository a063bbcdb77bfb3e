// Test files whose subject does not change with the database the service runs on: the browser
// pages, the command-line tool, the client package, the embedded database's template. They run
// in the embedded database's suite (plain `npm test`); a run on a PostgreSQL server
// (TEST_DATABASE_URL, or DATABASE_URL naming one) leaves them out, the API beneath them being
// tested on every database by its own files.
const DATABASE_INDEPENDENT = ['test/console/', 'test/ide/browser.test.ts', 'test/cli/', 'test/client/package.test.ts', 'test/embedded-template.test.ts'];
const onServer = /^postgres(ql)?:\/\//.test(process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL ?? '');

/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', ...(onServer ? DATABASE_INDEPENDENT.map((p) => `<rootDir>/${p}`) : [])],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  testTimeout: 30000,
  // the embedded databases' template, made once for all test files
  globalSetup: '<rootDir>/test/helpers/database.ts',
  // each test file brings up its own database; two files at a time fit two cores
  maxWorkers: process.env.JEST_MAX_WORKERS ?? 2,
  // jest's own output, then every test file's time (jest names a file's time only when it is slow)
  reporters: ['default', '<rootDir>/test/helpers/file-times-reporter.mjs'],
};
