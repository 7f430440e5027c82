// cli/help.ts — the text of `latentkit --help`, and one command's section of it for `latentkit <command> --help`.
import { ACTIVATIONS, LIKELIHOODS } from '../models/vae';
import { SHUFFLE_BLOCK_ROWS } from '../train/fit';
import { VERSION } from '../version';

export const HELP = `latentkit ${VERSION} — latent-variable models at native speed

Usage:
  latentkit train [options]          train a VAE and write a run folder
  latentkit eval --model <file> [--data <src> [--labels <file>]] [--samples S] [--iw K] [--out <file>] [--threads N]
                 [--precision fp32|bf16|auto] [--mmap] [--layer <name>] [--columns <a,b,...>]
                                     test loss (negative ELBO per example, nats), KL per dimension, active units,
                                     mutual information and, with --iw K, the importance-sampled log-likelihood, on
                                     every row of --data (mnist: its test split) or, without --data, on the test rows
                                     of the run that wrote the model (its metrics.json); eval.json beside the model
  latentkit export --model <model.safetensors> --out <dir> [--parts decoder,encoder]
                                     write decoder.onnx and encoder.onnx (IR 8, opset 17)
  latentkit sample --model <decoder.onnx | model.safetensors | dir> [--n 64] [--seed 0] --out <file>
                   [--format png|npy] [--mode mean|ancestral] [--label L (conditional models)]
                   [--precision fp32|bf16|auto (a checkpoint)]
                                     decode n draws from the prior: an image grid (png) or the values (npy)
  latentkit serve --model <dir> [--port 8080] [--host 127.0.0.1] [--threads N] [--max-rows 1024]
                  [--max-concurrent 16] [--token-file <file>] [--tls-cert <pem> --tls-key <pem>]
                  [--request-timeout 30000] [--idle-timeout 30000] [--log-level info]
                                     HTTP: GET /healthz, POST /decode, POST /encode, GET /sample?n&seed&format;
                                     a bearer token (--token-file, or LATENTKIT_SERVE_TOKEN) guards all but /healthz;
                                     503 + Retry-After beyond --max-concurrent; SIGTERM drains in-flight requests
  latentkit fit gmm|pca|ppca|fa [--data <src>] [--components N] [--covariance full|tied|diag|spherical]
                [--init kmeans|k-means++|random|random_from_data] [--n-init N] [--reg-covar X]
                [--method closed|em (ppca) | svd|em (fa)] [--estep expectation|sample] [--samples S] [--max-iter N] [--tol X]
                [--seed N] [--threads N] [--out runs/<model>] [--mmap] [--layer <name>] [--label-key <col>]
                [--columns <a,b,...>] [--distributed]
                                     fit a classical model on the train split: model.safetensors, metrics.json,
                                     loglike.png (+ .svg, .vl.json), components.png (images) or scatter.png (other data);
                                     the data in any form train reads (--mmap, sparse .npz / .h5ad), never densified;
                                     --distributed under mpirun: each rank fits its shard of the rows, rank 0 writes
  latentkit score --model <model.safetensors> [--data <src>] [--split test|train] [--mmap] [--layer <name>]
                  [--columns <a,b,...>]
                                     mean log-likelihood per row of a fitted classical model: every row of --data
                                     (mnist: its --split) or, without --data, the run's own test (or train) rows
  latentkit <command> --help         one command's options
  latentkit --help | --version | -V

train options (defaults train the reference MNIST VAE, 784-400-20):
  --data <src>          mnist (default), or a .npy / .npz / .csv / .h5ad / .parquet / IDX file (a seeded 10% is held out for testing, unless
                        --test-data is given); IDX images bring the labels file beside them
  --test-data <src>     the test set (every row); --data is then trained on whole
  --test-labels <file>  labels of the --test-data rows
  --mmap                memory-map the data rather than read it: a float32 .npy is read in place, a uint8 .npy or
                        IDX image file (and mnist) as bytes (v / 255); nothing is copied into memory
  --shuffle <order>     global (default: a seeded permutation of all rows each epoch) | blocks (shuffle the order of
                        blocks of consecutive rows and the rows within each: a mapped file is read in runs)
  --shuffle-block-rows <n>  rows per block of --shuffle blocks (${SHUFFLE_BLOCK_ROWS})
  --layer <name>        .h5ad: train on layers[name] (e.g. counts) instead of X
  --label-key <col>     .h5ad: the obs column whose categories label the rows (the latent plot's legend); .parquet:
                        the label column (strings or booleans as categories, or integers 0…255)
  --condition-key <col> .h5ad / .parquet: a conditional VAE on this column, one-hot (scVI's batch_key); it labels
                        the rows
  --columns <a,b,...>   .parquet: the numeric columns to train on, in this order (default: every numeric column but
                        the label column)
  --distributed         data-parallel training over the ranks of mpirun -np N (or srun): each batch split over the
                        ranks, gradients summed; rank 0 prints progress and writes the run folder
  --shard               with --distributed: each rank reads, trains and validates on its shard of the rows (rank r
                        of n: rows ⌊N r / n⌋ …) instead of holding them all; the same trajectory
  --latent <n>          latent dimensions (20)
  --arch <mlp|conv|file.json>  the networks: mlp (from --hidden; the default), conv (for images: conv 32 and 64
                        channels, kernel 4, stride 2 → dense 256, mirrored by transposed convolutions; height
                        and width divisible by 4) or a JSON file {"encoder": [...], "decoder": [...]} of layer specs
                        such as {"conv": {"channels": 32, "kernel": 4, "stride": 2, "padding": 1}}, {"dense": 256},
                        {"activation": "relu"}, {"reshape": [64, 7, 7]}, "flatten", {"convTranspose": {...}}
  --input-shape <c,h,w> the shape of one row for convolutions (default: 1,S,S when the data has S² columns)
  --hidden <w,w,...>    encoder hidden widths, mirrored by the decoder (400; --arch mlp)
  --activation <name>   ${ACTIVATIONS.join(' | ')} (relu), for --hidden and --arch conv
  --likelihood <name>   ${LIKELIHOODS.join(' | ')} (bernoulli)
  --sigma <s|shared|feature|decoder>  Gaussian σ / Laplace scale: a fixed number (1), 'shared' (one learned value),
                        'feature' (one per input feature) or 'decoder' (σ(z), a second decoder head)
  --min-sigma <x>       with --sigma decoder: the floor of σ(z) (1e-3)
  --conditional         a conditional VAE on the data's labels (one-hot); samples.png then shows one labelled row per label
  --labels <file>       labels of a file's rows (one column .npy / .csv of integers), for --conditional
  --prior-mixture <C>   a learned mixture-of-C-Gaussians prior (Monte-Carlo KL) instead of N(0, I)
  --library <mode>      count likelihoods: observed (the mean scales with each row's total count) | none (observed)
  --epochs <n>          passes over the training set (10)
  --batch-size <n>      examples per step (128)
  --lr <x>              Adam learning rate (1e-3)
  --weight-decay <x>    AdamW decoupled weight decay (0)
  --seed <n>            seed for weights, shuffling and noise (0)
  --threads <n>         compute threads, 0 = all cores (0)
  --precision <p>       fp32 (default) | bf16 (mixed precision: bf16 products, fp32 weights, Adam and losses; on
                        CPUs with AVX512-BF16 or AMX) | auto (bf16 where native, else fp32); also for eval, sample
  --binarize            dynamic binarisation: x ~ Bernoulli(pixel) at every step
  --objective <name>    elbo | iwae (elbo)
  --k <n>               IWAE importance samples per example (5)
  --samples <n>         ELBO draws of z per example (1)
  --beta <x>            weight of the KL term, β-VAE (1)
  --warmup <epochs>     KL warm-up: the KL weight rises linearly from 0 to β over this many epochs
  --free-bits <x>       free bits λ, nats per latent dimension (0)
  --aggressive          aggressive encoder training against posterior collapse (He et al. 2019) while I_q rises
  --adam-eps <x>        Adam's ε (1e-8)
  --lr-schedule <kind>  step | exponential | cosine | plateau, with --lr-step-size <epochs> and --lr-gamma <x> (step:
                        lr·γ^⌊epoch/size⌋, γ 0.1), --lr-gamma (exponential: lr·γ^epoch), --lr-warmup-steps <n> and
                        --lr-min <x> (cosine per step after a linear warm-up), --lr-factor <x> (0.1), --lr-patience
                        <epochs> (10) and --lr-min (plateau: ReduceLROnPlateau on the monitored loss)
  --clip-grad-norm <c>  scale each step's gradient to global L2 norm at most c
  --early-stopping <n>  stop after n epochs without improvement of the monitored loss by more than --min-delta <x>
                        (0); the model is then the best epoch's
  --monitor <which>     validation (the test split; the default) | train: the loss early stopping and plateau watch
  --checkpoint-every <n>  training checkpoints every n epochs (1): checkpoint-epoch-<k>, checkpoint-last and
                        checkpoint-best.safetensors in the run folder (Adam's state included)
  --keep-last <n>       checkpoint-epoch files kept (2)
  --resume <dir>        continue the run in <dir> from its checkpoint-last.safetensors with its recorded options
                        (--epochs is the total; other flags given must match the run's); bit-identical to a run that
                        never stopped at the same --threads
  --out <dir>           run folder (runs/mnist-vae)

The run folder holds model.safetensors, the training checkpoints, metrics.json (per epoch: loss, reconstruction, KL,
KL weight and learning rate; at the end: KL per dimension, active units and mutual information on the test split,
and when early stopping ended the run, when and why), loss.png (train and test curves with axes and a legend;
loss.svg and the Vega-Lite spec loss.vl.json beside it) and, for square images,
samples.png (8×8 decoded means from the prior), reconstructions.png (test images above their reconstructions),
interpolation.png (linear paths between test pairs), traversal.png (each latent dimension, labelled z1 …, swept
over [−3, 3] from a test image's mean) and latent.png (test means on their first two principal axes, a legend naming each label;
latent.svg and latent.vl.json beside it).
`;

/** The section of HELP for one command (and, for train, its options). */
export function commandHelp(command: string): string {
  const lines = HELP.split('\n');
  const start = lines.findIndex((l) => l.startsWith(`  latentkit ${command}`));
  let end = start + 1;
  while (end < lines.length && lines[end].startsWith('   ')) end++;
  const options = command === 'train' ? `\n${HELP.slice(HELP.indexOf('train options'))}` : '';
  return `Usage:\n${lines.slice(start, end).join('\n')}\n${options}`;
}
