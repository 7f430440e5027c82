// data/h5ad.ts — AnnData .h5ad files (anndata's on-disk format, encoding 0.2: what anndata ≥ 0.8 and scanpy write)
// read through jsfive, a pure-JavaScript HDF5 reader from NIST's neutron-scattering group (the authors of h5wasm;
// h5wasm itself ships only as an ES module, which this CommonJS package and its jest tests cannot load without
// experimental flags). The matrix is X or layers[name] (cells × genes), dense (float32 / float64 / integers) or
// CSR (encoding-type csr_matrix: data, indices, indptr, attribute shape) — a CSR one stays sparse (a CsrMatrix);
// obs columns are categorical (codes + categories) or numeric. Every missing key, unsupported encoding or
// non-numeric column is an error naming it. The file is read whole into memory (jsfive reads an ArrayBuffer).
import { LatentkitError } from '../errors';
import { Matrix } from '../matrix';
import { readDataFile } from './file';
import { LabelColumn, labelCodes } from './labels';
import { CsrMatrix } from './rows';

// jsfive's CommonJS build has no type declarations: the part of its API used here.
interface H5Node {
  attrs: Record<string, unknown>;
  keys?: string[];
  shape?: number[];
  dtype?: string | unknown;
  value?: ArrayLike<unknown>;
  get?(name: string): H5Node;
}
// eslint-disable-next-line @typescript-eslint/no-var-requires
const jsfive = require('jsfive') as { File: new (buffer: ArrayBuffer, name: string) => H5Node };

/** An obs column: a categorical one (codes −1 for missing) or a numeric one. */
export type ObsColumn = LabelColumn;

export interface AnnData {
  /** X, or layers[layer] */
  x: Matrix | CsrMatrix;
  obs: Record<string, ObsColumn>;
  obsNames: string[];
  varNames: string[];
}

const NUMERIC = /^[<>|]?[fiu][1248]$/;

/** Reads `file`; options.layer picks layers[layer] instead of X. */
export async function readH5ad(file: string, options: { layer?: string } = {}): Promise<AnnData> {
  const bad = (why: string): never => {
    throw new LatentkitError('LATENTKIT_BAD_DATA', `${file}: ${why}`);
  };
  const buf = await readDataFile(file);
  if (buf.length < 8 || buf.readUInt32BE(0) !== 0x89484446) bad('it is not an HDF5 file (an .h5ad is one)');
  let root: H5Node;
  try {
    root = new jsfive.File(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer, file);
  } catch (e) {
    return bad(`it is not a readable HDF5 file (${String((e as Error).message ?? e)})`);
  }
  const child = (node: H5Node, name: string, where: string): H5Node => {
    if (!node.keys?.includes(name)) bad(`it has no ${where} (${where.replace(/\[.*$|\/[^/]*$/, '') || 'the file'} holds ${(node.keys ?? []).join(', ') || 'nothing'})`);
    return node.get!(name);
  };
  const matrixAt = (node: H5Node, where: string): Matrix | CsrMatrix => {
    const encoding = String(node.attrs['encoding-type'] ?? (node.shape ? 'array' : ''));
    if (encoding === 'array' && node.shape) {
      if (node.shape.length !== 2) bad(`${where} has shape (${node.shape.join(', ')}); a matrix of cells × genes is needed`);
      if (!NUMERIC.test(String(node.dtype))) bad(`${where} holds ${String(node.dtype)} values; numbers are needed`);
      return { data: Float32Array.from(node.value as ArrayLike<number>), rows: node.shape[0], cols: node.shape[1] };
    }
    if (encoding === 'csr_matrix') {
      const shape = node.attrs.shape as number[] | undefined;
      if (!Array.isArray(shape) || shape.length !== 2) bad(`${where} (csr_matrix) has no shape attribute of (rows, cols)`);
      const part = (k: string) => {
        const d = child(node, k, `${where}/${k}`);
        if (!NUMERIC.test(String(d.dtype))) bad(`${where}/${k} holds ${String(d.dtype)} values; numbers are needed`);
        return d.value as ArrayLike<number>;
      };
      return { indptr: BigInt64Array.from(part('indptr'), (v) => BigInt(v)), indices: Int32Array.from(part('indices')), data: Float32Array.from(part('data')),
        rows: shape![0], cols: shape![1] };
    }
    if (encoding === 'csc_matrix') bad(`${where} is a csc_matrix; save it as CSR (adata.X = adata.X.tocsr()) to read it by rows`);
    return bad(`${where} has encoding ${JSON.stringify(encoding)}; a dense array or a csr_matrix is needed`);
  };
  const x = options.layer === undefined ? matrixAt(child(root, 'X', 'X'), 'X')
    : matrixAt(child(child(root, 'layers', 'layers'), options.layer, `layers['${options.layer}']`), `layers['${options.layer}']`);
  const names = (node: H5Node, where: string): string[] => {
    const index = String(node.attrs._index ?? '_index');
    return node.keys?.includes(index) ? Array.from(node.get!(index).value as ArrayLike<unknown>, String) : bad(`${where} has no index (${index})`);
  };
  const obsNode = child(root, 'obs', 'obs');
  const obsNames = names(obsNode, 'obs');
  if (obsNames.length !== x.rows) bad(`obs has ${obsNames.length} rows but the matrix has ${x.rows}`);
  const varNames = root.keys?.includes('var') ? names(root.get!('var'), 'var') : [];
  const obs: Record<string, ObsColumn> = {};
  const order = obsNode.attrs['column-order'];
  for (const name of Array.isArray(order) ? (order as unknown[]).map(String) : []) {
    const col = child(obsNode, name, `obs['${name}']`);
    if (col.attrs['encoding-type'] === 'categorical') {
      const categories = Array.from(child(col, 'categories', `obs['${name}']/categories`).value as ArrayLike<unknown>, String);
      const codes = Int32Array.from(child(col, 'codes', `obs['${name}']/codes`).value as ArrayLike<number>);
      obs[name] = { kind: 'categorical', codes, categories };
    } else if (col.shape && NUMERIC.test(String(col.dtype))) obs[name] = { kind: 'numeric', values: Float64Array.from(col.value as ArrayLike<number>) };
    // other columns (strings, booleans) are passed over here and refused when asked for (obsColumn)
  }
  return { x, obs, obsNames, varNames };
}

/**
 * Column `key` of obs as integer codes per row with the names of the codes (a categorical column's categories; a
 * numeric column of integers 0…n names its values); `use` names what it is for in errors (--label-key, …).
 */
export function obsCodes(a: AnnData, key: string, use: string, file: string): { codes: Uint8Array; names: string[] } {
  const col = a.obs[key];
  if (!col)
    throw new LatentkitError('LATENTKIT_BAD_DATA', `${file}: ${use} ${JSON.stringify(key)}: obs has no such categorical or numeric column (it has ${Object.keys(a.obs).join(', ') || 'none'})`);
  return labelCodes(col, `${file}: ${use} ${JSON.stringify(key)}`, (i) => `row ${i} (${a.obsNames[i]})`);
}
