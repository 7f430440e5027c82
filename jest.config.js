// jest configuration: TypeScript through ts-jest (type-checked), a node environment that shares the outer realm's
// typed-array constructors (native code and onnxruntime-node create arrays in that realm). hyparquet and its codecs
// ship only as ES modules: Node >= 20.19 require()s them natively (lib/data/parquet.ts), jest's own module loader
// cannot before Node 24.9, so their files are transpiled to CommonJS here (ts-jest, JavaScript only, no type check).
/** @type {import('jest').Config} */
module.exports = {
  preset: 'ts-jest',
  testEnvironment: '<rootDir>/test/environment.js',
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  testTimeout: 120000,
  maxWorkers: 1, // the native code uses both cores itself; parallel test files would only oversubscribe them
  transform: {
    '^.+\\.ts$': 'ts-jest',
    '/node_modules/(hyparquet|hyparquet-compressors|hysnappy)/.+\\.js$': ['ts-jest', { tsconfig: { allowJs: true, checkJs: false, module: 'commonjs', target: 'es2022' }, isolatedModules: true }],
  },
  transformIgnorePatterns: ['/node_modules/(?!(hyparquet|hyparquet-compressors|hysnappy)/)'],
};
