//! `backdrop-lab`: the built-in engine's developer bench.
//!
//! `testset` renders product shots with exact mattes; `eval` cuts them out (or reads
//! another tool's mattes with `--preds`) and prints IoU, boundary F-measure and SAD per
//! image, then the mean and the worst. Quality claims in the README come from here.
//! `examples` writes the README's example pair; `scenes` the preset scenes; `formats` the
//! README's strips of the seller formats; `composite` times the built-in composition.
//! It lives in the lab crate, not in the product: `cargo run -p backdrop-lab`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use backdrop::engine::local::{Segmenter, cutout_with};
use backdrop::input_image::{ImageLimits, InputImage};
use backdrop_lab::evaluate::{BOUNDARY_TOLERANCE, Scores, score, summarize};
use backdrop_lab::testset;
use clap::{Parser, Subcommand};
use image::GrayImage;
use rayon::prelude::*;

/// The command line: one subcommand per lab task.
#[derive(Parser)]
#[command(
    about = "Test-set generator and matte evaluation for Backdrop's built-in engine",
    long_about = None
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// What the lab can do: make inputs with known answers, and measure the engine on them.
#[derive(Subcommand)]
enum Command {
    /// Render product shots (NNN_kind.jpg) with exact mattes (NNN_kind.alpha.png) and two
    /// scenes (background_1.jpg, background_2.jpg) into DIR.
    Testset {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 24)]
        count: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// WIDTHxHEIGHT of each shot.
        #[arg(long, default_value = "1200x900", value_parser = parse_size)]
        size: (u32, u32),
    },
    /// Write the README's example pair: a product on a plain sweep and a scene.
    Examples {
        #[arg(long, default_value = "examples")]
        out: PathBuf,
    },
    /// Render the preset scenes `backdrop` embeds (NAME.jpg) into DIR (`scenes/`).
    Scenes {
        #[arg(long, default_value = "scenes")]
        out: PathBuf,
        /// WIDTHxHEIGHT of each scene.
        #[arg(long, default_value = "1600x1200", value_parser = parse_size)]
        size: (u32, u32),
        /// JPEG quality.
        #[arg(long, default_value_t = 84)]
        quality: u8,
    },
    /// Write the README's before/after strip of each seller format (FORMAT.jpg: the product
    /// photo, the scene, the result) into DIR (`docs/formats/`).
    Formats {
        #[arg(long, default_value = "docs/formats")]
        out: PathBuf,
        /// The product photo.
        #[arg(long, default_value = "examples/photo/coffee.jpg")]
        product: PathBuf,
        /// The scene (a preset's file).
        #[arg(long, default_value = "scenes/marble.jpg")]
        scene: PathBuf,
        /// Height of the strip.
        #[arg(long, default_value_t = 360)]
        height: u32,
    },
    /// Run the built-in composition (as `backdrop generate --engine local`), with timing.
    Composite {
        #[arg(long)]
        product: PathBuf,
        #[arg(long)]
        background: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Score mattes against the set's exact mattes: ours (cutout) or another tool's.
    Eval {
        dir: PathBuf,
        #[command(flatten)]
        scoring: Scoring,
        /// Time each cut this many times and report the median (shared machines are noisy).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
        repeat: u32,
    },
    /// Score a set of CATEGORY__NAME.jpg with CATEGORY__NAME.alpha.png (the realistic set,
    /// lab/realistic/) per category: mean IoU, worst IoU, boundary F. Ours, or another
    /// tool's mattes with `--preds`.
    Realistic {
        dir: PathBuf,
        #[command(flatten)]
        scoring: Scoring,
    },
}

/// How a set is scored: whose mattes, where ours go, and how the result is printed.
#[derive(clap::Args)]
struct Scoring {
    /// Read predicted mattes from PREDS (alpha channel, or gray levels) instead of running
    /// the built-in cutout.
    #[arg(long)]
    preds: Option<PathBuf>,
    /// Also write our cutouts (RGBA PNG) into this directory.
    #[arg(long)]
    save: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// How the built-in engine finds the product.
    #[arg(long, value_enum, default_value = "learned")]
    segmenter: Segmenter,
}

fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s.split_once(['x', 'X']).ok_or("expected WIDTHxHEIGHT")?;
    let w: u32 = w.trim().parse().map_err(|_| "bad width")?;
    let h: u32 = h.trim().parse().map_err(|_| "bad height")?;
    if w < 8 || h < 8 || w > 12_000 || h > 12_000 {
        return Err("sides must be within 8..12000".into());
    }
    Ok((w, h))
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Testset { out, count, seed, size } => write_testset(&out, count, seed, size),
        Command::Eval { dir, scoring: s, repeat } => {
            eval(&dir, s.preds.as_deref(), s.save.as_deref(), s.json, repeat, s.segmenter)
        }
        Command::Realistic { dir, scoring: s } => {
            realistic(&dir, s.preds.as_deref(), s.save.as_deref(), s.json, s.segmenter)
        }
        Command::Examples { out } => write_examples(&out),
        Command::Scenes { out, size, quality } => write_scenes(&out, size, quality),
        Command::Formats { out, product, scene, height } => {
            write_format_strips(&out, &product, &scene, height)
        }
        Command::Composite { product, background, out } => run_composite(&product, &background, &out),
    }
}

fn write_testset(out: &Path, count: usize, seed: u64, (w, h): (u32, u32)) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    (0..count).into_par_iter().try_for_each(|i| -> Result<()> {
        let shot = testset::shot(seed, i, w, h);
        let stem = format!("{:03}_{}", i, shot.kind.name());
        std::fs::write(out.join(format!("{stem}.jpg")), testset::jpeg(&shot.image, shot.jpeg_quality)?)?;
        shot.alpha.save(out.join(format!("{stem}.alpha.png")))?;
        Ok(())
    })?;
    for v in 0..2 {
        let scene = testset::scene(seed, v, w, h);
        std::fs::write(out.join(format!("background_{}.jpg", v + 1)), testset::jpeg(&scene, 90)?)?;
    }
    println!("wrote {count} shots ({w}x{h}, seed {seed}) and 2 backgrounds to {}", out.display());
    Ok(())
}

fn write_examples(out: &Path) -> Result<()> {
    std::fs::create_dir_all(out)?;
    let shot = testset::example_product(1600, 1200);
    std::fs::write(out.join("product.jpg"), testset::jpeg(&shot, 88)?)?;
    let scene = testset::scene(7, 0, 1600, 1200);
    std::fs::write(out.join("background.jpg"), testset::jpeg(&scene, 88)?)?;
    println!("wrote {0}/product.jpg and {0}/background.jpg", out.display());
    Ok(())
}

fn write_scenes(out: &Path, (w, h): (u32, u32), quality: u8) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for recipe in &backdrop_lab::scenes::RECIPES {
        let image = backdrop_lab::scenes::render(recipe, w, h);
        let bytes = testset::jpeg(&image, quality)?;
        let path = out.join(format!("{}.jpg", recipe.name));
        std::fs::write(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;
        println!("{} ({} KB)", path.display(), bytes.len() / 1024);
    }
    Ok(())
}

fn write_format_strips(out: &Path, product: &Path, scene: &Path, height: u32) -> Result<()> {
    use backdrop::engine::local::{Stop, render};
    use backdrop::output::{Look, OutputFormat};
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let (product, scene) = (load(product)?, load(scene)?);
    let to_height = |img: &image::RgbImage| {
        let w = (f64::from(img.width()) * f64::from(height) / f64::from(img.height())).round() as u32;
        image::imageops::resize(img, w.max(1), height, image::imageops::FilterType::Lanczos3)
    };
    let before = [to_height(&product.decode()?.into_rgb8()), to_height(&scene.decode()?.into_rgb8())];
    for format in OutputFormat::ALL {
        let look = Look { format, ..Look::default() };
        let result = render(&product, &scene, Segmenter::Learned, look, &Stop::default())?;
        let parts = [&before[0], &before[1], &to_height(&result)];
        let gap = 12;
        let width = parts.iter().map(|p| p.width()).sum::<u32>() + gap * 2;
        let mut strip = image::RgbImage::from_pixel(width, height, image::Rgb([255, 255, 255]));
        let mut x = 0;
        for part in parts {
            image::imageops::overlay(&mut strip, part, i64::from(x), 0);
            x += part.width() + gap;
        }
        let path = out.join(format!("{format}.jpg"));
        std::fs::write(&path, testset::jpeg(&strip, 85)?)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("{} ({}x{})", path.display(), result.width(), result.height());
    }
    Ok(())
}

fn load(path: &Path) -> Result<InputImage> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    InputImage::parse(bytes, &ImageLimits::default()).with_context(|| format!("reading {}", path.display()))
}

fn run_composite(product: &Path, background: &Path, out: &Path) -> Result<()> {
    let (product, background) = (load(product)?, load(background)?);
    let started = Instant::now();
    let image = backdrop::engine::local::composite(&product, &background)?;
    let elapsed = started.elapsed();
    let ext = out.extension().and_then(|e| e.to_str()).unwrap_or("png");
    let (bytes, _) = backdrop::engine::local::encode(&image::DynamicImage::ImageRgb8(image), ext)?;
    std::fs::write(out, bytes)?;
    println!("composited in {:.0} ms -> {}", elapsed.as_secs_f64() * 1000.0, out.display());
    Ok(())
}

/// The set's inputs: `NNN_kind.jpg` with a matching `NNN_kind.alpha.png`.
fn inputs(dir: &Path) -> Result<Vec<(String, PathBuf, PathBuf)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else { continue };
        let Some(stem) = name.strip_suffix(".jpg") else { continue };
        let truth = dir.join(format!("{stem}.alpha.png"));
        if truth.exists() {
            found.push((stem.to_string(), path.clone(), truth));
        }
    }
    found.sort();
    if found.is_empty() {
        bail!("no NNN_kind.jpg with NNN_kind.alpha.png in {}", dir.display());
    }
    Ok(found)
}

fn predicted_matte(path: &Path) -> Result<GrayImage> {
    let img = image::open(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(if img.color().has_alpha() {
        let rgba = img.to_rgba8();
        GrayImage::from_fn(rgba.width(), rgba.height(), |x, y| image::Luma([rgba.get_pixel(x, y)[3]]))
    } else {
        img.to_luma8()
    })
}

/// One image's scores and cut time: a line of the table, an element of the JSON.
#[derive(serde::Serialize)]
struct Row {
    name: String,
    iou: f64,
    boundary_f: f64,
    sad: f64,
    ms: f64,
    error: Option<String>,
}

fn eval(
    dir: &Path,
    preds: Option<&Path>,
    save: Option<&Path>,
    json: bool,
    repeat: u32,
    segmenter: Segmenter,
) -> Result<()> {
    let rows = score_rows(dir, preds, save, repeat, segmenter)?;
    print_rows(&rows, json)
}

/// Scores every input of `dir`: ours (cut here, timed) or the mattes in `preds`.
fn score_rows(
    dir: &Path,
    preds: Option<&Path>,
    save: Option<&Path>,
    repeat: u32,
    segmenter: Segmenter,
) -> Result<Vec<Row>> {
    if let Some(save) = save {
        std::fs::create_dir_all(save)?;
    }
    let mut rows = Vec::new();
    for (name, input, truth_path) in inputs(dir)? {
        let truth = image::open(&truth_path)?.to_luma8();
        let (pred, ms) = match preds {
            Some(preds) => {
                (predicted_matte(&preds.join(format!("{name}.png"))).map_err(|e| e.to_string()), 0.0)
            }
            None => {
                let bytes = std::fs::read(&input)?;
                // From the file's bytes to the matte, as the rembg script times it.
                let mut times = Vec::new();
                let mut cut = Err(String::new());
                for _ in 0..repeat {
                    let bytes = bytes.clone();
                    let started = Instant::now();
                    cut = InputImage::parse(bytes, &ImageLimits::default())
                        .map_err(|e| e.to_string())
                        .and_then(|img| cutout_with(&img, segmenter).map_err(|e| e.to_string()));
                    times.push(started.elapsed().as_secs_f64() * 1000.0);
                }
                times.sort_by(f64::total_cmp);
                if let (Some(save), Ok(rgba)) = (save, &cut) {
                    rgba.save(save.join(format!("{name}.png")))?;
                }
                let matte = cut.map(|rgba| {
                    let alpha = rgba.as_raw().chunks_exact(4).map(|p| p[3]).collect();
                    GrayImage::from_raw(rgba.width(), rgba.height(), alpha).expect("one byte per pixel")
                });
                (matte, times[times.len() / 2])
            }
        };
        let (scores, error) = match pred {
            Ok(p) => match score(&p, &truth) {
                Ok(s) => (s, None),
                Err(e) => (Scores::default(), Some(e.to_string())),
            },
            // A refused or missing cut scores zero: it is a failure on this set.
            Err(e) => (
                Scores {
                    iou: 0.0,
                    boundary_f: 0.0,
                    sad: truth.as_raw().iter().map(|v| f64::from(*v) / 255.0).sum::<f64>() / 1000.0,
                },
                Some(e),
            ),
        };
        rows.push(Row { name, iou: scores.iou, boundary_f: scores.boundary_f, sad: scores.sad, ms, error });
    }
    Ok(rows)
}

fn print_rows(rows: &[Row], json: bool) -> Result<()> {
    let all: Vec<Scores> =
        rows.iter().map(|r| Scores { iou: r.iou, boundary_f: r.boundary_f, sad: r.sad }).collect();
    let summary = summarize(&all);
    let mean_ms = rows.iter().map(|r| r.ms).sum::<f64>() / rows.len().max(1) as f64;
    if json {
        let out = serde_json::json!({
            "images": rows,
            "boundary_tolerance_px": BOUNDARY_TOLERANCE,
            "mean": { "iou": summary.mean.iou, "boundary_f": summary.mean.boundary_f, "sad": summary.mean.sad, "ms": mean_ms },
            "worst": { "iou": summary.worst.iou, "boundary_f": summary.worst.boundary_f, "sad": summary.worst.sad },
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!("{:<20} {:>7} {:>7} {:>9} {:>9}", "image", "IoU", "F@3px", "SAD/1000", "ms");
    for r in rows {
        let note = r.error.as_deref().map(|e| format!("  ({e})")).unwrap_or_default();
        println!("{:<20} {:>7.4} {:>7.4} {:>9.2} {:>9.1}{note}", r.name, r.iou, r.boundary_f, r.sad, r.ms);
    }
    println!(
        "{:<20} {:>7.4} {:>7.4} {:>9.2} {:>9.1}",
        "mean", summary.mean.iou, summary.mean.boundary_f, summary.mean.sad, mean_ms
    );
    println!(
        "{:<20} {:>7.4} {:>7.4} {:>9.2}",
        "worst", summary.worst.iou, summary.worst.boundary_f, summary.worst.sad
    );
    Ok(())
}

/// A realistic set's category: the file name's part before `__`.
fn category(name: &str) -> &str {
    name.split_once("__").map_or("other", |(c, _)| c)
}

fn realistic(
    dir: &Path,
    preds: Option<&Path>,
    save: Option<&Path>,
    json: bool,
    segmenter: Segmenter,
) -> Result<()> {
    let rows = score_rows(dir, preds, save, 1, segmenter)?;
    let mut categories: Vec<&str> = rows.iter().map(|r| category(&r.name)).collect();
    categories.sort();
    categories.dedup();
    let summary_of = |rows: &[&Row]| {
        let all: Vec<Scores> =
            rows.iter().map(|r| Scores { iou: r.iou, boundary_f: r.boundary_f, sad: r.sad }).collect();
        let ms = rows.iter().map(|r| r.ms).sum::<f64>() / rows.len().max(1) as f64;
        (summarize(&all), ms)
    };
    let mut groups: Vec<(String, Vec<&Row>)> = categories
        .iter()
        .map(|c| (c.to_string(), rows.iter().filter(|r| category(&r.name) == *c).collect()))
        .collect();
    groups.push(("all".into(), rows.iter().collect()));
    if json {
        let out: serde_json::Map<String, serde_json::Value> = groups
            .iter()
            .map(|(name, rows)| {
                let (s, ms) = summary_of(rows);
                let value = serde_json::json!({
                    "count": s.count,
                    "mean_iou": s.mean.iou, "worst_iou": s.worst.iou,
                    "mean_boundary_f": s.mean.boundary_f, "worst_boundary_f": s.worst.boundary_f,
                    "mean_sad": s.mean.sad, "mean_ms": ms,
                });
                (name.clone(), value)
            })
            .collect();
        let images: Vec<_> = rows.iter().collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "categories": out, "images": images }))?
        );
        return Ok(());
    }
    println!("{:<12} {:>3} {:>8} {:>8} {:>8} {:>8}", "category", "n", "IoU", "worst", "F@3px", "ms");
    for (name, rows) in &groups {
        let (s, ms) = summary_of(rows);
        println!(
            "{:<12} {:>3} {:>8.4} {:>8.4} {:>8.4} {:>8.1}",
            name, s.count, s.mean.iou, s.worst.iou, s.mean.boundary_f, ms
        );
    }
    Ok(())
}
