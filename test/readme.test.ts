// readme.test.ts — the README's TypeScript blocks compile as written against the library (names defined, exports
// real, option names and types right), and its curl examples send valid JSON. Before: the likelihoods / conditional
// block used undefined names (oneHot is not exported), the deployment block never closed its server, the curl
// examples sent '[[0, 0, ...20 values]]'. Blocks continue the README's running example, so each is compiled after
// declarations of what earlier blocks made (train, test, vae, x, z, …); imports a block writes are its own.
import * as fs from 'fs';
import * as path from 'path';
import * as ts from 'typescript';

const ROOT = path.resolve(__dirname, '..');
const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const blocks = (lang: string) => [...readme.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]);

// What earlier blocks (or the reader's own code) have made, by the names the README uses.
const CONTEXT = `
declare const train: { x: Matrix; labels: Uint8Array };
declare const test: { x: Matrix; labels: Uint8Array };
declare const vae: Vae; declare const cvae: Vae;
declare const x: Matrix; declare const z: Matrix; declare const condition: Matrix;
declare const trainOneHot: Matrix; declare const testOneHot: Matrix;
declare const inputDim: number; declare const latentDim: number; declare const genes: number;
`;

test('every ```ts block of the README type-checks against the library', () => {
  const tsBlocks = blocks('ts');
  expect(tsBlocks.length).toBeGreaterThanOrEqual(5);
  const files: Record<string, string> = {};
  const imported = new Set<string>(); // names imported by this block or an earlier one (the running example)
  tsBlocks.forEach((code, i) => {
    for (const l of code.split('\n').filter((line) => /^import /.test(line))) {
      expect(l).toMatch(/from 'latentkit';$/);
      for (const n of /\{([^}]*)\}/.exec(l)?.[1].split(',') ?? []) imported.add(n.trim());
    }
    const types = ['Vae', 'Matrix'].filter((n) => !imported.has(n));
    const body = code.split('\n').filter((l) => !/^import /.test(l)).join('\n');
    files[path.join(ROOT, 'test', `__readme_block_${i}.ts`)] = `import { ${[...imported].join(', ')} } from 'latentkit';\n` +
      `import type { ${types.join(', ')} } from 'latentkit';\n${CONTEXT}\nexport async function block(): Promise<void> {\n${body}\n}\n`;
  });
  const options: ts.CompilerOptions = { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS, strict: true, esModuleInterop: true,
    skipLibCheck: true, noEmit: true, types: ['node'], baseUrl: ROOT, paths: { latentkit: ['lib/index.ts'] }, noUnusedLocals: false };
  const host = ts.createCompilerHost(options);
  const read = host.readFile;
  host.readFile = (f) => files[path.resolve(f)] ?? read(f);
  const exists = host.fileExists;
  host.fileExists = (f) => path.resolve(f) in files || exists(f);
  const program = ts.createProgram(Object.keys(files), options, host);
  const problems = ts.getPreEmitDiagnostics(program)
    .filter((d) => d.file && d.file.fileName in files || (d.file && path.resolve(d.file.fileName) in files))
    .map((d) => `README ts block ${/__readme_block_(\d+)/.exec(d.file!.fileName)![1]}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
  expect(problems).toEqual([]);
}, 120000);

test("the README's curl examples send valid JSON", () => {
  const sh = blocks('sh').join('\n');
  const payloads = [...sh.matchAll(/-d '([^']*)'/g)].map((m) => m[1]);
  expect(payloads.length).toBeGreaterThan(0);
  for (const p of payloads) expect(() => JSON.parse(p)).not.toThrow();
});
