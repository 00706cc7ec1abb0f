"""Runs rembg (u2netp) over a Backdrop test set and writes its mattes as PNG.

Used by scripts/compare_rembg.sh; prints one JSON line with the timing. The model is
loaded once (not timed); each image is timed from its file bytes to the matte, REPEAT
times (env, default 1), and its median counts.
"""
import os
import statistics
import json
import sys
import time
from pathlib import Path

from PIL import Image
from rembg import new_session, remove


def main() -> None:
    src, dst = Path(sys.argv[1]), Path(sys.argv[2])
    dst.mkdir(parents=True, exist_ok=True)
    session = new_session("u2netp")
    inputs = sorted(p for p in src.glob("*.jpg") if (src / f"{p.stem}.alpha.png").exists())
    repeat = max(1, int(os.environ.get("REPEAT", "1")))
    per_image = []
    for path in inputs:
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            image = Image.open(path)
            image.load()
            mask = remove(image, session=session, only_mask=True)
            times.append(time.perf_counter() - started)
        per_image.append(statistics.median(times))
        mask.convert("L").save(dst / f"{path.stem}.png")
    print(json.dumps({"images": len(per_image), "total_s": sum(per_image), "mean_ms": 1000 * sum(per_image) / max(1, len(per_image))}))


if __name__ == "__main__":
    main()
