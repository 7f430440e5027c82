# bench/pytorch_vae.py — the PyTorch peer of bench/vae_vs_pytorch.js: the same 784-400-20 ReLU VAE (Bernoulli
# decoder with logits, closed-form KL, Adam 1e-3, batch 128, single-sample z), MNIST held in memory as one tensor.
# Usage: /usr/bin/python3 bench/pytorch_vae.py <images.f32 raw file> <rows> <epochs> <threads>
# Prints one JSON line: {"examplesPerSec": [...per epoch...], "trainLoss": [...], "threads": n, "torch": version}.
import json
import sys
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


class VAE(nn.Module):
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


def main():
    path, rows, epochs, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)  # its best configuration: denormals slow it by ~20% over a few epochs
    torch.manual_seed(0)
    x = torch.from_numpy(np.fromfile(path, dtype=np.float32).reshape(rows, 784))
    model = VAE()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    rates, losses = [], []
    for _ in range(epochs):
        perm = torch.randperm(rows)
        t0 = time.perf_counter()
        total = 0.0
        for i in range(0, rows, 128):
            xb = x[perm[i:i + 128]]
            logits, mu, logvar = model(xb)
            rec = F.binary_cross_entropy_with_logits(logits, xb, reduction='sum')
            kl = 0.5 * torch.sum(logvar.exp() + mu.pow(2) - 1 - logvar)
            loss = (rec + kl) / xb.shape[0]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * xb.shape[0]
        rates.append(rows / (time.perf_counter() - t0))
        losses.append(total / rows)
    print(json.dumps({"examplesPerSec": rates, "trainLoss": losses, "threads": threads, "torch": torch.__version__}))


if __name__ == '__main__':
    main()
