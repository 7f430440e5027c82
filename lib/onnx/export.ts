// onnx/export.ts — ONNX graphs of a trained Vae, built from its resolved network (models/architecture.ts: the same
// layers, names and shapes the native model was built from): decoder z [batch, latentDim] → probs & logits
// (Bernoulli); mean (+ logVar (Gaussian) / logScale (Laplace): [1] or [inputDim] when learned, [batch, inputDim]
// when decoded); for counts mean (at library size 1) and logMean, + logTheta [inputDim] (NB, ZINB) and
// dropoutLogits (ZINB); encoder x [batch, inputDim] → mean, logVar [batch, latentDim]. Data rows stay flat at the
// graph's edges (an image row is its C·H·W values, NCHW); inside, a Reshape gives convolutions their
// [batch, C, H, W] and a Flatten returns to [batch, n]. A conditional VAE's graphs take a second input condition
// [batch, conditionDim], concatenated to the input of the first dense layer. A dense layer is one Gemm (weights
// stored (in, out), so transB = 0), a convolution one Conv / ConvTranspose (weights in their ONNX layouts), each
// followed by its activation. IR 8, opset 17 (accepted by onnxruntime 1.30 and by Debian's onnx checker); no
// Random* operators: sampling stays outside the graph.
import { onnx } from 'onnx-proto';
import { LatentkitError } from '../errors';
import type { NamedTensor } from '../io/safetensors';
import type { Layer, Network } from '../models/architecture';
import { DecoderGraph, LIKELIHOOD } from '../models/vae/likelihoods';
import type { ResolvedVaeOptions } from '../models/vae';
import { VERSION } from '../version';

export const ONNX_IR_VERSION = 8;
export const ONNX_OPSET = 17;

const ACTIVATION_OPS: Record<string, { op: string; attrs?: onnx.IAttributeProto[] } | null> = {
  identity: null,
  relu: { op: 'Relu' },
  tanh: { op: 'Tanh' },
  leaky_relu: { op: 'LeakyRelu', attrs: [{ name: 'alpha', f: 0.01, type: onnx.AttributeProto.AttributeType.FLOAT }] },
  softplus: { op: 'Softplus' },
};

class GraphBuilder {
  readonly nodes: onnx.INodeProto[] = [];
  readonly initializers: onnx.ITensorProto[] = [];
  #n = 0;
  constructor(private readonly tensors: Map<string, NamedTensor>) {}

  fresh(prefix: string): string {
    return `${prefix}_${this.#n++}`;
  }
  initializer(name: string): string {
    const t = this.tensors.get(name);
    if (!t) throw new LatentkitError('LATENTKIT_INVALID_ARGUMENT', `ONNX export: the model has no tensor ${name}`);
    this.initializers.push({
      name, dims: t.shape, dataType: onnx.TensorProto.DataType.FLOAT,
      rawData: new Uint8Array(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength)),
    });
    return name;
  }
  node(op: string, inputs: string[], output: string, attrs: onnx.IAttributeProto[] = []): string {
    this.nodes.push({ opType: op, input: inputs, output: [output], name: this.fresh(op), attribute: attrs });
    return output;
  }
  ints(name: string, values: number[]): onnx.IAttributeProto {
    return { name, ints: values, type: onnx.AttributeProto.AttributeType.INTS };
  }
  /** A [batch, …] value as [batch, n]. */
  flat(v: Value, out?: string): Value {
    if (v.rank === 2 && !out) return v;
    return { name: this.node('Flatten', [v.name], out ?? this.fresh('flat'), [{ name: 'axis', i: 1, type: onnx.AttributeProto.AttributeType.INT }]), rank: 2 };
  }
  /** A [batch, n] value as [batch, …shape]. */
  reshape(v: Value, shape: number[]): Value {
    const dims = this.fresh('shape');
    this.initializers.push({ name: dims, dims: [shape.length + 1], dataType: onnx.TensorProto.DataType.INT64, int64Data: [-1, ...shape] });
    return { name: this.node('Reshape', [v.name, dims], this.fresh('reshaped')), rank: shape.length === 3 ? 4 : 2 };
  }
  /**
   * One layer on v; a conditional model's condition joins the first dense layer's input (`condition`, consumed).
   * Returns the output (named `out` when given, flattened to [batch, n] then).
   */
  layer(v: Value, l: Layer, join: { condition?: string }, out?: string): Value {
    if (l.kind === 'reshape') return l.output.length === 3 ? this.reshape(v, l.output) : this.flat(v);
    const act = ACTIVATION_OPS[l.activation];
    if (act === undefined) throw new LatentkitError('LATENTKIT_INVALID_ARGUMENT', `ONNX export: activation ${l.activation} cannot be expressed`);
    const params = [this.initializer(`${l.name}.weight`), this.initializer(`${l.name}.bias`)];
    let y: Value;
    if (l.kind === 'dense') {
      let x = this.flat(v).name;
      if (join.condition) {
        x = this.node('Concat', [x, join.condition], this.fresh('with_condition'), [{ name: 'axis', i: 1, type: onnx.AttributeProto.AttributeType.INT }]);
        join.condition = undefined;
      }
      const direct = act === null && out !== undefined;
      y = { name: this.node('Gemm', [x, ...params], direct ? out : this.fresh(`${l.name}.pre`)), rank: 2 };
      if (direct) return y;
    } else {
      const x = v.rank === 4 ? v : this.reshape(v, l.input);
      const attrs = [this.ints('kernel_shape', [l.kernel, l.kernel]), this.ints('strides', [l.stride, l.stride]), this.ints('pads', [l.padding, l.padding, l.padding, l.padding])];
      if (l.kind === 'convTranspose') attrs.push(this.ints('output_padding', [l.outputPadding, l.outputPadding]));
      y = { name: this.node(l.kind === 'conv' ? 'Conv' : 'ConvTranspose', [x.name, ...params], this.fresh(`${l.name}.pre`), attrs), rank: 4 };
    }
    if (act !== null) y = { name: this.node(act.op, [y.name], this.fresh(l.name), act.attrs ?? []), rank: y.rank };
    return out === undefined ? y : this.flat(y, out);
  }
  /** Every layer of a network but the last, from v; returns the last layer's input. */
  trunk(v: Value, layers: Layer[], join: { condition?: string }): Value {
    for (const l of layers.slice(0, -1)) v = this.layer(v, l, join);
    return v;
  }
}

type Value = { name: string; rank: 2 | 4 };

function valueInfo(name: string, dims: Array<number | 'batch'>): onnx.IValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: dims.map((d) => (d === 'batch' ? { dimParam: 'batch' } : { dimValue: d })) } } },
  };
}

function model(graph: onnx.IGraphProto, options: ResolvedVaeOptions, part: string): Uint8Array {
  const metadata: Record<string, string> = {
    'latentkit.version': VERSION,
    'latentkit.part': part,
    'latentkit.options': JSON.stringify(options),
    'latentkit.inputScaling': 'identity: x as given to fit (latentkit MNIST loaders give pixel/255 in [0, 1])',
  };
  const proto: onnx.IModelProto = {
    irVersion: ONNX_IR_VERSION,
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    producerName: 'latentkit',
    producerVersion: VERSION,
    graph,
    metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
  };
  return onnx.ModelProto.encode(onnx.ModelProto.create(proto)).finish();
}

/** The graph inputs: the data input, plus 'condition' [batch, conditionDim] for a conditional VAE. */
function inputs(name: string, width: number, options: ResolvedVaeOptions): { first: Value; join: { condition?: string }; info: onnx.IValueInfoProto[] } {
  const info = [valueInfo(name, ['batch', width])];
  if (options.conditionDim > 0) info.push(valueInfo('condition', ['batch', options.conditionDim]));
  return { first: { name, rank: 2 }, join: options.conditionDim > 0 ? { condition: 'condition' } : {}, info };
}

export function decoderOnnx(options: ResolvedVaeOptions, network: Network, tensors: NamedTensor[]): Uint8Array {
  const g = new GraphBuilder(new Map(tensors.map((t) => [t.name, t])));
  const input = inputs('z', options.latentDim, options);
  const head = network.decoder[network.decoder.length - 1];
  const h = g.trunk(input.first, network.decoder, input.join);
  // The twin heads read what the output head reads; a join still pending happens at the head (an MLP without hidden layers).
  const outputs: onnx.IValueInfoProto[] = [];
  const D = options.inputDim;
  const graph: DecoderGraph = {
    head: (out) => void g.layer(h, head, input.join, out),
    twin: (name, out) => void g.layer(h, { ...head, name }, { ...input.join }, out),
    node: (op, ins, out) => g.node(op, ins, out),
    fresh: (prefix) => g.fresh(prefix),
    scalar: (v) => {
      const name = g.fresh('const');
      g.initializers.push({ name, dims: [], dataType: onnx.TensorProto.DataType.FLOAT, floatData: [v] });
      return name;
    },
    learned: (tensor, out) => {
      const t = tensors.find((x) => x.name === tensor)!;
      g.node('Identity', [g.initializer(tensor)], out);
      outputs.push(valueInfo(out, [t.shape[0]]));
    },
    output: (name) => void outputs.push(valueInfo(name, ['batch', D])),
  };
  LIKELIHOOD[options.likelihood].onnx(graph, options);
  return model({ name: 'latentkit_decoder', node: g.nodes, initializer: g.initializers,
    input: input.info, output: outputs }, options, 'decoder');
}

export function encoderOnnx(options: ResolvedVaeOptions, network: Network, tensors: NamedTensor[]): Uint8Array {
  const g = new GraphBuilder(new Map(tensors.map((t) => [t.name, t])));
  const input = inputs('x', options.inputDim, options);
  let h = input.first;
  for (const l of network.encoder) h = g.layer(h, l, input.join);
  const headOf = (name: string): Layer => ({ name, kind: 'dense', units: options.latentDim, kernel: 1, stride: 1, padding: 0, outputPadding: 0, activation: 'identity', input: [], output: [options.latentDim] });
  g.layer(h, headOf('encoder.log_var'), { ...input.join }, 'logVar');
  g.layer(h, headOf('encoder.mean'), input.join, 'mean');
  return model({ name: 'latentkit_encoder', node: g.nodes, initializer: g.initializers,
    input: input.info,
    output: [valueInfo('mean', ['batch', options.latentDim]), valueInfo('logVar', ['batch', options.latentDim])] }, options, 'encoder');
}
