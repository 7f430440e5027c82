// onnx/runtime.ts — a small wrapper over onnxruntime-node for latentkit's exported graphs: one reused session per
// file, thread counts as an option, inputs validated against the graph's width before running. The file is first
// decoded with onnx-proto, so random bytes, truncated files and foreign graphs get a clear error.
import * as fs from 'fs';
import { threadsOption } from '../threads';
import { onnx } from 'onnx-proto';
import type { InferenceSession as OrtSession } from 'onnxruntime-node';
import { LatentkitError } from '../errors';
import { Matrix, MatrixLike, toMatrix } from '../matrix';
import { checkLikelihoodSupport, Likelihood } from '../models/vae';
import { priorSample } from '../rng';
import { integer, knownKeys, plainObject } from '../validate';

interface LoadedGraph {
  session: OrtSession;
  inputWidth: number;
  conditionWidth: number; // a conditional VAE's second input 'condition' [batch, conditionDim]; 0 when absent
  outputWidth: number; // of the first output (probs / mean)
  outputs: string[];
  metadata: Record<string, string>;
}

async function loadGraph(file: string, part: 'decoder' | 'encoder', options: { threads?: number } = {}): Promise<LoadedGraph> {
  const o = plainObject('options', options);
  knownKeys('options', o, ['threads']);
  const threads = threadsOption(o.threads);
  let bytes: Buffer;
  try {
    bytes = await fs.promises.readFile(file);
  } catch (e) {
    throw new LatentkitError('LATENTKIT_BAD_DATA', `cannot read ONNX model ${file}: ${(e as Error).message}`, { cause: e });
  }
  let proto: onnx.ModelProto;
  try {
    proto = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new LatentkitError('LATENTKIT_BAD_DATA', `${file} is not an ONNX model (${(e as Error).message})`, { cause: e });
  }
  const metadata = Object.fromEntries((proto.metadataProps ?? []).map((p) => [p.key ?? '', p.value ?? '']));
  const input = proto.graph?.input?.[0];
  const width = Number(input?.type?.tensorType?.shape?.dim?.[1]?.dimValue ?? NaN);
  if (!proto.graph || metadata['latentkit.part'] !== part || !Number.isInteger(width))
    throw new LatentkitError('LATENTKIT_BAD_DATA', `${file} is not a latentkit ${part} graph (its metadata says part=${metadata['latentkit.part'] ?? 'none'})`);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ort = require('onnxruntime-node') as typeof import('onnxruntime-node');
  let session: OrtSession;
  try {
    session = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], intraOpNumThreads: threads, interOpNumThreads: 1 });
  } catch (e) {
    throw new LatentkitError('LATENTKIT_BAD_DATA', `onnxruntime could not load ${file}: ${(e as Error).message}`, { cause: e });
  }
  const outputWidth = Number(proto.graph.output?.[0]?.type?.tensorType?.shape?.dim?.[1]?.dimValue ?? NaN);
  const conditionWidth = Number(proto.graph.input?.[1]?.type?.tensorType?.shape?.dim?.[1]?.dimValue ?? 0);
  return { session, inputWidth: width, conditionWidth, outputWidth, outputs: proto.graph.output?.map((v) => v.name ?? '') ?? [], metadata };
}

/** The condition feed: required (x.rows rows, or one row for all) when the graph has a condition input, else refused. */
function conditionFor(g: LoadedGraph, condition: MatrixLike | undefined, rows: number): Matrix | undefined {
  if (g.conditionWidth === 0) {
    if (condition !== undefined) throw new LatentkitError('LATENTKIT_INVALID_ARGUMENT', 'Expected no condition for condition: this graph has no condition input');
    return undefined;
  }
  if (condition === undefined)
    throw new LatentkitError('LATENTKIT_INVALID_ARGUMENT', `Expected a condition of ${g.conditionWidth} columns for condition: this graph is a conditional VAE's`);
  const c = toMatrix('condition', condition, { cols: g.conditionWidth });
  if (c.rows === rows) return c;
  if (c.rows !== 1) throw new LatentkitError('LATENTKIT_INVALID_ARGUMENT', `Expected ${rows} rows or 1 row for condition but received ${c.rows} rows`);
  const data = new Float32Array(rows * c.cols);
  for (let r = 0; r < rows; r++) data.set(c.data, r * c.cols);
  return { data, rows, cols: c.cols };
}

async function run(g: LoadedGraph, inputName: string, x: Matrix, condition?: Matrix): Promise<Record<string, Matrix>> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ort = require('onnxruntime-node') as typeof import('onnxruntime-node');
  const feeds: Record<string, InstanceType<typeof ort.Tensor>> = { [inputName]: new ort.Tensor('float32', x.data, [x.rows, x.cols]) };
  if (condition) feeds.condition = new ort.Tensor('float32', condition.data, [condition.rows, condition.cols]);
  const out = await g.session.run(feeds);
  const result: Record<string, Matrix> = {};
  for (const name of g.outputs) {
    const t = out[name];
    const dims = t.dims.map(Number);
    result[name] = { data: t.data as Float32Array, rows: dims.length === 2 ? dims[0] : 1, cols: dims[dims.length - 1] };
  }
  return result;
}

export class OnnxDecoder {
  private constructor(private readonly g: LoadedGraph) {}
  static async load(file: string, options: { threads?: number } = {}): Promise<OnnxDecoder> {
    return new OnnxDecoder(await loadGraph(file, 'decoder', options));
  }
  get latentDim(): number {
    return this.g.inputWidth;
  }
  /** Values per decoded row (the model's inputDim). */
  get outputDim(): number {
    return this.g.outputWidth;
  }
  get metadata(): Record<string, string> {
    return { ...this.g.metadata };
  }
  /** A conditional decoder's condition width (0 for an unconditional one). */
  get conditionDim(): number {
    return this.g.conditionWidth;
  }
  /** The graph's outputs for each row of z (see onnx/export.ts); a conditional graph also takes `condition`. */
  async run(z: MatrixLike, condition?: MatrixLike): Promise<Record<string, Matrix>> {
    const m = toMatrix('z', z, { cols: this.g.inputWidth });
    return run(this.g, 'z', m, conditionFor(this.g, condition, m.rows));
  }
  /** The decoder's mean: probabilities for Bernoulli, the mean otherwise (counts: at library size 1). */
  async decode(z: MatrixLike, condition?: MatrixLike): Promise<Matrix> {
    const r = await this.run(z, condition);
    return r.probs ?? r.mean;
  }
  /**
   * n decoded means with z ~ N(0, I) drawn from `seed` (the same z as Vae.sample(n, { seed }) for the normal prior;
   * the graph does not hold a learned mixture prior).
   */
  async sample(n: number, options: { seed?: number; condition?: MatrixLike } = {}): Promise<Matrix> {
    integer('n', n, 1, 1 << 20);
    const o = plainObject('options', options);
    knownKeys('options', o, ['seed', 'condition']);
    const seed = integer('seed', o.seed ?? 0, 0);
    return this.decode(priorSample(n, this.g.inputWidth, seed), o.condition as MatrixLike | undefined);
  }
}

export class OnnxEncoder {
  private constructor(private readonly g: LoadedGraph) {}
  static async load(file: string, options: { threads?: number } = {}): Promise<OnnxEncoder> {
    return new OnnxEncoder(await loadGraph(file, 'encoder', options));
  }
  get inputDim(): number {
    return this.g.inputWidth;
  }
  get latentDim(): number {
    return this.g.outputWidth;
  }
  /** The exported model's likelihood (from the graph's latentkit.options metadata), or undefined for a foreign graph. */
  get likelihood(): Likelihood | undefined {
    try {
      return (JSON.parse(this.g.metadata['latentkit.options'] ?? 'null') as { likelihood?: Likelihood } | null)?.likelihood;
    } catch {
      return undefined;
    }
  }
  /** q(z | x) of each row; x is checked against the model's likelihood as Vae.encode checks it. */
  async encode(x: MatrixLike, condition?: MatrixLike): Promise<{ mean: Matrix; logVar: Matrix }> {
    const m = toMatrix('x', x, { cols: this.g.inputWidth });
    const likelihood = this.likelihood;
    if (likelihood) checkLikelihoodSupport('x', m, likelihood);
    const r = await run(this.g, 'x', m, conditionFor(this.g, condition, m.rows));
    return { mean: r.mean, logVar: r.logVar };
  }
}
