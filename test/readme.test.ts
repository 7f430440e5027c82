// readme.test.ts — the README's TypeScript blocks compile as written against the library (names defined, exports
// real, option names and types right) and then RUN as written, and its curl examples send valid JSON. Before: the
// likelihoods / conditional block used undefined names (oneHot is not exported), the deployment block never closed its
// server, the curl examples sent '[[0, 0, ...20 values]]'; no block was executed.
// Blocks continue the README's running example, so each is given what earlier blocks (or the reader's own code) made
// (train, test, vae, x, z, …; CONTEXT below declares them for the type check, `runContext` makes them for the run);
// imports a block writes are its own. To run in seconds, the run's MNIST is the first 512 training and 64 test rows
// (datasets.mnist is wrapped; every option the block writes is used as written), the classical block's `x` is a
// 600 × 64 mixture of Gaussians, and each block runs in a fresh temporary directory holding the run folder the
// deployment block loads. The sh blocks (CLI runs of full MNIST) are not run here: test/cli.test.ts runs those commands.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ts from 'typescript';
import * as latentkit from '../lib';
import { headRows, Matrix, native, Vae } from '../lib';
import { randn } from './helpers';

const ROOT = path.resolve(__dirname, '..');
const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const blocks = (lang: string) => [...readme.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]);

// What earlier blocks (or the reader's own code) have made, by the names the README uses.
const CONTEXT_NAMES = ['train', 'test', 'vae', 'cvae', 'x', 'z', 'condition', 'trainOneHot', 'testOneHot', 'inputDim', 'latentDim', 'genes'] as const;
const CONTEXT = `
declare const train: { x: Matrix; labels: Uint8Array };
declare const test: { x: Matrix; labels: Uint8Array };
declare const vae: Vae; declare const cvae: Vae;
declare const x: Matrix; declare const z: Matrix; declare const condition: Matrix;
declare const trainOneHot: Matrix; declare const testOneHot: Matrix;
declare const inputDim: number; declare const latentDim: number; declare const genes: number;
`;

// Each ts block as a module exporting `block()`: its imports (and the earlier blocks') at the top, its body inside.
const tsBlocks = blocks('ts');
const modules: string[] = (() => {
  const imported = new Set<string>(); // names imported by this block or an earlier one (the running example)
  return tsBlocks.map((code) => {
    const nodeImports: string[] = []; // a block may import from Node's fs (to write a file it then loads)
    for (const l of code.split('\n').filter((line) => /^import /.test(line))) {
      if (/from 'fs';$/.test(l)) { nodeImports.push(l); continue; }
      if (!/from 'latentkit';$/.test(l)) throw new Error(`README import not from 'latentkit' or 'fs': ${l}`);
      for (const n of /\{([^}]*)\}/.exec(l)?.[1].split(',') ?? []) imported.add(n.trim());
    }
    const types = ['Vae', 'Matrix'].filter((n) => !imported.has(n));
    const body = code.split('\n').filter((l) => !/^import /.test(l)).join('\n');
    return `${nodeImports.join('\n')}\nimport { ${[...imported].join(', ')} } from 'latentkit';\n` +
      `import type { ${types.join(', ')} } from 'latentkit';\n${CONTEXT}\nexport async function block(): Promise<void> {\n${body}\n}\n`;
  });
})();

test('every ```ts block of the README type-checks against the library', () => {
  expect(tsBlocks.length).toBeGreaterThanOrEqual(5);
  const files: Record<string, string> = {};
  modules.forEach((m, i) => { files[path.join(ROOT, 'test', `__readme_block_${i}.ts`)] = m; });
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

function oneHot(labels: Uint8Array): Matrix {
  const m = { data: new Float32Array(labels.length * 10), rows: labels.length, cols: 10 };
  labels.forEach((l, r) => { m.data[r * 10 + l] = 1; });
  return m;
}

// 600 rows of 64 features from 10 well-separated Gaussian clusters: the reader's `x` of the classical block.
function clusters(): Matrix {
  const rows = 600, cols = 64, centres = randn(10 * cols, 11, 4), noise = randn(rows * cols, 12);
  const data = new Float32Array(rows * cols);
  for (let i = 0; i < data.length; i++) data[i] = centres[(Math.floor(i / cols) % 10) * cols + (i % cols)] + noise[i];
  return { data, rows, cols };
}

describe('every ```ts block of the README runs as written', () => {
  let small: { train: { x: Matrix; labels: Uint8Array }; test: { x: Matrix; labels: Uint8Array } };
  let cwd: string;
  const logs: unknown[][] = [];
  const quiet = { ...console, log: (...a: unknown[]) => { logs.push(a); } };

  beforeAll(async () => {
    const cut = async (split: 'train' | 'test', rows: number) => {
      const d = await latentkit.datasets.mnist({ split });
      return { x: headRows(d.x, rows), labels: d.labels.slice(0, rows) };
    };
    small = { train: await cut('train', 512), test: await cut('test', 64) };
    cwd = process.cwd();
  });
  afterAll(() => process.chdir(cwd));

  // The names the block may use from the running example, made for real (see the header).
  async function runContext(code: string): Promise<Record<(typeof CONTEXT_NAMES)[number], unknown>> {
    const vae = new Vae({ inputDim: 784, latentDim: 20, hidden: [400], seed: 0 });
    const z = { data: randn(8 * 20, 3), rows: 8, cols: 20 };
    const classical = /GaussianMixture|FactorAnalysis/.test(code);
    return { train: small.train, test: small.test, vae, cvae: new Vae({ inputDim: 784, latentDim: 20, conditionDim: 10 }),
      x: classical ? clusters() : small.train.x, z, condition: oneHot(small.train.labels),
      trainOneHot: oneHot(small.train.labels), testOneHot: oneHot(small.test.labels), inputDim: 784, latentDim: 20, genes: 784 };
  }

  // mnist's slice, as bytes when mmap is asked for (what the mapped IDX file holds)
  const asBytes = (d: { x: Matrix; labels: Uint8Array }) => ({ x: { data: Uint8Array.from(d.x.data, (v) => Math.round(v * 255)), rows: d.x.rows, cols: d.x.cols }, labels: d.labels });
  const library = { ...latentkit, datasets: { ...latentkit.datasets,
    mnist: async (o: { split?: 'train' | 'test'; mmap?: boolean } = {}) => (o.mmap ? asBytes(small[o.split ?? 'train']) : small[o.split ?? 'train']) } };

  test.each(modules.map((m, i) => [i, m] as const))('block %i', async (i, source) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `lk-readme-${i}-`));
    process.chdir(dir);
    try {
      const context = await runContext(tsBlocks[i]);
      // The run folder the deployment block loads, as `latentkit train --out runs/mnist-vae` would leave it.
      fs.mkdirSync('runs/mnist-vae', { recursive: true });
      await (context.vae as Vae).save('runs/mnist-vae/model.safetensors');
      const js = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true } }).outputText;
      const mod: { exports: { block?: () => Promise<void> } } = { exports: {} };
      const requireLatentkit = (name: string) => {
        if (name === 'fs') return fs; // a block may write the file it then loads (in its own temporary directory)
        if (name !== 'latentkit') throw new Error(`README block requires ${name}`);
        return library;
      };
      new Function('require', 'module', 'exports', 'console', ...CONTEXT_NAMES, js)(requireLatentkit, mod, mod.exports, quiet,
        ...CONTEXT_NAMES.map((n) => context[n]));
      const run = mod.exports.block!();
      if (/precision: 'bf16'/.test(tsBlocks[i]) && !native().info().bf16Native) {
        // Where bf16 is not native the block's first bf16 call is refused, naming the ISA (as the README says).
        await expect(run).rejects.toThrow(/no native bf16/);
        console.log(`README block ${i}: this CPU has no native bf16 (oneDNN ISA ${native().info().isa}); checked that it is refused`);
      } else {
        await run;
      }
    } finally {
      process.chdir(cwd);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120000);

  test('the blocks printed what they log', () => {
    expect(logs.length).toBeGreaterThan(0); // the first block's progress / onEpoch callbacks ran
  });
});

test("the README's curl examples send valid JSON", () => {
  const sh = blocks('sh').join('\n');
  const payloads = [...sh.matchAll(/-d '([^']*)'/g)].map((m) => m[1]);
  expect(payloads.length).toBeGreaterThan(0);
  for (const p of payloads) expect(() => JSON.parse(p)).not.toThrow();
});
