#!/usr/bin/env python3
"""Turns bench-out/label/*/labels/simulate.json into a markdown table (stdlib only)."""
import json
import pathlib
import sys

out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "bench-out/label")
runs = {}
for p in sorted(out.glob("*/labels/simulate.json")):
    runs[p.parent.parent.name] = json.loads(p.read_text())
if not runs:
    sys.exit("no simulate.json under " + str(out))
first = next(iter(runs.values()))
print(f"Test split: {first['test_images']} images (never trained on, queued or calibrated on).\n")
print("Heuristic labels on the test split:\n")
print("| attribute | coverage | accuracy where it votes |")
print("|---|---|---|")
for a, s in first["heuristic"].items():
    print(f"| {a} | {s['coverage']:.3f} | {s['accuracy']:.3f} |")
print("\nCNN prediction on every test image (full coverage) after training on N oracle-labeled images:\n")
print("ECE (floor): the floor is the ECE a perfectly calibrated predictor with the same confidences")
print("would show on this test split (sampling noise alone; simulate.json's ece_floor).\n")
print("| run | strategy | N | hair acc | eye acc | hair ECE (floor) | eye ECE (floor) | accepted hair cov/acc | accepted eye cov/acc | round s |")
print("|---|---|---|---|---|---|---|---|---|---|")
for name, r in runs.items():
    for c in r["curve"]:
        acc, ece, ac = c["accuracy"], c["ece"], c["accepted"]
        floor = c.get("ece_floor", {})
        fl = lambda a: f" ({floor[a]:.3f})" if a in floor else ""
        # An attribute the test truth never names has no figure (simulate leaves it out).
        num = lambda m, a: f"{m[a]:.3f}" if a in m else "-"
        cov = lambda a: f"{ac[a]['coverage']:.2f}/{ac[a]['accuracy']:.3f}" if a in ac else "-"
        print(f"| {name} | {r['strategy']} | {c['labels']} | {num(acc, 'hair_color')} | {num(acc, 'eye_color')} "
              f"| {num(ece, 'hair_color')}{fl('hair_color')} | {num(ece, 'eye_color')}{fl('eye_color')} "
              f"| {cov('hair_color')} | {cov('eye_color')} | {c['seconds']:.0f} |")
print("\nHair / eye accuracy on the test split by oracle labels N:\n")
ns = sorted({c["labels"] for r in runs.values() for c in r["curve"]})
print("| run | " + " | ".join(str(n) for n in ns) + " |")
print("|---|" + "---|" * len(ns))
for name, r in runs.items():
    at = {c["labels"]: c["accuracy"] for c in r["curve"]}
    fig = lambda m, a: f"{m[a]:.3f}" if a in m else "-"
    cells = [f"{fig(at[n], 'hair_color')} / {fig(at[n], 'eye_color')}" if n in at else "-" for n in ns]
    print(f"| {name} | " + " | ".join(cells) + " |")
