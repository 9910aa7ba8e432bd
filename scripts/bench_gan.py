#!/usr/bin/env python3
"""PyTorch peer of facesynth's GAN training step, for scripts/bench-gan.sh.

The same networks as facesynth's `dcgan` and `acgan` (the DCGAN of pytorch/examples scaled
to the size; ACGAN: label embeddings joined to z, an auxiliary classifier head on D), batch
64, nz 100, width 64, Adam(2e-4, 0.5), one D and one G update per step on random data.
Prints one CSV line per configuration: model,size,ms_per_step.

usage: bench_gan.py --threads 2 --steps 10 [--configs dcgan:32,dcgan:64,acgan:32,acgan:64]
"""
import argparse
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def layout(size):
    base = 7 if size % 7 == 0 else 4
    return base, int(math.log2(size // base))


class G(nn.Module):
    def __init__(self, size, nz, ngf, nc, classes, embed):
        super().__init__()
        base, stages = layout(size)
        c = ngf * 2 ** (stages - 1)
        self.embed = nn.Embedding(classes, embed) if classes else None
        layers = [nn.ConvTranspose2d(nz + (embed if classes else 0), c, base, 1, 0, bias=False),
                  nn.BatchNorm2d(c), nn.ReLU(True)]
        for _ in range(1, stages):
            layers += [nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(c // 2), nn.ReLU(True)]
            c //= 2
        layers += [nn.ConvTranspose2d(c, nc, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, z, y=None):
        if self.embed is not None:
            z = torch.cat([z, self.embed(y)], 1)
        return self.main(z[:, :, None, None])


class D(nn.Module):
    def __init__(self, size, ndf, nc, classes):
        super().__init__()
        base, stages = layout(size)
        c = ndf
        layers = [nn.Conv2d(nc, c, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        for _ in range(1, stages):
            layers += [nn.Conv2d(c, c * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(c * 2), nn.LeakyReLU(0.2, True)]
            c *= 2
        self.body = nn.Sequential(*layers)
        self.adv = nn.Conv2d(c, 1, base)
        self.aux = nn.Conv2d(c, classes, base) if classes else None

    def forward(self, x):
        h = self.body(x)
        aux = self.aux(h).flatten(1) if self.aux is not None else None
        return self.adv(h).flatten(), aux


def bench(model, size, steps, batch=64, nz=100, width=64, classes=12):
    k = classes if model == "acgan" else 0
    g, d = G(size, nz, width, 3, k, 50), D(size, width, 3, k)
    og = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999))
    od = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999))
    real = torch.rand(batch, 3, size, size) * 2 - 1
    y = torch.randint(0, max(k, 1), (batch,))
    ones, zeros = torch.ones(batch), torch.zeros(batch)

    def step():
        z = torch.randn(batch, nz)
        yf = torch.randint(0, max(k, 1), (batch,))
        fake = g(z, yf if k else None)
        od.zero_grad()
        ar, cr = d(real)
        af, cf = d(fake.detach())
        loss = F.binary_cross_entropy_with_logits(ar, ones) + F.binary_cross_entropy_with_logits(af, zeros)
        if k:
            loss = loss + F.cross_entropy(cr, y) + F.cross_entropy(cf, yf)
        loss.backward()
        od.step()
        og.zero_grad()
        ag, cg = d(fake)
        loss = F.binary_cross_entropy_with_logits(ag, ones)
        if k:
            loss = loss + F.cross_entropy(cg, yf)
        loss.backward()
        og.step()

    for _ in range(2):
        step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t) / steps * 1000


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--configs", default="dcgan:32,dcgan:64,acgan:32,acgan:64")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    for cfg in a.configs.split(","):
        model, size = cfg.split(":")
        ms = bench(model, int(size), a.steps)
        print(f"{model},{size},{ms:.1f}", flush=True)


if __name__ == "__main__":
    main()
