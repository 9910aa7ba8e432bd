#!/usr/bin/env python3
"""Side-by-side benchmark helper for facesynth's cascade detector vs OpenCV.

Subcommands (run by scripts/bench-detect.sh):
  prepare DATA OUT   write the test sets as grey PNGs (decoded and converted by OpenCV,
                     so both detectors see identical pixels) plus truth.csv for the
                     pasted anime set
  opencv OUT SET CASCADE THREADS   time cv2.CascadeClassifier on a set, write boxes
  compare OUT        agreement, recall, non-face rate and speed ratios as Markdown
"""
import csv
import glob
import json
import os
import sys
import time

import cv2
import numpy as np

SETTINGS = dict(scaleFactor=1.1, minNeighbors=5, minSize=(24, 24))
REPEATS = 2


def gray_png(src, dst):
    img = cv2.imread(src, cv2.IMREAD_COLOR)
    g = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    cv2.imwrite(dst, g)


def prepare(data, out):
    sets = {
        "caltech-faces": sorted(glob.glob(f"{data}/photos/caltech-faces/*.jpg")),
        "caltech-nonfaces": sorted(glob.glob(f"{data}/photos/caltech-nonfaces/*/*.jpg")),
    }
    for name, files in sets.items():
        d = f"{out}/{name}"
        os.makedirs(d, exist_ok=True)
        for i, f in enumerate(files):
            gray_png(f, f"{d}/{i:05d}.png")
    # 500 anime crops (every 16th by name), upscaled 2x, pasted on a plain canvas.
    crops = sorted(glob.glob(f"{data}/anime-faces-96-raw/images/*.jpg"))[::16][:500]
    d = f"{out}/anime-pasted"
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(7)
    with open(f"{out}/anime-pasted.truth.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "x", "y", "w", "h"])
        for i, f in enumerate(crops):
            crop = cv2.imread(f, cv2.IMREAD_COLOR)
            big = cv2.resize(crop, (crop.shape[1] * 2, crop.shape[0] * 2), interpolation=cv2.INTER_LINEAR)
            ch, cw = int(big.shape[0] * 5 / 3), big.shape[1] * 2
            shade = int(rng.integers(170, 250))
            canvas = np.full((ch, cw, 3), shade, np.uint8)
            x = int(rng.integers(0, cw - big.shape[1] + 1))
            y = int(rng.integers(0, ch - big.shape[0] + 1))
            canvas[y:y + big.shape[0], x:x + big.shape[1]] = big
            name = f"{i:05d}.png"
            cv2.imwrite(f"{d}/{name}", cv2.cvtColor(canvas, cv2.COLOR_BGR2GRAY))
            w.writerow([name, x, y, big.shape[1], big.shape[0]])


def load_set(out, name):
    files = sorted(glob.glob(f"{out}/{name}/*.png"))
    return files, [cv2.imread(f, cv2.IMREAD_GRAYSCALE) for f in files]


def run_opencv(out, name, cascade, threads):
    cv2.setNumThreads(int(threads))
    files, imgs = load_set(out, name)
    cc = cv2.CascadeClassifier(cascade)
    assert not cc.empty(), cascade
    best, boxes = None, None
    for _ in range(REPEATS):
        t = time.perf_counter()
        res = []
        for g in imgs:
            eq = cv2.equalizeHist(g)
            found = cc.detectMultiScale(eq, **SETTINGS)
            res.append([[int(v) for v in b] for b in found])
        el = time.perf_counter() - t
        if best is None or el < best:
            best, boxes = el, res
    tag = os.path.splitext(os.path.basename(cascade))[0]
    result = {"seconds": best, "images": len(imgs),
              "boxes": {os.path.basename(f): b for f, b in zip(files, boxes)}}
    with open(f"{out}/opencv.{name}.{tag}.t{threads}.json", "w") as fh:
        json.dump(result, fh)


def iou(a, b):
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    if x1 <= x0 or y1 <= y0:
        return 0.0
    inter = (x1 - x0) * (y1 - y0)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def matched(boxes, others):
    return sum(1 for b in boxes if any(iou(b, o) >= 0.5 for o in others))


def compare(out):
    runs = {}
    for f in glob.glob(f"{out}/*.json"):
        who, name, tag, threads = os.path.basename(f)[:-5].split(".")
        with open(f) as fh:
            runs[(who, name, tag, threads)] = json.load(fh)
    truth = {}
    with open(f"{out}/anime-pasted.truth.csv") as fh:
        for r in csv.DictReader(fh):
            truth[r["file"]] = [int(r[k]) for k in ("x", "y", "w", "h")]
    lines = ["| cascade | set | threads | OpenCV img/s | facesynth img/s | speed ratio | agreement (OpenCV boxes found) | facesynth boxes OpenCV found |",
             "|---|---|---|---|---|---|---|---|"]
    quality = ["| cascade | set | OpenCV | facesynth |", "|---|---|---|---|"]
    for (who, name, tag, threads), cv in sorted(runs.items()):
        if who != "opencv":
            continue
        fs = runs.get(("facesynth", name, tag, threads))
        if fs is None:
            continue
        n_cv = sum(len(b) for b in cv["boxes"].values())
        n_fs = sum(len(b) for b in fs["boxes"].values())
        agree = sum(matched(cv["boxes"][k], fs["boxes"].get(k, [])) for k in cv["boxes"])
        back = sum(matched(fs["boxes"][k], cv["boxes"].get(k, [])) for k in fs["boxes"])
        cv_ips, fs_ips = cv["images"] / cv["seconds"], fs["images"] / fs["seconds"]
        lines.append(f"| {tag} | {name} ({cv['images']}) | {threads} | {cv_ips:.1f} | {fs_ips:.1f} | "
                     f"{fs_ips / cv_ips:.2f}x | {agree}/{n_cv} = {agree / max(n_cv, 1):.3f} | "
                     f"{back}/{n_fs} = {back / max(n_fs, 1):.3f} |")
        if threads != "t1":
            continue
        if name == "anime-pasted":
            rec = [sum(1 for k, t in truth.items() if any(iou(b, t) >= 0.5 for b in r["boxes"].get(k, [])))
                   for r in (cv, fs)]
            quality.append(f"| {tag} | anime-pasted: found at IoU >= 0.5 | {rec[0]}/{len(truth)} | {rec[1]}/{len(truth)} |")
        else:
            hit = [sum(1 for b in r["boxes"].values() if b) for r in (cv, fs)]
            what = "images with a face" if name == "caltech-faces" else "images with a (false) box"
            quality.append(f"| {tag} | {name}: {what} | {hit[0]}/{cv['images']} | {hit[1]}/{fs['images']} |")
    print("\n".join(lines))
    print()
    print("\n".join(quality))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "prepare":
        prepare(sys.argv[2], sys.argv[3])
    elif cmd == "opencv":
        run_opencv(*sys.argv[2:6])
    elif cmd == "compare":
        compare(sys.argv[2])
    else:
        sys.exit(f"unknown subcommand {cmd}")
