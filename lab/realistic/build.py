#!/usr/bin/env python3
"""Builds the realistic evaluation set (lab/realistic/set) from its sources.

Every input is a public file under a licence that allows redistribution (see SOURCES.md):
real photographs with their mattes, real cut-outs (real alpha) laid on real photographed
surfaces with a shadow of their own shape, and the generator's shots as one category among
several (the generator's products on real surfaces, and its own scenes).

Output: CATEGORY__NAME.jpg with CATEGORY__NAME.alpha.png (the exact matte), what
`backdrop-lab realistic` and `lab/rembg_side_by_side.py` read.

Usage: build.py --sources DIR --generated DIR --out DIR
  DIR of sources: pymatting's data/lemur/{lemur.png,lemur_alpha.png,lemur_foreground.png}
  and scikit-image's data/{brick,grass,gravel,coffee,chelsea,rocket}.png/.jpg;
  generated: `backdrop-lab testset --out DIR --count 12 --seed 11 --size 1200x900`.
"""

import argparse
import random
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

SIZE = (1200, 900)

# Scenes with a competing salient object in them (a cup, a cat, a rocket): the product is
# not the most conspicuous thing in the picture.
CLUTTER = {"coffee", "chelsea", "rocket"}


def surface(path: Path, tint=None) -> Image.Image:
    """A photographed surface, cropped to 4:3 and brought to SIZE."""
    im = Image.open(path).convert("RGB")
    w, h = im.size
    if w * 3 > h * 4:
        nw = h * 4 // 3
        im = im.crop(((w - nw) // 2, 0, (w - nw) // 2 + nw, h))
    else:
        nh = w * 3 // 4
        im = im.crop((0, (h - nh) // 2, w, (h - nh) // 2 + nh))
    im = im.resize(SIZE, Image.BICUBIC)
    if tint is not None:
        a = np.asarray(im).astype(np.float32) * np.array(tint, np.float32)
        im = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    return im


def lay(fg: np.ndarray, alpha: np.ndarray, bg: Image.Image, height_share: float, rng: random.Random):
    """Lays a cut-out (RGB, alpha 0..1, cropped to its box) on a surface with a soft
    shadow of its own shape; returns the photo and its exact matte."""
    bw, bh = bg.size
    fh = int(bh * height_share)
    fw = max(1, int(fg.shape[1] * fh / fg.shape[0]))
    if fw > bw * 0.8:
        fw = int(bw * 0.8)
        fh = max(1, int(fg.shape[0] * fw / fg.shape[1]))
    fg_im = Image.fromarray(fg).resize((fw, fh), Image.LANCZOS)
    a_im = Image.fromarray((alpha * 255).astype(np.uint8)).resize((fw, fh), Image.LANCZOS)
    x = (bw - fw) // 2 + rng.randint(-bw // 10, bw // 10)
    y = bh - fh - rng.randint(bh // 20, bh // 6)
    matte = Image.new("L", bg.size, 0)
    matte.paste(a_im, (x, y))
    # The shadow: the shape offset away from the light, blurred, darkening the surface.
    dx, dy = rng.randint(-fw // 6, fw // 6), rng.randint(fh // 40, fh // 15)
    shadow = Image.new("L", bg.size, 0)
    shadow.paste(a_im, (x + dx, y + dy))
    shadow = shadow.filter(ImageFilter.GaussianBlur(max(2, fh // 40)))
    s = np.asarray(shadow).astype(np.float32) / 255.0 * rng.uniform(0.35, 0.6)
    out = np.asarray(bg).astype(np.float32) * (1.0 - s[..., None])
    canvas = np.zeros_like(out)
    canvas[y : y + fh, x : x + fw] = np.asarray(fg_im).astype(np.float32)
    m = np.asarray(matte).astype(np.float32)[..., None] / 255.0
    out = canvas * m + out * (1.0 - m)
    # Sensor noise before the JPEG.
    out += np.random.default_rng(rng.randint(0, 1 << 30)).normal(0, 2.0, out.shape)
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8)), matte


def crop_to_alpha(rgb: np.ndarray, alpha: np.ndarray):
    ys, xs = np.nonzero(alpha > 0.01)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    return rgb[y0:y1, x0:x1], alpha[y0:y1, x0:x1]


def save(out: Path, name: str, photo: Image.Image, matte: Image.Image, quality=88):
    photo.save(out / f"{name}.jpg", quality=quality)
    matte.save(out / f"{name}.alpha.png", optimize=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--sources", type=Path, required=True)
    p.add_argument("--generated", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    src, out = args.sources, args.out
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(15)

    # 1. A real photograph with its matte (pymatting's lemur, CC0).
    lemur = Image.open(src / "lemur.png").convert("RGB")
    lemur_alpha = Image.open(src / "lemur_alpha.png").convert("L")
    save(out, "photo__lemur", lemur, lemur_alpha)

    surfaces = {
        "brick": surface(src / "brick.png", (1.05, 0.85, 0.7)),
        "grass": surface(src / "grass.png", (0.8, 1.0, 0.7)),
        "gravel": surface(src / "gravel.png", (1.0, 0.95, 0.85)),
        "coffee": surface(src / "coffee.png"),
        "chelsea": surface(src / "chelsea.png"),
        "rocket": surface(src / "rocket.jpg"),
    }

    # 2. A real cut-out (the lemur's estimated foreground and alpha) on real surfaces.
    fg = np.asarray(Image.open(src / "lemur_foreground.png").convert("RGB"))
    a = np.asarray(lemur_alpha).astype(np.float32) / 255.0
    fg, a = crop_to_alpha(fg, a)
    for name in ["brick", "grass", "gravel", "coffee"]:
        photo, matte = lay(fg, a, surfaces[name], rng.uniform(0.5, 0.7), rng)
        category = "clutter" if name in CLUTTER else "cutout"
        save(out, f"{category}__lemur_on_{name}", photo, matte, quality=rng.choice([80, 88, 92]))

    # 3. The generator's products (exact mattes) on real surfaces, and 4. its own scenes.
    shots = sorted(args.generated.glob("*_*.jpg"))
    shots = [s for s in shots if (args.generated / f"{s.stem}.alpha.png").exists()]
    names = list(surfaces)
    laid = 0
    for shot in shots:
        rgb = np.asarray(Image.open(shot).convert("RGB"))
        alpha = np.asarray(Image.open(args.generated / f"{shot.stem}.alpha.png").convert("L"))
        alpha = alpha.astype(np.float32) / 255.0
        # Products touching the frame stay as shot: their cut-out is incomplete.
        if not shot.stem.endswith("touching"):
            frgb, fa = crop_to_alpha(rgb, alpha)
            name = names[laid % len(names)]
            laid += 1
            photo, matte = lay(frgb, fa, surfaces[name], rng.uniform(0.4, 0.65), rng)
            category = "clutter" if name in CLUTTER else "surface"
            save(out, f"{category}__{shot.stem}_on_{name}", photo, matte, quality=85)
        save(out, f"generated__{shot.stem}", Image.fromarray(rgb), Image.open(args.generated / f"{shot.stem}.alpha.png"))


if __name__ == "__main__":
    main()
