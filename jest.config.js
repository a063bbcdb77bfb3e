/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  testTimeout: 30000,
  // the embedded databases' template, made once for all test files
  globalSetup: '<rootDir>/test/helpers/database.ts',
  // each test file brings up its own database; two files at a time fit two cores
  maxWorkers: process.env.JEST_MAX_WORKERS ?? 2,
  // jest's own output, then every test file's time (jest names a file's time only when it is slow)
  reporters: ['default', '<rootDir>/test/helpers/file-times-reporter.mjs'],
};
