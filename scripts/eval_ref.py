#!/usr/bin/env python3
"""Reference values for facesynth's eval metrics on the same feature vectors.

Reads the .npy feature sets and rust.json written by `examples/eval_reference.rs`, computes
FID as pytorch-fid's calculate_frechet_distance (scipy.linalg.sqrtm), the unbiased
polynomial-kernel MMD^2 of KID as torch-fidelity's polynomial_mmd (one full-size subset),
and precision/recall/density/coverage with the `prdc` package (Naeem et al. 2020, k=5).
Prints a markdown table of both sides and their differences, times the Python side on
the 10,000-image case, and exits 1 if any difference exceeds 1e-3 (relative for FID/KID
above 1).

usage: eval_ref.py DIR
"""
import json
import warnings
import sys
import time

import numpy as np
from scipy import linalg
from prdc import compute_prdc

warnings.filterwarnings("ignore", category=DeprecationWarning)


def fid(a, b):
    # pytorch-fid, src/pytorch_fid/fid_score.py: calculate_frechet_distance
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    diff = mu1 - mu2
    covmean, _ = linalg.sqrtm(s1.dot(s2), disp=False)
    if not np.isfinite(covmean).all():
        offset = np.eye(s1.shape[0]) * 1e-6
        covmean = linalg.sqrtm((s1 + offset).dot(s2 + offset))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def mmd2(x, y):
    # torch-fidelity, torch_fidelity/metric_kid.py: polynomial_mmd (degree 3, gamma 1/d, coef0 1)
    d = x.shape[1]
    kxx = (x @ x.T / d + 1) ** 3
    kyy = (y @ y.T / d + 1) ** 3
    kxy = (x @ y.T / d + 1) ** 3
    m = x.shape[0]
    a = (kxx.sum() - np.diag(kxx).sum()) + (kyy.sum() - np.diag(kyy).sum())
    return float(a / (m * (m - 1)) - 2 * kxy.sum() / (m * m))


def kid_subsets(x, y, subsets=100, size=1000, seed=0):
    rng = np.random.RandomState(seed)
    m = min(size, len(x), len(y))
    v = [mmd2(x[rng.choice(len(x), m, replace=False)], y[rng.choice(len(y), m, replace=False)])
         for _ in range(subsets)]
    return float(np.mean(v)), float(np.std(v))


def main():
    out = sys.argv[1]
    rust = json.load(open(f"{out}/rust.json"))
    a = np.load(f"{out}/real_a.npy").astype(np.float64)
    rows, worst = [], 0.0
    for name in ["real_a", "real_b", "noise", "repeated"]:
        b = np.load(f"{out}/{name}.npy").astype(np.float64)
        m = min(len(a), len(b))
        p = compute_prdc(real_features=a, fake_features=b, nearest_k=5)
        ref = {"fid": fid(a, b), "kid": mmd2(a[:m], b[:m]), **p}
        for k, v in ref.items():
            r = rust[name][k]
            d = abs(r - v) / max(1.0, abs(v)) if k in ("fid", "kid") else abs(r - v)
            worst = max(worst, d)
            rows.append((name, k, r, v, d))
    print("| set (vs real half A) | metric | facesynth | reference | difference |")
    print("|---|---|---|---|---|")
    for n, k, r, v, d in rows:
        print(f"| {n} | {k} | {r:.6g} | {v:.6g} | {d:.1e} |")
    print(f"\nlargest difference: {worst:.1e} (goal 1e-3)")

    real = np.load(f"{out}/real_all.npy")
    gen = np.load(f"{out}/gen_10k.npy")
    t = {}
    s = time.time(); fid(real.astype(np.float64), gen.astype(np.float64)); t["fid"] = time.time() - s
    s = time.time(); kid_subsets(real, gen); t["kid_100x1000"] = time.time() - s
    s = time.time(); compute_prdc(real_features=real, fake_features=gen, nearest_k=5); t["prdc"] = time.time() - s
    print("\n| stage (10,000 vs real) | facesynth s | python s | ratio |")
    print("|---|---|---|---|")
    for k, v in t.items():
        r = rust["timings"][k]
        print(f"| {k} | {r:.2f} | {v:.2f} | {r / v:.2f} |")
    json.dump(t, open(f"{out}/python_times.json", "w"))
    sys.exit(0 if worst <= 1e-3 else 1)


if __name__ == "__main__":
    main()
