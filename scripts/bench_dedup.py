"""Near-duplicate precision on real faces (BENCHMARKS.md, prep, session 35).

bench_dedup.py BIN OUTDIR [BIN_OLD]: for four shared sets, (1) the dedup test's planted
copies (JPEG q40, 0.7x resize, +12% brightness, 3% border crop, PNG re-save, byte copy)
of 60 images among 240 others taken as they come (no look-alike filtering), prepped and
scored by pair precision and recall; (2) each set prepped whole, counting `near` rows and,
where file names tell people apart (Yale, ORL), those whose keeper is another person.
With BIN_OLD the same runs with another binary, side by side."""
import csv, io, os, shutil, subprocess, sys, time
import numpy as np
from PIL import Image

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")
SETS = ["anime-faces-64/images", "anime-faces-96-raw/images", "photos/caltech-faces", "photos/yale"]
WHOLE = ["photos/yale", "photos/att-orl", "photos/caltech-faces", "anime-faces-64", "anime-faces-96-raw"]


def planted(src, dst, n=60, m=240):
    os.makedirs(dst, exist_ok=True)
    files = [f for f in sorted(os.listdir(src))
             if os.path.isfile(os.path.join(src, f)) and not f.startswith("README")]
    files = files[::max(1, len(files) // (n + m))][: n + m]
    truth = {}
    for i, f in enumerate(files):
        p, g = os.path.join(src, f), f"g{i}"
        ext = os.path.splitext(f)[1] or ".gif"
        shutil.copy(p, os.path.join(dst, g + ext)); truth[g + ext] = g
        if i >= n:
            continue
        im = Image.open(p).convert("RGB"); w, h = im.size
        def put(name, img, fmt, **kw):
            img.save(os.path.join(dst, name), fmt, **kw); truth[name] = g
        put(g + "_q40.jpg", im, "JPEG", quality=40)
        put(g + "_small.png", im.resize((w * 7 // 10, h * 7 // 10), Image.LANCZOS), "PNG")
        bright = np.minimum(np.asarray(im, dtype=np.float32) * 1.12, 255).astype(np.uint8)
        put(g + "_bright.png", Image.fromarray(bright), "PNG")
        b = max(1, w * 3 // 100); put(g + "_crop.png", im.crop((b, b, w - b, h - b)), "PNG")
        put(g + "_resave.png", im, "PNG")
        shutil.copy(p, os.path.join(dst, g + "_copy" + ext)); truth[g + "_copy" + ext] = g
    return truth


def rows(out):
    return {r["source"]: r for r in csv.DictReader(open(os.path.join(out, "manifest.csv")))}


def score(truth, out):
    R = rows(out)
    pred = {s: (r["dup_of"] or s) for s, r in R.items() if r["status"] != "rejected"}
    names = list(truth); tp = fp = fn = 0
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            a, b = names[i], names[j]
            st = truth[a] == truth[b]
            sp = a in pred and b in pred and pred[a] == pred[b]
            tp += st and sp; fp += (not st) and sp; fn += st and not sp
    return tp / max(1, tp + fp), tp / max(1, tp + fn)


def prep(binary, src, out):
    shutil.rmtree(out, ignore_errors=True)
    t = time.time()
    subprocess.run([binary, "-q", "prep", src, "--out", out, "--jobs", "2"], check=True)
    return time.time() - t


def person(root, source):
    if "yale" in root:
        return source.split(".")[0]
    if "orl" in root:
        return os.path.dirname(source)
    return None


def main():
    bins = [("new", sys.argv[1])] + ([("old", sys.argv[3])] if len(sys.argv) > 3 else [])
    work = sys.argv[2]
    os.makedirs(work, exist_ok=True)
    print("| planted set | binary | pair precision | pair recall |")
    print("|---|---|---|---|")
    for s in SETS:
        name = s.replace("/", "-")
        raw = os.path.join(work, "raw-" + name)
        shutil.rmtree(raw, ignore_errors=True)
        truth = planted(os.path.join(DATA, s), raw)
        for tag, b in bins:
            out = os.path.join(work, f"out-{name}-{tag}")
            prep(b, raw, out)
            p, r = score(truth, out)
            print(f"| {s} | {tag} | {p:.4f} | {r:.4f} |")
    print()
    print("| whole set | binary | kept | near | near under another person | seconds |")
    print("|---|---|---|---|---|---|")
    for s in WHOLE:
        for tag, b in bins:
            out = os.path.join(work, f"whole-{s.replace('/', '-')}-{tag}")
            secs = prep(b, os.path.join(DATA, s), out)
            R = rows(out).values()
            near = [r for r in R if r["reason"] == "near"]
            other = [r for r in near if person(s, r["source"]) is not None
                     and person(s, r["source"]) != person(s, r["dup_of"])]
            kept = sum(r["status"] == "kept" for r in R)
            who = len(other) if person(s, "x.y/z") is not None else "-"
            print(f"| {s} | {tag} | {kept} | {len(near)} | {who} | {secs:.2f} |")


if __name__ == "__main__":
    main()
