#!/usr/bin/env python3
"""Ways of pooling a cross-fitted round's networks, judged on the test split.

    scripts/label-pool.py RUN_DIR [MEMBERS.csv]

RUN_DIR is a `label simulate` folder after a `--cross-fit K` round, MEMBERS.csv what
`examples/label_members` wrote for it (default RUN_DIR/members.csv). The temperatures are
the last round's (`labels/rounds.json`), fitted on the members' out-of-fold predictions.
Per attribute, test accuracy and ECE (15 bins, as `calibrate::ece`) of:

  split    the split network alone at the round's temperature
  logits   the members' logits averaged, at the round's temperature (today's rounds)
  probs    the members' probabilities at that temperature averaged (a linear pool)
  matched  the logits averaged, at the temperature whose mean confidence on the
           unanswered images equals the linear pool's probability of the average's answers
  oof-avg  the logits averaged, at the temperature fitted on out-of-fold stand-ins for the
           average (each answered image's logits averaged over the members that never saw
           it: one here, so the members' own fit)
  platt    `logits`, its top confidence c mapped to sigmoid(a logit(c) + b) (Platt 1999 on
           the confidence's log-odds), a and b fitted on the out-of-fold predictions

and the reliability of `logits` and `probs` (confidence bins of 0.1: count, mean
confidence, share right). Pure Python, no packages.
"""
import csv
import json
import math
import sys

BINS = 15


def softmax(l, t):
    m = max(l)
    e = [math.exp((x - m) / t) for x in l]
    s = sum(e)
    return [x / s for x in e]


def ece(pairs):
    conf = [0.0] * BINS
    acc = [0.0] * BINS
    n = [0] * BINS
    for c, ok in pairs:
        b = min(int(c * BINS), BINS - 1)
        conf[b] += c
        acc[b] += ok
        n[b] += 1
    tot = len(pairs)
    return sum(n[b] / tot * abs(acc[b] - conf[b]) / n[b] for b in range(BINS) if n[b]) if tot else 0.0


def reliability(pairs):
    rows = []
    for lo in range(10):
        sel = [(c, ok) for c, ok in pairs if lo / 10 <= c < (lo + 1) / 10 or (lo == 9 and c >= 1)]
        if sel:
            rows.append(f"{lo/10:.1f}:{len(sel)} {sum(c for c, _ in sel)/len(sel):.2f}/{sum(o for _, o in sel)/len(sel):.2f}")
    return "  ".join(rows)


def top(p):
    k = max(range(len(p)), key=lambda i: p[i])
    return k, p[k]


def mean_conf(logit_rows, t):
    return sum(top(softmax(l, t))[1] for l in logit_rows) / max(len(logit_rows), 1)


def t_for_conf(logit_rows, target):
    """Bisection on ln T: mean top confidence falls as T rises."""
    lo, hi = math.log(0.05), math.log(50.0)
    for _ in range(60):
        mid = (lo + hi) / 2
        if mean_conf(logit_rows, math.exp(mid)) > target:
            lo = mid
        else:
            hi = mid
    return math.exp((lo + hi) / 2)


def fit_t(logit_rows, ys):
    def nll(t):
        s = 0.0
        for l, y in zip(logit_rows, ys):
            m = max(l)
            z = sum(math.exp((x - m) / t) for x in l)
            s -= (l[y] - m) / t - math.log(z)
        return s
    best = min((nll(math.exp(x / 50)), math.exp(x / 50)) for x in range(-70, 150))
    return best[1]


def logit(c):
    c = min(max(c, 1e-6), 1 - 1e-6)
    return math.log(c / (1 - c))


def fit_platt(pairs):
    """(a, b) minimising the log loss of sigmoid(a logit(c) + b) on (confidence, right)
    pairs, on a grid (a 0.2-2, b -1.5-1.5, steps of 0.05)."""
    best = None
    for a in (x / 20 for x in range(4, 41)):
        for b in (x / 20 for x in range(-30, 31)):
            s = 0.0
            for c, ok in pairs:
                p = min(max(1 / (1 + math.exp(-(a * logit(c) + b))), 1e-6), 1 - 1e-6)
                s -= math.log(p if ok else 1 - p)
            if best is None or s < best[0]:
                best = (s, a, b)
    return best[1], best[2]


def main():
    run = sys.argv[1]
    members_csv = sys.argv[2] if len(sys.argv) > 2 else f"{run}/members.csv"
    rounds = json.load(open(f"{run}/labels/rounds.json"))
    last = rounds[-1]
    rows = {}
    with open(members_csv) as f:
        for r in csv.DictReader(f):
            ms = [[float(x) for x in m.split()] for m in r["logits"].split("|")]
            rows.setdefault(r["attribute"], []).append((r["kind"], int(r["truth"]), int(r["fold"]), ms))
    for name, data in rows.items():
        t = last["temperature"][name]
        k = len(data[0][3])
        avg = lambda ms: [sum(m[j] for m in ms) / len(ms) for j in range(len(ms[0]))]
        test = [(y, ms) for kind, y, _, ms in data if kind == "test"]
        pool = [ms for kind, _, _, ms in data if kind == "pool"]
        oof = [(y, ms[f]) for kind, y, f, ms in data if kind == "answered" and f < k]
        # matched: the average's mean confidence on the pool = the linear pool's
        # probability of the average's answers there.
        pool_avg = [avg(ms) for ms in pool]
        target = 0.0
        for ms, la in zip(pool, pool_avg):
            yhat = top(softmax(la, t))[0]
            target += sum(softmax(m, t)[yhat] for m in ms) / len(ms)
        target /= max(len(pool), 1)
        t_match = t_for_conf(pool_avg, target)
        t_oof = fit_t([l for _, l in oof], [y for y, _ in oof]) if oof else t
        oof_pairs = []
        for y, l in oof:
            yhat, c = top(softmax(l, t))
            oof_pairs.append((c, yhat == y))
        pa, pb = fit_platt(oof_pairs) if oof_pairs else (1.0, 0.0)
        out = {}
        for rule in ["split", "logits", "probs", "matched", "oof-avg", "platt"]:
            pairs = []
            for y, ms in test:
                if rule == "split":
                    p = softmax(ms[0], t)
                elif rule == "logits":
                    p = softmax(avg(ms), t)
                elif rule == "probs":
                    ps = [softmax(m, t) for m in ms]
                    p = [sum(q[j] for q in ps) / len(ps) for j in range(len(ps[0]))]
                elif rule == "matched":
                    p = softmax(avg(ms), t_match)
                elif rule == "oof-avg":
                    p = softmax(avg(ms), t_oof)
                else:
                    p = softmax(avg(ms), t)
                yhat, c = top(p)
                if rule == "platt":
                    c = 1 / (1 + math.exp(-(pa * logit(c) + pb)))
                pairs.append((c, yhat == y))
            out[rule] = pairs
            acc = sum(o for _, o in pairs) / len(pairs)
            print(f"{name:10} {rule:8} acc {acc:.3f} ece {ece(pairs):.3f} mean conf {sum(c for c, _ in pairs)/len(pairs):.3f}")
        print(f"{name:10} T round {t:.3f} matched {t_match:.3f} (target {target:.3f}, at T {mean_conf(pool_avg, t):.3f}) oof-fit {t_oof:.3f}; platt a {pa:.2f} b {pb:.2f}; {k} members, {len(test)} test, {len(pool)} pool, {len(oof)} oof")
        for rule in ["logits", "probs"]:
            print(f"  {rule:7} {reliability(out[rule])}")


if __name__ == "__main__":
    main()
