// models/architecture.ts — networks as data. The layer specs users write (`{ dense: 256 }`, `{ conv: { channels,
// kernel, stride, padding } }`, `{ convTranspose: { …, outputPadding } }`, `{ activation: 'relu' }`,
// `{ reshape: [64, 7, 7] }`, `'flatten'`), the presets (an MLP from `hidden`; 'conv' for square images), and their
// resolution into named layers with input and output shapes — checked to chain, each error naming the layer by
// side, index and kind. The same resolved layers build the native model (nativeLayers) and the ONNX graphs.
// Shapes are per row: [n] for a vector, [channels, height, width] for an image (NCHW; a row of an image is its
// C·H·W values in that order, so a reshape moves no data).
import { describeValue, fail, failReceived } from '../validate';

export const ACTIVATIONS = ['identity', 'relu', 'tanh', 'leaky_relu', 'softplus'] as const;
export type Activation = (typeof ACTIVATIONS)[number];

export interface ConvOptions {
  channels: number;
  kernel: number;
  stride?: number;
  padding?: number;
}
export interface ConvTransposeOptions extends ConvOptions {
  outputPadding?: number;
}
export type LayerSpec =
  | { dense: number }
  | { conv: ConvOptions }
  | { convTranspose: ConvTransposeOptions }
  | { activation: Activation }
  | { reshape: number[] }
  | 'flatten';

export type LayerKind = 'dense' | 'conv' | 'convTranspose' | 'reshape';

/** One layer after resolution: its tensor prefix, what it computes and the shapes it maps between. */
export interface Layer {
  name: string;
  kind: LayerKind;
  units: number; // dense: width; convolutions: output channels; reshape: 0
  kernel: number;
  stride: number;
  padding: number;
  outputPadding: number;
  activation: Activation;
  input: number[];
  output: number[];
}

/** The encoder's layers before its (dense) mean / log-variance heads, and the decoder's, ending with its output head. */
export interface Network {
  encoder: Layer[];
  decoder: Layer[];
}

export const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
const isImage = (shape: readonly number[]) => shape.length === 3;
const show = (shape: readonly number[]) => `[${shape.join(', ')}]`;
const INT_MAX = 1 << 24;

function int(name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    fail(name, `an integer in [${min}, ${max}]`, v, typeof v === 'number' ? 'range' : 'type');
  return v as number;
}

/** [n] or [channels, height, width] of positive integers. */
export function shapeOption(name: string, v: unknown): number[] {
  if (!Array.isArray(v) || (v.length !== 1 && v.length !== 3)) fail(name, '[n] or [channels, height, width]', v, 'type');
  return (v as unknown[]).map((d, i) => int(`${name}[${i}]`, d, 1, INT_MAX));
}

function kindOf(spec: unknown): string {
  if (spec === 'flatten') return 'flatten';
  if (spec !== null && typeof spec === 'object' && !Array.isArray(spec)) {
    const keys = Object.keys(spec);
    if (keys.length === 1) return keys[0];
  }
  return '?';
}

/**
 * Resolves one side's specs on rows of `input` shape. Names are `${side}.${index}` (the spec's index, as PyTorch's
 * nn.Sequential names its children); an activation entry sets the activation of the layer before it. `conditionDim`
 * columns join the input of the first dense layer. Every error names `${side}[index] (kind)` and the shapes.
 */
export function resolveLayers(side: 'encoder' | 'decoder', specs: unknown, input: number[], conditionDim = 0): { layers: Layer[]; joined: boolean } {
  if (!Array.isArray(specs)) fail(side, 'an array of layer specs', specs, 'type');
  if ((specs as unknown[]).length > 256) fail(side, 'at most 256 layers', specs);
  const layers: Layer[] = [];
  let shape = input;
  let joined = conditionDim === 0;
  (specs as unknown[]).forEach((spec, i) => {
    const kind = kindOf(spec);
    const where = `${side}[${i}] (${kind})`;
    const bad = (why: string): never => failReceived(where, why, `an input of shape ${show(shape)}`);
    const body = kind === 'flatten' ? undefined : (spec as Record<string, unknown>)[kind];
    const base = { name: `${side}.${i}`, units: 0, kernel: 1, stride: 1, padding: 0, outputPadding: 0, activation: 'identity' as Activation, input: shape };
    switch (kind) {
      case 'dense': {
        const units = int(`${where}.dense`, body, 1, INT_MAX);
        const inWidth = numel(shape) + (joined ? 0 : conditionDim);
        joined = true;
        layers.push({ ...base, kind: 'dense', units, input: [inWidth], output: [units] });
        break;
      }
      case 'conv':
      case 'convTranspose': {
        if (body === null || typeof body !== 'object' || Array.isArray(body)) bad('an object { channels, kernel, stride?, padding? }');
        const o = body as Record<string, unknown>;
        const keys = kind === 'conv' ? ['channels', 'kernel', 'stride', 'padding'] : ['channels', 'kernel', 'stride', 'padding', 'outputPadding'];
        for (const k of Object.keys(o)) if (!keys.includes(k)) fail(`${where}.${k}`, `no such option (known: ${keys.join(', ')})`, o[k], 'type');
        const channels = int(`${where}.channels`, o.channels, 1, 65536);
        const kernel = int(`${where}.kernel`, o.kernel, 1, 64);
        const stride = int(`${where}.stride`, o.stride ?? 1, 1, 64);
        const padding = int(`${where}.padding`, o.padding ?? 0, 0, kernel - 1);
        const outputPadding = kind === 'convTranspose' ? int(`${where}.outputPadding`, o.outputPadding ?? 0, 0, stride - 1) : 0;
        if (!isImage(shape)) bad('an image input [channels, height, width] (reshape a vector first)');
        const [c, h, w] = shape;
        let out: number[];
        if (kind === 'conv') {
          if (h + 2 * padding < kernel || w + 2 * padding < kernel) bad(`a kernel (${kernel}) no larger than the padded input (${h + 2 * padding} × ${w + 2 * padding})`);
          out = [channels, Math.floor((h + 2 * padding - kernel) / stride) + 1, Math.floor((w + 2 * padding - kernel) / stride) + 1];
        } else {
          out = [channels, (h - 1) * stride - 2 * padding + kernel + outputPadding, (w - 1) * stride - 2 * padding + kernel + outputPadding];
          if (out[1] < 1 || out[2] < 1) bad('sizes that give a non-empty output');
        }
        if (c > 65536 || h > 65536 || w > 65536) bad('sizes of at most 65536');
        layers.push({ ...base, kind, units: channels, kernel, stride, padding, outputPadding, output: out });
        break;
      }
      case 'activation': {
        const prev = layers[layers.length - 1];
        if (!prev || prev.kind === 'reshape' || prev.activation !== 'identity' || prev.name !== `${side}.${lastParamIndex(specs as unknown[], i)}`)
          bad('an activation directly after a dense or convolution layer');
        if (typeof body !== 'string' || !(ACTIVATIONS as readonly string[]).includes(body))
          fail(`${where}.activation`, `one of ${ACTIVATIONS.map((a) => JSON.stringify(a)).join(', ')}`, body, typeof body === 'string' ? 'range' : 'type');
        prev.activation = body as Activation;
        return; // the shape is unchanged
      }
      case 'reshape':
      case 'flatten': {
        const target = kind === 'flatten' ? [numel(shape)] : shapeOption(`${where}.reshape`, body);
        if (numel(target) !== numel(shape)) failReceived(where, `a shape holding the ${numel(shape)} values of its input ${show(shape)}`, `${show(target)} (${numel(target)} values)`);
        layers.push({ ...base, kind: 'reshape', output: target });
        break;
      }
      default:
        failReceived(`${side}[${i}]`, "a layer spec: { dense }, { conv }, { convTranspose }, { activation }, { reshape } or 'flatten'", kind === '?' ? describeValue(spec) : `{ ${kind}: … }`, 'type');
    }
    shape = layers[layers.length - 1].output;
  });
  return { layers, joined };
}

/** The index of the last non-activation spec before position i (the layer an activation at i applies to). */
function lastParamIndex(specs: unknown[], i: number): number {
  let j = i - 1;
  while (j >= 0 && kindOf(specs[j]) === 'activation') j--;
  return j;
}

/** An MLP: encoder hidden widths, the decoder mirroring them. */
export function mlpSpecs(hidden: number[], activation: Activation): { encoder: LayerSpec[]; decoder: LayerSpec[] } {
  const side = (widths: number[]) => widths.flatMap((w): LayerSpec[] => (activation === 'identity' ? [{ dense: w }] : [{ dense: w }, { activation }]));
  return { encoder: side(hidden), decoder: side([...hidden].reverse()) };
}

/**
 * The 'conv' preset for images [C, H, W] with H and W divisible by 4 (the DCGAN-style VAE of PyTorch-VAE and
 * Burgess et al. 2018, at two strided stages): conv 32 and 64 channels (kernel 4, stride 2, padding 1), dense 256;
 * the decoder mirrors it with transposed convolutions back to C channels.
 */
export function convSpecs(inputShape: number[], activation: Activation): { encoder: LayerSpec[]; decoder: LayerSpec[] } {
  if (!isImage(inputShape) || inputShape[1] % 4 !== 0 || inputShape[2] % 4 !== 0)
    fail('inputShape', "an image [channels, height, width] with height and width divisible by 4 (architecture: 'conv'; give encoder and decoder specs for other sizes)", inputShape);
  const [c, h, w] = inputShape;
  const act: LayerSpec[] = activation === 'identity' ? [] : [{ activation }];
  const down = (channels: number): LayerSpec[] => [{ conv: { channels, kernel: 4, stride: 2, padding: 1 } }, ...act];
  const up = (channels: number, last = false): LayerSpec[] => [{ convTranspose: { channels, kernel: 4, stride: 2, padding: 1 } }, ...(last ? [] : act)];
  return {
    encoder: [...down(32), ...down(64), 'flatten', { dense: 256 }, ...act],
    decoder: [{ dense: 256 }, ...act, { dense: 64 * (h / 4) * (w / 4) }, ...act, { reshape: [64, h / 4, w / 4] }, ...up(32), ...up(c, true)],
  };
}

/**
 * The resolved network of a model: the encoder as specified (the mean / log-variance heads are added natively), the
 * decoder ending with its output head 'decoder.out' — the last layer when it already gives the input's shape with no
 * activation, else a dense layer to inputDim appended (with `hidden` the MLP's familiar "decoder.out").
 */
export function resolveNetwork(o: { inputShape: number[]; latentDim: number; conditionDim: number; encoder: LayerSpec[]; decoder: LayerSpec[]; mlp: boolean }): Network {
  const rename = (layers: Layer[], side: string) => (o.mlp ? renumber(layers, side) : layers);
  const encoder = rename(resolveLayers('encoder', o.encoder, o.inputShape, o.conditionDim).layers, 'encoder'); // its dense heads can take a condition
  const resolved = resolveLayers('decoder', o.decoder, [o.latentDim], o.conditionDim);
  const decoder = rename(resolved.layers, 'decoder');
  const D = numel(o.inputShape);
  const last = decoder[decoder.length - 1];
  const produced = last ? last.output : [o.latentDim];
  if (last && last.kind !== 'reshape' && last.activation === 'identity' && numel(produced) === D && (!isImage(produced) || !isImage(o.inputShape) || show(produced) === show(o.inputShape))) {
    last.name = 'decoder.out';
    if (!resolved.joined)
      fail('decoder', "a dense layer (a conditional model's condition joins the first dense layer of each side)", o.decoder, 'type');
  } else if (isImage(produced)) {
    failReceived(`decoder[${(o.decoder as unknown[]).length - 1}]`, `a last layer that gives the input's shape ${show(o.inputShape)} with no activation (the output head)`, `a layer giving ${show(produced)}${last.activation !== 'identity' ? ` with activation '${last.activation}'` : ''}`);
  } else {
    const width = numel(produced) + (resolved.joined ? 0 : o.conditionDim);
    decoder.push({ name: 'decoder.out', kind: 'dense', units: D, kernel: 1, stride: 1, padding: 0, outputPadding: 0, activation: 'identity', input: [width], output: [D] });
  }
  return { encoder, decoder };
}

/** An MLP's layers numbered 0, 1, … (its checkpoints' names: encoder.0, encoder.1), not by spec position. */
function renumber(layers: Layer[], side: string): Layer[] {
  layers.forEach((l, i) => (l.name = `${side}.${i}`));
  return layers;
}

/** The native constructor's view of layers (kinds and activations as strings). */
export function nativeLayers(layers: Layer[]): Array<Record<string, unknown>> {
  return layers.map((l) => ({ name: l.name, kind: l.kind, units: l.units, kernel: l.kernel, stride: l.stride, padding: l.padding, outputPadding: l.outputPadding, activation: l.activation, ...(l.kind === 'reshape' ? { shape: l.output } : {}) }));
}
