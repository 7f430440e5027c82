// jest configuration: TypeScript through ts-jest (type-checked), a node environment that shares the outer realm's
// typed-array constructors (native code and onnxruntime-node create arrays in that realm).
/** @type {import('jest').Config} */
module.exports = {
  preset: 'ts-jest',
  testEnvironment: '<rootDir>/test/environment.js',
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  testTimeout: 120000,
  maxWorkers: 1, // the native code uses both cores itself; parallel test files would only oversubscribe them
};
