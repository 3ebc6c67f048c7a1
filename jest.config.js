// Four suites: pure logic, real SDK clients against the sandbox, the app driven over HTTP, and other
// clients (Azure CLI, Python) against the sandbox.
// e2e and integration run against the compiled `dist/` (npm test builds first), as in Azure.
const tsJest = ['ts-jest', { tsconfig: 'tsconfig.json' }];
const common = {
  testEnvironment: 'node',
  modulePathIgnorePatterns: ['<rootDir>/dist/'],
  transform: { '^.+\\.ts$': tsJest },
  moduleFileExtensions: ['ts', 'js', 'json'],
};

module.exports = {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    { ...common, displayName: 'integration', testMatch: ['<rootDir>/test/integration/**/*.test.ts'] },
    { ...common, displayName: 'e2e', testMatch: ['<rootDir>/test/e2e/**/*.test.ts'] },
    // Other clients (Azure CLI 2.45, Python SDK from Debian) against the sandbox; .ci/run installs them.
    { ...common, displayName: 'clients', testMatch: ['<rootDir>/test/clients/**/*.test.ts'] },
  ],
  testTimeout: 60000,
  // Two workers on the 2-core CI machine (jest's default there is one): most e2e suites wait on real
  // time (the SDK's retry back-off) rather than on the CPU, so two suites at a time roughly halve the
  // run. The longest suites start first (jest.sequencer.config.js).
  maxWorkers: 2,
  testSequencer: '<rootDir>/jest.sequencer.config.js',
};
