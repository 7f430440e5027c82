// version.ts — the package version, read once from package.json (same relative path from lib/ and dist/).
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const VERSION: string = (require('../package.json') as { version: string }).version;
