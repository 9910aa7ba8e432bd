"""Python peer for the prep benchmark: what a user would otherwise write.

Pillow decode -> centre square crop -> 64 px Lanczos -> imagehash pHash -> PNG, with a
multiprocessing pool of N processes. Prints one JSON line with files/s.
usage: prep_peer.py DIR JOBS OUT
"""
import json
import os
import sys
import time
from multiprocessing import Pool

import imagehash
from PIL import Image

OUT = None


def work(path):
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            w, h = im.size
            s = min(w, h)
            im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
            im = im.resize((64, 64), Image.LANCZOS)
            ph = str(imagehash.phash(im))
            name = os.path.join(OUT, os.path.basename(path) + ".png")
            im.save(name)
            return ph
    except Exception:
        return None


def init(out):
    global OUT
    OUT = out


def main():
    src, jobs, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    os.makedirs(out, exist_ok=True)
    files = sorted(os.path.join(r, f) for r, _, fs in os.walk(src) for f in fs)
    t = time.time()
    with Pool(jobs, initializer=init, initargs=(out,)) as pool:
        hashes = pool.map(work, files, chunksize=64)
    dt = time.time() - t
    ok = sum(h is not None for h in hashes)
    print(json.dumps({"files": len(files), "ok": ok, "jobs": jobs, "peer_per_s": round(len(files) / dt, 1)}))


if __name__ == "__main__":
    main()
