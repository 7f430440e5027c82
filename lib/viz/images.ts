// viz/images.ts — image grids: rows of a matrix (each row one h×w grey image with values in [0, 1]) tiled into a
// PNG with a 1-pixel gap; an optional scale per image makes arbitrary-valued rows (principal axes) viewable.
import { Matrix } from '../matrix';
import { encodePng } from './png';

export interface GridOptions {
  height: number; // image height in pixels (width = cols / height)
  columns: number; // images per grid row
  zoom?: number; // pixel repetition
  normalize?: boolean; // rescale each image to its own min..max
}

/** The side of a square image with `cols` pixels, or undefined when `cols` is not a perfect square. */
export function squareSide(cols: number): number | undefined {
  const s = Math.round(Math.sqrt(cols));
  return s * s === cols ? s : undefined;
}

/** One h×w grey image (values in [0, 1], or rescaled to its own min..max with normalize) as 8-bit pixels. */
function greyPixels(img: ArrayLike<number>, normalize: boolean): (i: number) => number {
  let lo = 0;
  let hi = 1;
  if (normalize) {
    lo = Infinity;
    hi = -Infinity;
    for (let i = 0; i < img.length; i++) (lo = Math.min(lo, img[i])), (hi = Math.max(hi, img[i]));
    if (hi <= lo) hi = lo + 1;
  }
  return (i) => Math.round(255 * Math.min(1, Math.max(0, (img[i] - lo) / (hi - lo))));
}

/** Row i of `images` (h pixels high) as its own PNG. */
export function imagePng(images: Matrix, i: number, h: number, normalize = false): Buffer {
  const w = Math.round(images.cols / h);
  const grey = greyPixels(images.data.subarray(i * images.cols, (i + 1) * images.cols), normalize);
  return encodePng(w, h, Uint8Array.from({ length: w * h }, (_, k) => grey(k)), 1);
}

export function imageGridPng(images: Matrix, options: GridOptions): Buffer {
  const { height: h, columns, zoom = 2, normalize = false } = options;
  const w = Math.round(images.cols / h);
  const gridRows = Math.ceil(images.rows / columns);
  const W = (columns * (w + 1) + 1) * zoom;
  const H = (gridRows * (h + 1) + 1) * zoom;
  const px = new Uint8Array(W * H).fill(64);
  for (let i = 0; i < images.rows; i++) {
    const grey = greyPixels(images.data.subarray(i * images.cols, (i + 1) * images.cols), normalize);
    const gx = (i % columns) * (w + 1) + 1;
    const gy = Math.floor(i / columns) * (h + 1) + 1;
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const v = grey(y * w + x);
        for (let zy = 0; zy < zoom; zy++) for (let zx = 0; zx < zoom; zx++) px[((gy + y) * zoom + zy) * W + (gx + x) * zoom + zx] = v;
      }
  }
  return encodePng(W, H, px, 1);
}
