"""How far one temperature can calibrate a simulate run's last network, off line, from
`examples/label_calibration`'s DUMP files (every image's split and refit logits, its
splits and truth): the round's temperature; a label-noise floor fitted beside it
(p' = (1 - e) softmax(z / T) + e / K, on the held-out answers: eps@T, and jointly with T:
joint); and bounds no method can use: the best (T, e) and T on the test split itself, and
the best T on the unasked images by likelihood and by ECE. Prints one CSV row per run,
attribute and method: test and unasked ECE and confidence - accuracy, and the unasked
images' ECE noise floor (a perfectly calibrated network's ECE on that many images).

    python scripts/calibration-shapes.py DUMP.csv RUN_DIR [DUMP.csv RUN_DIR ...]

scripts/bench-calibration-shapes.sh runs it on anime-faces-96-raw draws (BENCHMARKS.md,
label, session 46)."""
import csv, json, sys
import numpy as np

BINS = 15
def softmax(z, t):
    z = z / t
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)

def ece(conf, right):
    n = len(conf)
    if n == 0: return float('nan')
    b = np.minimum((conf * BINS).astype(int), BINS - 1)
    tot = 0.0
    for k in range(BINS):
        m = b == k
        if m.any():
            tot += m.sum() / n * abs(conf[m].mean() - right[m].mean())
    return tot

def probs(z, t, eps):
    p = softmax(z, t)
    k = z.shape[1]
    return (1 - eps) * p + eps / k

def nll(z, y, t, eps):
    p = probs(z, t, eps)
    return -np.log(p[np.arange(len(y)), y] + 1e-12).mean()

TS = np.exp(np.linspace(np.log(0.3), np.log(10), 160))
ES = np.linspace(0, 0.6, 61)

def fit_eps(z, y, t):
    return min(ES, key=lambda e: nll(z, y, t, e))

def fit_joint(z, y):
    best = min(((t, e) for t in TS for e in ES), key=lambda te: nll(z, y, *te))
    return best

def match_t(ref_z, ref_t, z):
    target = softmax(ref_z, ref_t).max(1).mean()
    # mean confidence falls as T grows
    lo, hi = 0.05, 50.0
    for _ in range(60):
        mid = np.sqrt(lo * hi)
        if softmax(z, mid).max(1).mean() > target: lo = mid
        else: hi = mid
    return np.sqrt(lo * hi)

def score(z, y, t, eps):
    p = probs(z, t, eps)
    conf = p.max(1); right = (p.argmax(1) == y).astype(float)
    return ece(conf, right), conf.mean() - right.mean()

def main(dump, run):
    rows = list(csv.DictReader(open(dump)))
    rnd = json.load(open(f"{run}/labels/rounds.json"))[-1]
    out = {}
    for attr in sorted({r['attribute'] for r in rows}):
        rs = [r for r in rows if r['attribute'] == attr]
        arr = lambda key: np.array([[float(v) for v in r[key].split(';')] for r in rs])
        R = arr('refit')
        # Without a refit the round's one network is both.
        S = arr('split') if all(r['split'] for r in rs) else R
        test = np.array([r['test'] == '1' for r in rs]); human = np.array([r['human'] == '1' for r in rs])
        cal = np.array([r['calibration'] == '1' for r in rs]); q = np.array([r['queued'] == '1' for r in rs])
        y = np.array([int(r['truth']) for r in rs])
        # the held-out answers: the store's value is the oracle's = truth
        ts = test & (y >= 0); un = ~test & (y >= 0) & ~human & ~q; pool = ~human
        c = cal & (y >= 0)
        t_split = rnd['temperature'][attr]
        t_refit = rnd.get('refit_temperature', rnd['temperature'])[attr]
        res = {}
        res['round'] = (t_refit, 0.0)
        e1 = fit_eps(S[c], y[c], t_split)
        res['eps@T'] = (t_refit, e1)
        tj, ej = fit_joint(S[c], y[c])
        res['joint'] = (match_t(S[pool], tj, R[pool]), ej)
        tb, eb = fit_joint(R[ts], y[ts])
        res['test-best'] = (tb, eb)
        tt = min(TS, key=lambda t: nll(R[ts], y[ts], t, 0))
        res['test-best-T'] = (tt, 0.0)
        tu = min(TS, key=lambda t: nll(R[un], y[un], t, 0))
        res['unasked-best-T'] = (tu, 0.0)
        tue = min(TS, key=lambda t: score(R[un], y[un], t, 0)[0])
        res['unasked-min-ece-T'] = (tue, 0.0)
        conf_u = probs(R[un], t_refit, 0).max(1)
        rng = np.random.default_rng(0)
        floor = np.mean([ece(conf_u, (rng.random(len(conf_u)) < conf_u).astype(float)) for _ in range(200)])
        print(f"# {attr} unasked floor at the round's T: {floor:.4f}")
        for k, (t, e) in res.items():
            et, gt = score(R[ts], y[ts], t, e); eu, gu = score(R[un], y[un], t, e)
            print(f"{run.split('/')[-1]},{attr},{k},{t:.2f},{e:.2f},{et:.4f},{gt:+.3f},{eu:.4f},{gu:+.3f},{c.sum()},{ts.sum()},{un.sum()}")

if __name__ == '__main__':
    print("run,attribute,method,T,eps,test_ece,test_conf-acc,unasked_ece,unasked_conf-acc,calib,test,unasked")
    for d, r in zip(sys.argv[1::2], sys.argv[2::2]):
        main(d, r)
