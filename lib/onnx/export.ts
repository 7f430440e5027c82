// onnx/export.ts — ONNX graphs of a trained Vae: decoder z [batch, latentDim] → probs & logits (Bernoulli); mean
// (+ logVar (Gaussian) / logScale (Laplace): [1] or [inputDim] when learned, [batch, inputDim] when decoded); for
// counts mean (at library size 1) and logMean, + logTheta [inputDim] (NB, ZINB) and dropoutLogits (ZINB);
// encoder x [batch, inputDim] → mean, logVar [batch, latentDim]. A conditional VAE's graphs take a second input
// condition [batch, conditionDim], concatenated to z / x before the first layer. Each dense layer
// is one Gemm (weights stored (in, out), so transB = 0) followed by its activation. IR 8, opset 17 (accepted by
// onnxruntime 1.30 and by Debian's onnx checker); no Random* operators: sampling stays outside the graph.
import { onnx } from 'onnx-proto';
import { LatentkitError } from '../errors';
import type { NamedTensor } from '../io/safetensors';
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
  /** Gemm(x, W, b) then the activation; returns the output name (`out` when given). */
  dense(x: string, prefix: string, activation: string, out?: string): string {
    const act = ACTIVATION_OPS[activation];
    if (act === undefined) throw new LatentkitError('LATENTKIT_INVALID_ARGUMENT', `ONNX export: activation ${activation} cannot be expressed`);
    const pre = act === null && out ? out : this.fresh(`${prefix}.pre`);
    this.node('Gemm', [x, this.initializer(`${prefix}.weight`), this.initializer(`${prefix}.bias`)], pre);
    if (act === null) return pre;
    return this.node(act.op, [pre], out ?? this.fresh(prefix), act.attrs ?? []);
  }
}

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

/** The graph inputs: the data input, plus 'condition' [batch, conditionDim] concatenated to it for a conditional VAE. */
function inputs(g: GraphBuilder, name: string, width: number, options: ResolvedVaeOptions): { first: string; info: onnx.IValueInfoProto[] } {
  const info = [valueInfo(name, ['batch', width])];
  if (options.conditionDim === 0) return { first: name, info };
  info.push(valueInfo('condition', ['batch', options.conditionDim]));
  const first = g.node('Concat', [name, 'condition'], g.fresh(`${name}_condition`), [{ name: 'axis', i: 1, type: onnx.AttributeProto.AttributeType.INT }]);
  return { first, info };
}

export function decoderOnnx(options: ResolvedVaeOptions, tensors: NamedTensor[]): Uint8Array {
  const g = new GraphBuilder(new Map(tensors.map((t) => [t.name, t])));
  const input = inputs(g, 'z', options.latentDim, options);
  let h = input.first;
  options.hidden.forEach((_, i) => (h = g.dense(h, `decoder.${i}`, options.activation)));
  const outputs: onnx.IValueInfoProto[] = [];
  const D = options.inputDim;
  const scalar = (v: number) => {
    const name = g.fresh('const');
    g.initializers.push({ name, dims: [], dataType: onnx.TensorProto.DataType.FLOAT, floatData: [v] });
    return name;
  };
  const learned = (tensor: string, output: string) => {
    const t = tensors.find((x) => x.name === tensor)!;
    g.node('Identity', [g.initializer(tensor)], output);
    outputs.push(valueInfo(output, [t.shape[0]]));
  };
  if (options.likelihood === 'bernoulli') {
    g.dense(h, 'decoder.out', 'identity', 'logits');
    g.node('Sigmoid', ['logits'], 'probs');
    outputs.push(valueInfo('probs', ['batch', D]), valueInfo('logits', ['batch', D]));
  } else if (options.likelihood === 'gaussian' || options.likelihood === 'laplace') {
    g.dense(h, 'decoder.out', 'identity', 'mean');
    outputs.push(valueInfo('mean', ['batch', D]));
    const scaleName = options.likelihood === 'gaussian' ? 'logVar' : 'logScale';
    if (options.sigma === 'decoder') {
      // floored log-scale: log(exp(raw) + exp(floor)) = softplus(raw − floor) + floor (native/core/likelihood.h)
      const floor = (options.likelihood === 'gaussian' ? 2 : 1) * Math.log(options.minSigma as number);
      const raw = g.dense(h, 'decoder.scale', 'identity');
      const shifted = g.node('Sub', [raw, scalar(floor)], g.fresh('shifted'));
      g.node('Add', [g.node('Softplus', [shifted], g.fresh('softplus')), scalar(floor)], scaleName);
      outputs.push(valueInfo(scaleName, ['batch', D]));
    } else if (typeof options.sigma !== 'number') learned(options.likelihood === 'gaussian' ? 'decoder.log_var' : 'decoder.log_scale', scaleName);
  } else {
    g.dense(h, 'decoder.out', 'identity', 'logMean');
    const rate = g.node('Exp', ['logMean'], g.fresh('rate'));
    if (options.likelihood === 'zinb') {
      g.dense(h, 'decoder.dropout', 'identity', 'dropoutLogits');
      const keep = g.node('Sigmoid', [g.node('Neg', ['dropoutLogits'], g.fresh('neg'))], g.fresh('keep'));
      g.node('Mul', [rate, keep], 'mean');
    } else g.node('Identity', [rate], 'mean');
    outputs.push(valueInfo('mean', ['batch', D]), valueInfo('logMean', ['batch', D]));
    if (options.likelihood === 'zinb') outputs.push(valueInfo('dropoutLogits', ['batch', D]));
    if (options.likelihood !== 'poisson') learned('decoder.log_theta', 'logTheta');
  }
  return model({ name: 'latentkit_decoder', node: g.nodes, initializer: g.initializers,
    input: input.info, output: outputs }, options, 'decoder');
}

export function encoderOnnx(options: ResolvedVaeOptions, tensors: NamedTensor[]): Uint8Array {
  const g = new GraphBuilder(new Map(tensors.map((t) => [t.name, t])));
  const input = inputs(g, 'x', options.inputDim, options);
  let h = input.first;
  options.hidden.forEach((_, i) => (h = g.dense(h, `encoder.${i}`, options.activation)));
  g.dense(h, 'encoder.mean', 'identity', 'mean');
  g.dense(h, 'encoder.log_var', 'identity', 'logVar');
  return model({ name: 'latentkit_encoder', node: g.nodes, initializer: g.initializers,
    input: input.info,
    output: [valueInfo('mean', ['batch', options.latentDim]), valueInfo('logVar', ['batch', options.latentDim])] }, options, 'encoder');
}
