# bench/pytorch_vae.py — the PyTorch peer of bench/vae_vs_pytorch.js, in its best configuration: the same VAE
# (Bernoulli decoder with logits, closed-form KL, Adam 1e-3, batch 128, single-sample z), MNIST held in memory as
# one tensor, torch.set_num_threads(threads), flush-to-zero, and glibc's malloc kept from trimming the heap after
# every step (M_MMAP_THRESHOLD 16 MB and M_TRIM_THRESHOLD 256 MB, both: without them PyTorch lost up to 2.7× to
# page faults on this machine kind, depending only on what the script happened to free at start-up).
#   mlp:  784-400-20 ReLU (nn.Linear layers).
#   conv: latentkit's 'conv' preset — Conv2d(1, 32, 4, 2, 1) ReLU, Conv2d(32, 64, 4, 2, 1) ReLU, Linear(3136, 256)
#         ReLU → mean / log-variance Linear(256, 20); Linear(20, 256) ReLU, Linear(256, 3136) ReLU, [64, 7, 7],
#         ConvTranspose2d(64, 32, 4, 2, 1) ReLU, ConvTranspose2d(32, 1, 4, 2, 1) → logits.
# bf16: the forward pass (and so its backward) under torch.autocast('cpu', dtype=torch.bfloat16), the losses in fp32
# (PyTorch's recipe for mixed precision on CPU; Adam and the master weights stay fp32).
# Usage: /usr/bin/python3 bench/pytorch_vae.py <images.f32 raw file> <rows> <epochs> <threads> [mlp|conv] [batch]
#        [fp32|bf16]
# Prints one JSON line: {"examplesPerSec": [...per epoch...], "trainLoss": [...], "threads": n, "torch": version}.
import ctypes
import json
import sys
import time

libc = ctypes.CDLL('libc.so.6')
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
libc.mallopt(M_MMAP_THRESHOLD, 16 << 20)
libc.mallopt(M_TRIM_THRESHOLD, 256 << 20)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402


class MlpVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def forward(self, x):
        h = F.relu(self.fc1(x))
        mu, logvar = self.fc21(h), self.fc22(h)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return self.fc4(F.relu(self.fc3(z))), mu, logvar


class ConvVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Conv2d(1, 32, 4, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(),
                                 nn.Flatten(), nn.Linear(3136, 256), nn.ReLU())
        self.mean = nn.Linear(256, 20)
        self.log_var = nn.Linear(256, 20)
        self.dec = nn.Sequential(nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 3136), nn.ReLU(),
                                 nn.Unflatten(1, (64, 7, 7)), nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(),
                                 nn.ConvTranspose2d(32, 1, 4, 2, 1), nn.Flatten())

    def forward(self, x):
        h = self.enc(x.view(-1, 1, 28, 28))
        mu, logvar = self.mean(h), self.log_var(h)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return self.dec(z), mu, logvar


def main():
    path, rows, epochs, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    arch = sys.argv[5] if len(sys.argv) > 5 else 'mlp'
    batch = int(sys.argv[6]) if len(sys.argv) > 6 else 128
    bf16 = (sys.argv[7] if len(sys.argv) > 7 else 'fp32') == 'bf16'
    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)  # denormals slow it by ~20% over a few epochs
    torch.manual_seed(0)
    x = torch.from_numpy(np.fromfile(path, dtype=np.float32).reshape(rows, 784))
    model = ConvVAE() if arch == 'conv' else MlpVAE()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    rates, losses = [], []
    for _ in range(epochs):
        perm = torch.randperm(rows)
        t0 = time.perf_counter()
        total = 0.0
        for i in range(0, rows, batch):
            xb = x[perm[i:i + batch]]
            with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
                logits, mu, logvar = model(xb)
            logits, mu, logvar = logits.float(), mu.float(), logvar.float()
            rec = F.binary_cross_entropy_with_logits(logits, xb, reduction='sum')
            kl = 0.5 * torch.sum(logvar.exp() + mu.pow(2) - 1 - logvar)
            loss = (rec + kl) / xb.shape[0]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * xb.shape[0]
        rates.append(rows / (time.perf_counter() - t0))
        losses.append(total / rows)
    print(json.dumps({"examplesPerSec": rates, "trainLoss": losses, "threads": threads, "torch": torch.__version__, "arch": arch,
                      "batch": batch, "precision": "bf16" if bf16 else "fp32"}))


if __name__ == '__main__':
    main()
