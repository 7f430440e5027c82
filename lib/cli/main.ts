// cli/main.ts — the `latentkit` command: train, eval, export, sample, serve, fit, score, help. Parses with node:util parseArgs (strict), reports bad
// options with the option's name, and exits non-zero on failure without a stack trace for user errors.
import * as fs from 'fs';
import * as path from 'path';
import { encodeNpy } from '../data';
import { dataSource, evaluationRows, Flags, HelpRequested, loadSplit, num, parseCommand, precisionFlag, usage } from './args';
import { fitCommand, scoreCommand } from './classical';
import { LatentkitError } from '../errors';
import { project2d } from '../eval/projection';
import { writeFileAtomic } from '../io/atomic';
import { DataMatrix, takeDataRows } from '../data';
import { Matrix, matrix, takeRows } from '../matrix';
import { ObjectiveOptions } from '../models/objective';
import { EpochRecord, FitOptions, Vae, VaeOptions } from '../models/vae';
import { readTrainingCheckpoint } from '../train/checkpoint';
import { LrScheduleOptions, Monitor, resolveEarlyStopping, resolveLrSchedule } from '../train/schedule';
import { OnnxDecoder } from '../onnx/runtime';
import { LOG_LEVELS, LogLevel, serve } from '../serve/server';
import { imageGridPng, squareSide } from '../viz/images';
import { labelledGrid, lineChart, scatterChart, writePicture } from '../viz/chart';
import { VERSION } from '../version';
import { native } from '../native';
import { processGroup, rankPart, shardOf } from '../distributed';
import { commandHelp, HELP } from './help';
import { EpochProgress } from './progress';


async function train(argv: string[]): Promise<void> {
  const { values } = parseCommand('train', argv, {
      data: { type: 'string', default: 'mnist' }, latent: { type: 'string' }, hidden: { type: 'string' },
      activation: { type: 'string' }, likelihood: { type: 'string' }, sigma: { type: 'string' },
      'min-sigma': { type: 'string' }, library: { type: 'string' }, 'prior-mixture': { type: 'string' },
      epochs: { type: 'string' }, 'batch-size': { type: 'string' }, lr: { type: 'string' },
      'weight-decay': { type: 'string' }, seed: { type: 'string' }, threads: { type: 'string' },
      binarize: { type: 'boolean', default: false }, out: { type: 'string', default: 'runs/mnist-vae' },
      objective: { type: 'string' }, k: { type: 'string' }, samples: { type: 'string' }, beta: { type: 'string' },
      warmup: { type: 'string' }, 'free-bits': { type: 'string' }, 'adam-eps': { type: 'string' },
      aggressive: { type: 'boolean', default: false }, conditional: { type: 'boolean', default: false }, labels: { type: 'string' },
      'test-data': { type: 'string' }, 'test-labels': { type: 'string' }, arch: { type: 'string' }, 'input-shape': { type: 'string' },
      precision: { type: 'string' }, resume: { type: 'string' }, 'early-stopping': { type: 'string' }, 'min-delta': { type: 'string' },
      monitor: { type: 'string' }, 'lr-schedule': { type: 'string' }, 'lr-step-size': { type: 'string' }, 'lr-gamma': { type: 'string' },
      'lr-warmup-steps': { type: 'string' }, 'lr-min': { type: 'string' }, 'lr-factor': { type: 'string' }, 'lr-patience': { type: 'string' },
      'clip-grad-norm': { type: 'string' }, 'checkpoint-every': { type: 'string' }, 'keep-last': { type: 'string' },
      mmap: { type: 'boolean', default: false }, shuffle: { type: 'string' }, 'shuffle-block-rows': { type: 'string' },
      layer: { type: 'string' }, 'label-key': { type: 'string' }, 'condition-key': { type: 'string' }, columns: { type: 'string' },
      distributed: { type: 'boolean', default: false }, shard: { type: 'boolean', default: false },
  }, commandHelp('train'));
  const { flags, resumeFile } = resumeFlags(values as Flags, argv);
  const precision = precisionFlag(flags, 'train');
  const seed = num(flags, 'seed', 0);
  const threads = num(flags, 'threads', 0);
  const hidden = flags.hidden === undefined ? [400] : String(flags.hidden).split(',').map((w) => {
    const n = Number(w);
    if (!Number.isInteger(n) || n < 1) usage(`--hidden expects comma-separated positive integers but received ${JSON.stringify(flags.hidden)}`);
    return n;
  });
  const source = dataSource(flags, seed);
  // --distributed: data-parallel over the ranks of mpirun; rank 0 alone prints progress and writes the run folder.
  // --shard: each rank trains (and validates) on its shard of the rows, rank r of n rows ⌊N r / n⌋ … (a mapped file is
  // read only there), instead of holding them all.
  if (flags.shard && !flags.distributed) usage('--shard needs --distributed');
  const group = flags.distributed ? processGroup() : null;
  const writer = !group || group.rank === 0;
  const data = await loadSplit(source);
  const sharded = Boolean(group && flags.shard);
  const shardRows = (x: DataMatrix) => (sharded ? shardOf(x, group!) : x);
  const shardCondition = (m: Matrix | undefined) => {
    if (!m || !sharded) return m;
    const { start, end } = rankPart(m.rows, group!);
    return takeRows(m, Array.from({ length: end - start }, (_, i) => start + i));
  };
  // --condition-key: a conditional model on an .h5ad obs column (scVI's batch_key), one-hot
  const conditional = Boolean(flags.conditional) || flags['condition-key'] !== undefined;
  const classes = conditional ? labelClasses(data.train.labels) : 0;
  if (conditional && classes < 2) usage(`--conditional needs labelled data with at least 2 classes, but ${data.name} has ${classes}`);
  const trainCondition = conditional ? oneHot(data.train.labels, classes) : undefined;
  const testCondition = conditional ? oneHot(data.test.labels, classes) : undefined;
  const likelihood = (flags.likelihood ?? 'bernoulli') as VaeOptions['likelihood'];
  const sigma = flags.sigma === undefined ? undefined : ['shared', 'feature', 'decoder'].includes(String(flags.sigma)) ? (flags.sigma as VaeOptions['sigma']) : num(flags, 'sigma', 1, false);
  const network = await architectureFlags(flags, data.train.x.cols, hidden);
  const vae = new Vae({ inputDim: data.train.x.cols, latentDim: num(flags, 'latent', 20), ...network,
    ...(flags.activation !== undefined || network.hidden ? { activation: (flags.activation ?? 'relu') as VaeOptions['activation'] } : {}), likelihood, sigma, seed, threads,
    ...(flags['min-sigma'] !== undefined ? { minSigma: num(flags, 'min-sigma', 1e-3, false) } : {}),
    ...(flags.library !== undefined ? { library: flags.library as VaeOptions['library'] } : {}),
    ...(flags['prior-mixture'] !== undefined ? { prior: { mixture: num(flags, 'prior-mixture', 1) } } : {}),
    ...(conditional ? { conditionDim: classes } : {}) });
  const epochs = num(flags, 'epochs', 10);
  const objective: ObjectiveOptions = { objective: (flags.objective ?? 'elbo') as ObjectiveOptions['objective'], beta: num(flags, 'beta', 1, false),
    freeBits: num(flags, 'free-bits', 0, false) };
  if (flags.k !== undefined) objective.k = num(flags, 'k', 5);
  if (flags.samples !== undefined) objective.samples = num(flags, 'samples', 1);
  if (flags.warmup !== undefined) objective.klWarmup = { epochs: num(flags, 'warmup', 1) };
  const config = { data: data.name, source, ...vae.options, epochs, batchSize: num(flags, 'batch-size', 128),
    learningRate: num(flags, 'lr', 1e-3, false), adamEps: num(flags, 'adam-eps', 1e-8, false), weightDecay: num(flags, 'weight-decay', 0, false),
    binarize: Boolean(flags.binarize), aggressive: Boolean(flags.aggressive), ...objective, precision, isa: native().info().isa,
    ...trainingControlFlags(flags), trainRows: data.train.x.rows, testRows: data.test.x.rows, version: VERSION,
    flags: Object.fromEntries(Object.entries(flags).filter(([k]) => k !== 'resume')) }; // what --resume repeats
  const out = String(flags.out);
  const modelFile = path.join(out, 'model.safetensors'), metricsFile = path.join(out, 'metrics.json');
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.once('SIGINT', onSigint);
  const progress = new EpochProgress();
  const shape = network.hidden ? `${vae.inputDim}-${hidden.join('-')}-${vae.latentDim}` : `${network.architecture ?? 'custom'} ${(vae.options.inputShape ?? [vae.inputDim]).join('×')} → ${vae.latentDim}`;
  if (writer)
    process.stderr.write(`training ${shape} VAE (${likelihood}) on ${data.name}: ` +
      `${data.train.x.rows} train / ${data.test.x.rows} test rows, ${vae.numParams} parameters, ${precision} (${config.isa})` +
      `${group ? `, ${group.size} ranks` : ''}\n`);
  const t0 = performance.now();
  // After every epoch the model, then metrics.json naming the same epoch: whenever the run stops (Ctrl-C, a kill, a
  // full disk) the folder holds one consistent, loadable state.
  const done: EpochRecord[] = resumeFile ? (await readTrainingCheckpoint(resumeFile)).loop.history : [];
  if (resumeFile) process.stderr.write(`resuming from ${resumeFile} (epoch ${done.length} of ${epochs})\n`);
  const checkpoint = async (r: EpochRecord) => {
    done.push(r);
    if (!writer) return;
    progress.epoch(r, epochs);
    await vae.save(modelFile, { epoch: r.epoch });
    await writeFileAtomic(metricsFile, JSON.stringify({ config, modelEpoch: r.epoch, complete: false, epochs: done }, null, 2) + '\n');
  };
  let history;
  try {
    await fs.promises.mkdir(out, { recursive: true });
    history = await vae.fit(shardRows(data.train.x), { epochs, batchSize: config.batchSize, learningRate: config.learningRate, adamEps: config.adamEps, aggressive: config.aggressive,
      weightDecay: config.weightDecay, binarize: config.binarize, ...objective, seed, threads, precision,
      validation: shardRows(data.test.x), condition: shardCondition(trainCondition), validationCondition: shardCondition(testCondition), lrSchedule: config.lrSchedule, clipGradNorm: config.clipGradNorm, shuffle: config.shuffle,
      earlyStopping: config.earlyStopping, checkpoint: { dir: out, every: num(flags, 'checkpoint-every', 1), keepLast: num(flags, 'keep-last', 2) },
      resumeFrom: resumeFile, signal: controller.signal, progress: writer ? (p) => progress.step(p) : undefined, onEpoch: checkpoint,
      distributed: sharded ? 'sharded' : Boolean(group) });
  } catch (e) {
    if ((e as LatentkitError).code === 'LATENTKIT_CANCELLED')
      process.stderr.write(done.length > 0
        ? `\ninterrupted during epoch ${done.length + 1}: ${modelFile} and ${metricsFile} hold epoch ${done.length}; continue with latentkit train --resume ${out}\n`
        : '\ninterrupted during epoch 1: nothing was written\n');
    throw e;
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
  const seconds = (performance.now() - t0) / 1000;
  if (!writer) return; // the other ranks' work ends with training
  // With early stopping the model is the best epoch's (restored by fit): the run's model.safetensors says so.
  const modelEpoch = history.best?.restored ? history.best.epoch : history.epochs.length;
  if (history.best?.restored) await vae.save(modelFile, { epoch: modelEpoch });
  if (history.stopped) process.stderr.write(`early stopping after epoch ${history.stopped.epoch}: ${history.stopped.reason}; the model is epoch ${modelEpoch}'s\n`);
  const last = history.epochs[modelEpoch - 1];
  const trainSeconds = history.epochs.reduce((s, e) => s + e.seconds, 0);
  const final = { testLoss: last.testLoss, trainLoss: last.trainLoss, examplesPerSec: (history.epochs.length * data.train.x.rows) / trainSeconds, seconds,
    ...(history.stopped ? { stopped: history.stopped } : {}), ...(history.best ? { best: history.best } : {}),
    ...latentDiagnostics(vae, data.test.x, seed, testCondition) };
  const lossPicture = await lineChart([
    { name: 'train', points: history.epochs.map((e) => [e.epoch, e.trainLoss]) },
    { name: 'test', points: history.epochs.map((e) => [e.epoch, e.testLoss ?? NaN]) },
  ], { title: `${objective.objective === 'iwae' ? `negative IWAE bound (k = ${objective.k ?? 5})` : 'negative ELBO'} per example (${data.name})`, xTitle: 'epoch', yTitle: 'nats per example' });
  const side = squareSide(vae.inputDim);
  const written = ['model.safetensors', ...(await writePicture(out, 'loss', lossPicture))];
  if (side !== undefined && likelihood === 'bernoulli') {
    // A conditional model draws one row of 8 per label (the same 8 z in every row: style held, label varied).
    const sampleCondition = conditional ? oneHot(Uint8Array.from({ length: classes * 8 }, (_, i) => Math.floor(i / 8)), classes) : undefined;
    const drawn = conditional
      ? vae.decode(takeRows(vae.priorSample(8, seed), Array.from({ length: classes * 8 }, (_, i) => i % 8)), sampleCondition)
      : vae.sample(64, { seed });
    // Conditional samples are labelled by row (the label); unconditional ones are a plain 8×8 grid.
    let samples = ['samples.png'];
    if (conditional)
      samples = await writePicture(out, 'samples', await labelledGrid(drawn, { height: side, rowLabels: Array.from({ length: classes }, (_, l) => String(l)),
        columnLabels: Array.from({ length: 8 }, (_, i) => String(i + 1)), rowTitle: 'label (the condition)', columnTitle: 'draw of z (the same in every row)',
        title: `conditional samples (${data.name})` }));
    else await writeFileAtomic(path.join(out, 'samples.png'), imageGridPng(drawn, { height: side, columns: 8 }));
    const shownRows = Array.from({ length: Math.min(32, data.test.x.rows) }, (_, i) => i);
    const shown = takeDataRows(data.test.x, shownRows);
    const recon = vae.reconstruct(shown, testCondition && takeRows(testCondition, shownRows));
    const perBand = Math.min(16, shown.rows); // each band: a row of test images above a row of reconstructions
    const pairs = matrix(Math.ceil(shown.rows / perBand) * 2 * perBand, shown.cols);
    for (let i = 0; i < shown.rows; i++) {
      const band = Math.floor(i / perBand), col = i % perBand;
      pairs.data.set(shown.data.subarray(i * shown.cols, (i + 1) * shown.cols), (band * 2 * perBand + col) * shown.cols);
      pairs.data.set(recon.data.subarray(i * shown.cols, (i + 1) * shown.cols), ((band * 2 + 1) * perBand + col) * shown.cols);
    }
    await writeFileAtomic(path.join(out, 'reconstructions.png'), imageGridPng(pairs, { height: side, columns: perBand }));
    const steps = 10, paths = Math.min(8, Math.floor(data.test.x.rows / 2));
    const lines = matrix(paths * steps, shown.cols);
    for (let i = 0; i < paths; i++) {
      const row = (r: number) => takeDataRows(data.test.x, [r]);
      lines.data.set(vae.interpolate(row(2 * i), row(2 * i + 1), { steps, condition: testCondition && takeRows(testCondition, [2 * i]) }).data, i * steps * shown.cols);
    }
    await writeFileAtomic(path.join(out, 'interpolation.png'), imageGridPng(lines, { height: side, columns: steps }));
    const sweeps = matrix(vae.latentDim * steps, shown.cols);
    for (let d = 0; d < vae.latentDim; d++)
      sweeps.data.set(vae.traverse(takeDataRows(data.test.x, [0]), { dim: d, range: [-3, 3], steps, condition: testCondition && takeRows(testCondition, [0]) }).data, d * steps * shown.cols);
    const values = Array.from({ length: steps }, (_, s) => (-3 + (6 * s) / (steps - 1)).toFixed(1));
    const traversal = await writePicture(out, 'traversal', await labelledGrid(sweeps, { height: side, rowLabels: Array.from({ length: vae.latentDim }, (_, d) => `z${d + 1}`),
      columnLabels: values, rowTitle: 'latent dimension swept', columnTitle: 'its value (the others at the first test image\'s mean)', title: `latent traversals (${data.name})` }));
    written.push(...samples, 'reconstructions.png', 'interpolation.png', ...traversal);
  }
  const means: Matrix = (await vae.encodeAsync(data.test.x, testCondition)).mean;
  const latentPicture = await scatterChart(project2d(means), data.test.labels, { title: `test posterior means on their first two principal axes (${data.name})`,
    xTitle: 'principal axis 1', yTitle: 'principal axis 2', legendTitle: source.labelKey ?? (data.name === 'mnist' ? 'digit' : 'label'), classNames: data.test.labelNames });
  written.push(...(await writePicture(out, 'latent', latentPicture)), 'metrics.json');
  // Last: the complete metrics, listing the files of the run.
  await writeFileAtomic(metricsFile, JSON.stringify({ config, modelEpoch, complete: true, files: written, epochs: history.epochs, final }, null, 2) + '\n');
  process.stdout.write(`final test loss ${last.testLoss?.toFixed(2)} nats; wrote ${written.join(', ')} to ${out}\n`);
}

/**
 * --resume <dir>: the run's recorded flags (metrics.json config.flags) with --epochs (the total), --threads and
 * --out from the command line; any other flag given must repeat the run's (else a usage error naming it). Resumes
 * from the folder's checkpoint-last.safetensors.
 */
function resumeFlags(given: Flags, argv: string[]): { flags: Flags; resumeFile?: string } {
  if (given.resume === undefined) return { flags: given };
  const dir = String(given.resume);
  const resumeFile = path.join(dir, 'checkpoint-last.safetensors');
  let recorded: Flags | undefined;
  try {
    recorded = (JSON.parse(fs.readFileSync(path.join(dir, 'metrics.json'), 'utf8')) as { config?: { flags?: Flags } }).config?.flags;
  } catch (e) {
    usage(`--resume ${dir}: its metrics.json cannot be read (${(e as Error).message.split('\n')[0]})`, 'train');
  }
  if (!recorded) usage(`--resume ${dir}: its metrics.json records no flags (a run of an earlier version); train it again`, 'train');
  if (!fs.existsSync(resumeFile)) usage(`--resume ${dir}: it has no checkpoint-last.safetensors (no epoch completed)`, 'train');
  const typed = new Set(argv.filter((a) => a.startsWith('--')).map((a) => a.slice(2).split('=')[0]));
  const free = new Set(['resume', 'epochs', 'threads', 'out', 'mmap']);
  for (const name of typed)
    if (!free.has(name) && JSON.stringify(given[name]) !== JSON.stringify(recorded[name]))
      usage(`--${name} ${JSON.stringify(given[name])} differs from the run's ${recorded[name] === undefined ? 'default' : JSON.stringify(recorded[name])} (${path.join(dir, 'metrics.json')}): a resume repeats the run's options`, 'train');
  const keep = Object.fromEntries([...free].filter((n) => typed.has(n)).map((n) => [n, given[n]]));
  return { flags: { ...recorded, ...keep, out: typed.has('out') ? given.out : dir }, resumeFile };
}

/**
 * --lr-schedule and its --lr-* flags, --clip-grad-norm, --early-stopping / --min-delta / --monitor, --shuffle /
 * --shuffle-block-rows as fit options.
 */
function trainingControlFlags(flags: Flags): Pick<FitOptions, 'lrSchedule' | 'clipGradNorm' | 'earlyStopping' | 'shuffle'> {
  const lrFlags = { 'lr-step-size': 'stepSize', 'lr-gamma': 'gamma', 'lr-warmup-steps': 'warmupSteps', 'lr-min': 'minLr', 'lr-factor': 'factor', 'lr-patience': 'patience' } as const;
  const out: Pick<FitOptions, 'lrSchedule' | 'clipGradNorm' | 'earlyStopping' | 'shuffle'> = {};
  if (flags.shuffle !== undefined && !['global', 'blocks'].includes(String(flags.shuffle)))
    usage(`--shuffle expects global or blocks but received ${JSON.stringify(flags.shuffle)}`, 'train');
  if (flags['shuffle-block-rows'] !== undefined) {
    if (flags.shuffle !== 'blocks') usage('--shuffle-block-rows needs --shuffle blocks', 'train');
    const blockRows = num(flags, 'shuffle-block-rows', 0);
    if (blockRows < 1) usage(`--shuffle-block-rows expects an integer >= 1 but received ${blockRows}`, 'train');
    out.shuffle = { blockRows };
  } else if (flags.shuffle !== undefined) out.shuffle = flags.shuffle as 'global' | 'blocks';
  const given = (Object.keys(lrFlags) as Array<keyof typeof lrFlags>).filter((f) => flags[f] !== undefined);
  if (flags['lr-schedule'] === undefined) {
    if (given.length > 0) usage(`--${given[0]} needs --lr-schedule`, 'train');
  } else {
    const schedule: Record<string, unknown> = { kind: flags['lr-schedule'] };
    for (const f of given) schedule[lrFlags[f]] = num(flags, f, 0, false);
    if (flags.monitor !== undefined && schedule.kind === 'plateau') schedule.monitor = flags.monitor;
    out.lrSchedule = schedule as unknown as LrScheduleOptions;
  }
  if (flags['clip-grad-norm'] !== undefined) out.clipGradNorm = num(flags, 'clip-grad-norm', 0, false);
  if (flags['early-stopping'] !== undefined)
    out.earlyStopping = { patience: num(flags, 'early-stopping', 0), ...(flags['min-delta'] !== undefined ? { minDelta: num(flags, 'min-delta', 0, false) } : {}),
      ...(flags.monitor !== undefined ? { monitor: flags.monitor as Monitor } : {}) };
  else if (flags['min-delta'] !== undefined) usage('--min-delta needs --early-stopping <patience>', 'train');
  // Checked here so that a bad value is a usage error naming its flag.
  const flagFor: Record<string, Record<string, string>> = {
    lrSchedule: { kind: 'lr-schedule', monitor: 'monitor', ...Object.fromEntries(Object.entries(lrFlags).map(([flag, key]) => [key, flag])) },
    earlyStopping: { patience: 'early-stopping', minDelta: 'min-delta', monitor: 'monitor' },
  };
  try {
    resolveLrSchedule(out.lrSchedule, true);
    resolveEarlyStopping(out.earlyStopping, true);
  } catch (e) {
    const message = (e as Error).message;
    const m = /for (lrSchedule|earlyStopping)\.(\w+) but received (.*)$/.exec(message);
    usage(m ? `--${flagFor[m[1]][m[2]] ?? m[2]} expects ${message.replace(/^Expected (.*) for \S+ but received (.*)$/, '$1 but received $2')}` : message, 'train');
  }
  return out;
}

/**
 * The network flags: --arch mlp (with --hidden), conv (the preset, on --input-shape or the square single-channel
 * image the data's width makes) or a JSON file { encoder, decoder, inputShape? } of layer specs.
 */
async function architectureFlags(flags: Flags, cols: number, hidden: number[]): Promise<Pick<VaeOptions, 'hidden' | 'architecture' | 'encoder' | 'decoder' | 'inputShape'>> {
  const arch = String(flags.arch ?? 'mlp');
  let inputShape: number[] | undefined;
  if (flags['input-shape'] !== undefined) {
    inputShape = String(flags['input-shape']).split(',').map(Number);
    if (inputShape.some((d) => !Number.isInteger(d) || d < 1) || (inputShape.length !== 3 && inputShape.length !== 1))
      usage(`--input-shape expects channels,height,width (or n) but received ${JSON.stringify(flags['input-shape'])}`);
  }
  if (arch === 'mlp') return { hidden, ...(inputShape ? { inputShape } : {}) };
  if (flags.hidden !== undefined) usage(`--hidden describes an MLP; it cannot be given with --arch ${arch}`);
  if (!inputShape) {
    const side = squareSide(cols);
    if (arch === 'conv' && side === undefined) usage(`--arch conv needs images: give --input-shape channels,height,width (the data has ${cols} columns, not a square)`);
    if (side !== undefined) inputShape = [1, side, side];
  }
  if (arch === 'conv') return { architecture: 'conv', inputShape };
  let spec: Record<string, unknown>;
  try {
    spec = JSON.parse(await fs.promises.readFile(arch, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    return usage(`--arch expects mlp, conv or a JSON file of { encoder, decoder } layer specs; ${arch}: ${(e as Error).message}`);
  }
  if (spec === null || typeof spec !== 'object' || !Array.isArray(spec.encoder) || !Array.isArray(spec.decoder))
    usage(`${arch} must hold a JSON object { "encoder": [...], "decoder": [...] } (and optionally "inputShape")`);
  return { encoder: spec.encoder as VaeOptions['encoder'], decoder: spec.decoder as VaeOptions['decoder'], inputShape: (spec.inputShape as number[] | undefined) ?? inputShape };
}

/** KL per latent dimension, active units (Burda et al.'s 0.01 threshold) and I_q on (up to 5,000 rows of) x. */
function latentDiagnostics(vae: Vae, x: DataMatrix, seed: number, condition: Matrix | undefined) {
  const au = vae.activeUnits(x, { condition });
  return { ...(vae.options.prior === 'normal' ? { klPerDimension: Array.from(vae.klPerDimension(x, { condition })) } : {}), activeUnits: au.count, activity: Array.from(au.perDimension),
    mutualInformation: vae.mutualInformation(x, { seed, condition }) };
}

/** The number of label classes (max label + 1; 0 without labels). */
function labelClasses(labels: Uint8Array): number {
  return labels.length === 0 ? 0 : labels.reduce((m, v) => Math.max(m, v), 0) + 1;
}

/** One-hot rows of `classes` columns for integer labels. */
function oneHot(labels: Uint8Array, classes: number): Matrix {
  const m = matrix(labels.length, classes);
  labels.forEach((l, i) => (m.data[i * classes + l] = 1));
  return m;
}

async function evaluate(argv: string[]): Promise<void> {
  const { values } = parseCommand('eval', argv, {
    model: { type: 'string' }, data: { type: 'string' }, samples: { type: 'string' }, iw: { type: 'string' },
    out: { type: 'string' }, seed: { type: 'string' }, threads: { type: 'string' }, binarize: { type: 'boolean', default: false },
    labels: { type: 'string' }, precision: { type: 'string' }, mmap: { type: 'boolean', default: false }, layer: { type: 'string' },
    columns: { type: 'string' } }, commandHelp('eval'));
  const flags = values as Flags;
  if (!flags.model) usage('eval needs --model <model.safetensors>', 'eval');
  const precision = precisionFlag(flags, 'eval');
  const seed = num(flags, 'seed', 0);
  const threads = flags.threads === undefined ? undefined : num(flags, 'threads', 0);
  const vae = await Vae.load(String(flags.model), { threads });
  const test = await evaluationRows(String(flags.model), flags, 'test', 'eval');
  const samples = num(flags, 'samples', 1);
  const binarize = Boolean(flags.binarize);
  // A conditional model is evaluated under the test labels, one-hot, as `train --conditional` trained it.
  const condition = vae.options.conditionDim > 0 ? oneHot(test.labels, vae.options.conditionDim) : undefined;
  if (condition && labelClasses(test.labels) > vae.options.conditionDim)
    usage(`the model has conditionDim ${vae.options.conditionDim} but ${test.name} has labels up to ${labelClasses(test.labels) - 1}`);
  const t0 = performance.now();
  const r = await vae.elbo(test.x, { samples, binarize, condition, precision });
  const mean = (a: Float32Array) => a.reduce((s, v) => s + v, 0) / a.length;
  const result: Record<string, unknown> = { model: flags.model, data: test.name, testLoss: -mean(r.elbo), reconstruction: mean(r.reconstruction),
    kl: mean(r.kl), rows: test.x.rows, samples, binarize, threads: vae.options.threads, precision, isa: native().info().isa,
    ...latentDiagnostics(vae, test.x, seed, condition) };
  process.stdout.write(`test loss ${(result.testLoss as number).toFixed(3)} nats (reconstruction ${(result.reconstruction as number).toFixed(3)}, ` +
    `KL ${(result.kl as number).toFixed(3)}) on ${test.x.rows} rows; active units ${result.activeUnits}/${vae.latentDim}, ` +
    `mutual information ${(result.mutualInformation as number).toFixed(3)} nats\n`);
  if (flags.iw !== undefined) {
    const k = num(flags, 'iw', 5000);
    const t1 = performance.now();
    const ll = await vae.logLikelihood(test.x, { k, seed, binarize, condition, precision });
    const s = (performance.now() - t1) / 1000;
    Object.assign(result, { iw: { k, nll: -mean(ll), seconds: s, examplesPerSec: test.x.rows / s } });
    process.stdout.write(`importance-sampled NLL (k = ${k}) ${(-mean(ll)).toFixed(3)} nats, ${s.toFixed(1)} s\n`);
  }
  result.seconds = (performance.now() - t0) / 1000;
  const file = flags.out !== undefined ? String(flags.out) : path.join(path.dirname(String(flags.model)), 'eval.json');
  await writeFileAtomic(file, JSON.stringify(result, null, 2) + '\n');
  process.stdout.write(`wrote ${file}\n`);
}

async function exportCommand(argv: string[]): Promise<void> {
  const { values } = parseCommand('export', argv, {
    model: { type: 'string' }, out: { type: 'string' }, parts: { type: 'string', default: 'decoder,encoder' } }, commandHelp('export'));
  if (!values.model) usage('export needs --model <model.safetensors>');
  if (!values.out) usage('export needs --out <dir>');
  const parts = values.parts.split(',').map((p) => p.trim());
  for (const p of parts) if (p !== 'decoder' && p !== 'encoder') usage(`--parts expects decoder and/or encoder but received ${JSON.stringify(values.parts)}`);
  const vae = await Vae.load(values.model);
  await fs.promises.mkdir(values.out, { recursive: true });
  const written = await vae.exportOnnx(values.out, { parts: parts as Array<'decoder' | 'encoder'> });
  process.stdout.write(`wrote ${written.join(', ')}\n`);
}

/** The model file `sample` reads: a .onnx decoder, a checkpoint, or a folder holding either (decoder.onnx first). */
function sampleSource(model: string): { kind: 'onnx' | 'safetensors'; file: string } {
  let file = model;
  if (fs.existsSync(model) && fs.statSync(model).isDirectory()) {
    const found = ['decoder.onnx', 'model.safetensors'].map((f) => path.join(model, f)).find((f) => fs.existsSync(f));
    if (!found) usage(`--model ${model} is a folder without decoder.onnx or model.safetensors`);
    file = found;
  }
  if (file.endsWith('.onnx')) return { kind: 'onnx', file };
  if (file.endsWith('.safetensors')) return { kind: 'safetensors', file };
  return usage(`--model expects a .onnx decoder, a .safetensors checkpoint or a folder holding one, but received ${JSON.stringify(model)}`);
}

async function sample(argv: string[]): Promise<void> {
  const { values } = parseCommand('sample', argv, {
    model: { type: 'string' }, n: { type: 'string' }, seed: { type: 'string' }, out: { type: 'string' },
    format: { type: 'string' }, mode: { type: 'string' }, threads: { type: 'string' }, label: { type: 'string' },
    precision: { type: 'string' } }, commandHelp('sample'));
  const flags = values as Flags;
  const precision = precisionFlag(flags, 'sample');
  if (!values.model) usage('sample needs --model <decoder.onnx | model.safetensors>');
  const label = values.label === undefined ? undefined : num(flags, 'label', 0);
  if (!values.out) usage('sample needs --out <file> (.png or .npy)');
  const n = num(flags, 'n', 64);
  if (n < 1 || n > 1 << 20) usage(`--n expects an integer in [1, ${1 << 20}] but received ${n}`);
  const seed = num(flags, 'seed', 0);
  if (seed < 0) usage(`--seed expects an integer >= 0 but received ${seed}`);
  const threads = num(flags, 'threads', 0);
  const format = values.format ?? (values.out.endsWith('.npy') ? 'npy' : 'png');
  if (format !== 'png' && format !== 'npy') usage(`--format expects png or npy but received ${JSON.stringify(values.format)}`);
  const mode = values.mode ?? 'mean';
  if (mode !== 'mean' && mode !== 'ancestral') usage(`--mode expects mean or ancestral but received ${JSON.stringify(values.mode)}`);
  const source = sampleSource(values.model);
  let x: Matrix;
  if (source.kind === 'onnx') {
    if (mode !== 'mean') usage('--mode ancestral needs a model.safetensors: an ONNX decoder holds no random operators, so it decodes means only');
    if (flags.precision !== undefined && flags.precision !== 'fp32') usage('--precision applies to a model.safetensors: an ONNX decoder runs in onnxruntime (fp32)', 'sample');
    const decoder = await OnnxDecoder.load(source.file, { threads });
    x = await decoder.sample(n, { seed, condition: labelCondition(label, decoder.conditionDim) });
  } else {
    const vae = await Vae.load(source.file, { threads });
    x = await vae.sampleAsync(n, { seed, mode, precision, condition: labelCondition(label, vae.options.conditionDim) });
  }
  let bytes: Buffer;
  if (format === 'npy') bytes = encodeNpy(x);
  else {
    const side = squareSide(x.cols);
    if (side === undefined) usage(`--format png needs square images, but the model outputs ${x.cols} values per row; use --format npy`);
    bytes = imageGridPng(x, { height: side, columns: Math.min(n, 8) });
  }
  await fs.promises.mkdir(path.dirname(path.resolve(values.out)), { recursive: true });
  await writeFileAtomic(values.out, bytes);
  process.stdout.write(`wrote ${n} samples (${source.kind === 'onnx' ? 'onnxruntime' : 'native'}, seed ${seed}, ${mode}) to ${values.out}\n`);
}

/** sample --label L: the one-hot condition of a conditional model (required there, refused elsewhere). */
function labelCondition(label: number | undefined, conditionDim: number): Matrix | undefined {
  if (conditionDim === 0) {
    if (label !== undefined) usage('--label applies to a conditional model only');
    return undefined;
  }
  if (label === undefined || label < 0 || label >= conditionDim)
    usage(`a conditional model needs --label <0…${conditionDim - 1}> (received ${label === undefined ? 'none' : label})`);
  return oneHot(Uint8Array.of(label as number), conditionDim);
}

async function serveCommand(argv: string[]): Promise<void> {
  const { values } = parseCommand('serve', argv, {
    model: { type: 'string' }, port: { type: 'string' }, host: { type: 'string', default: '127.0.0.1' },
    threads: { type: 'string' }, 'max-rows': { type: 'string' }, 'max-concurrent': { type: 'string' },
    'token-file': { type: 'string' }, 'tls-cert': { type: 'string' }, 'tls-key': { type: 'string' },
    'request-timeout': { type: 'string' }, 'idle-timeout': { type: 'string' }, 'log-level': { type: 'string' } }, commandHelp('serve'));
  const flags = values as Flags;
  if (!values.model) usage('serve needs --model <dir> (a folder with decoder.onnx, written by latentkit export)', 'serve');
  const read = (flag: string, file: string) => {
    try {
      return fs.readFileSync(file, 'utf8');
    } catch (e) {
      return usage(`--${flag} ${file}: ${(e as Error).message}`, 'serve');
    }
  };
  const token = values['token-file'] !== undefined ? read('token-file', values['token-file']).trim() : process.env.LATENTKIT_SERVE_TOKEN;
  if ((values['tls-cert'] === undefined) !== (values['tls-key'] === undefined)) usage('--tls-cert and --tls-key go together', 'serve');
  const tls = values['tls-cert'] !== undefined ? { cert: read('tls-cert', values['tls-cert']), key: read('tls-key', values['tls-key']!) } : undefined;
  const logLevel = (values['log-level'] ?? 'info') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) usage(`--log-level expects one of ${LOG_LEVELS.join(', ')} but received ${JSON.stringify(logLevel)}`, 'serve');
  const server = await serve(values.model, { port: num(flags, 'port', 8080), host: values.host, threads: num(flags, 'threads', 0),
    maxRows: num(flags, 'max-rows', 1024), maxConcurrent: num(flags, 'max-concurrent', 16), token, tls, logLevel,
    requestTimeout: num(flags, 'request-timeout', 30000), idleTimeout: num(flags, 'idle-timeout', 30000) });
  // SIGTERM / SIGINT: stop accepting, let in-flight requests finish, then exit.
  const stop = () => {
    process.stderr.write('draining: finishing in-flight requests\n');
    server.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  process.stdout.write(`serving ${values.model} on ${server.url} (GET /healthz, POST /decode, POST /encode, GET /sample)` +
    `${token ? ', bearer token required' : ''}\n`);
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
      process.stdout.write(HELP);
      return command === undefined ? 1 : 0;
    }
    if (command === '--version' || command === '-V' || command === 'version') {
      process.stdout.write(VERSION + '\n');
      return 0;
    }
    if (command === 'train') await train(rest);
    else if (command === 'eval') await evaluate(rest);
    else if (command === 'export') await exportCommand(rest);
    else if (command === 'sample') await sample(rest);
    else if (command === 'serve') await serveCommand(rest);
    else if (command === 'fit') await fitCommand(rest);
    else if (command === 'score') await scoreCommand(rest);
    else usage(`unknown command ${JSON.stringify(command)}`);
    return 0;
  } catch (e) {
    if (e instanceof HelpRequested) {
      process.stdout.write(e.text);
      return 0;
    }
    const err = e as Error & { code?: string };
    // A system error (a full disk, a missing file, no permission) is the user's to fix: its message, no stack.
    const systemError = /^E[A-Z]+$/.test(err.code ?? '') && 'syscall' in err;
    const userError = err instanceof TypeError || err instanceof RangeError || systemError || (err.code ?? '').startsWith('LATENTKIT_') || (err.code ?? '').startsWith('ERR_PARSE_ARGS');
    if (err.code === 'LATENTKIT_CANCELLED') {
      process.stderr.write('\ncancelled\n');
      return 130;
    }
    process.stderr.write(`latentkit: ${userError ? err.message : err.stack ?? String(err)}\n`);
    return err.code === 'LATENTKIT_USAGE' ? 2 : 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => (process.exitCode = code));
}
