# bench/pytorch_bf16_gradient.py — how far PyTorch 1.13's own bf16 autocast moves a VAE's gradient from fp32: a
# 784-128-8 MLP VAE (Bernoulli logits, closed-form KL, batch 64 of random binary pixels, one fixed draw of ε), its
# loss and every weight and bias gradient in fp32 and under torch.autocast('cpu', dtype=torch.bfloat16), printing
# the loss's relative change and each tensor's ‖g16 − g32‖ / ‖g32‖ — the scale that test/precision.test.ts's bf16
# tolerances are set against. Usage: /usr/bin/python3 bench/pytorch_bf16_gradient.py
import torch, numpy as np
torch.manual_seed(0)
x = torch.rand(64, 784).round()
enc = torch.nn.Linear(784, 128); mu = torch.nn.Linear(128, 8); lv = torch.nn.Linear(128, 8); d0 = torch.nn.Linear(8, 128); d1 = torch.nn.Linear(128, 784)
params = [enc, mu, lv, d0, d1]
eps = torch.randn(64, 8)
def loss(bf):
    with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf):
        h = torch.relu(enc(x)); m = mu(h); l = lv(h)
        z = m + torch.exp(0.5 * l.float()) * eps
        y = d1(torch.relu(d0(z)))
    y = y.float()
    rec = torch.nn.functional.binary_cross_entropy_with_logits(y, x, reduction='sum') / 64
    kl = 0.5 * (torch.exp(l.float()) + m.float() ** 2 - 1 - l.float()).sum() / 64
    return rec + kl
for bf in [False, True]:
    for p in params: p.zero_grad()
    L = loss(bf); L.backward()
    g = [p.weight.grad.clone() for p in params] + [p.bias.grad.clone() for p in params]
    if not bf: g32 = g; L32 = L.item()
    else:
        print('loss rel', abs(L.item() - L32) / L32)
        for name, a, b in zip(['enc.w','mu.w','lv.w','d0.w','d1.w','enc.b','mu.b','lv.b','d0.b','d1.b'], g, g32):
            print(name, ((a - b).norm() / b.norm()).item())
