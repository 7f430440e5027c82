// cli/progress.ts — one progress line per epoch: a redrawn bar on a terminal, plain lines otherwise.
import type { EpochRecord, StepProgress } from '../models/vae';

export class EpochProgress {
  readonly #tty: boolean;
  #lastDraw = 0;
  constructor(private readonly out: NodeJS.WriteStream = process.stderr) {
    this.#tty = Boolean(out.isTTY);
  }
  step(p: StepProgress): void {
    if (!this.#tty) return;
    const now = Date.now();
    if (now - this.#lastDraw < 100) return;
    this.#lastDraw = now;
    const width = 30;
    const done = Math.round((p.examples / p.totalExamples) * width);
    this.out.write(`\repoch ${p.epoch}/${p.epochs} [${'#'.repeat(done)}${'.'.repeat(width - done)}] ` +
      `${Math.round(p.examplesPerSec)} ex/s  loss ${p.loss.toFixed(2)}   `);
  }
  epoch(r: EpochRecord, epochs: number): void {
    const test = r.testLoss !== undefined ? `  test ${r.testLoss.toFixed(2)}` : '';
    this.out.write(`${this.#tty ? '\r' : ''}epoch ${r.epoch}/${epochs}  train ${r.trainLoss.toFixed(2)}${test}  ` +
      `${Math.round(r.examplesPerSec)} ex/s  ${r.seconds.toFixed(1)} s${' '.repeat(20)}\n`);
  }
}
