//! Seller outputs as a seller runs them, through the real binary: every `--format`
//! measured on the written file (frame, Amazon's pure white and fill), `--variants`
//! (different pictures, and RunningHub seeds), the preset scenes, `backdrop batch`
//! (parallel, resumable, a report), and clear answers to bad input.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use backdrop_fakes::runninghub::{FakeRunningHub, TaskScript};
use image::RgbImage;

const KEY: &str = "seller-test-key-0123456789";

/// Runs the binary in `dir` with exactly `vars` as its environment (no `.env` leaks in).
async fn backdrop(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> Output {
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_backdrop"))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("RUST_LOG", "warn")
        .envs(vars.iter().copied())
        .output();
    tokio::time::timeout(Duration::from_secs(300), run).await.expect("the binary ends").expect("it runs")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// A small product photo on a plain sweep and a small scene (the neural net's cost does
/// not grow with the photo, the rest does).
fn inputs(dir: &Path) {
    let product = backdrop_lab::testset::example_product(480, 360);
    product.save(dir.join("product.jpg")).unwrap();
    backdrop_lab::testset::scene(3, 0, 640, 480).save(dir.join("scene.jpg")).unwrap();
}

fn open(path: &Path) -> RgbImage {
    image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).to_rgb8()
}

/// Every pixel of the outer `band` pixels of the frame, and the corners.
fn border_is_pure_white(img: &RgbImage, band: u32) -> Result<(), String> {
    let (w, h) = img.dimensions();
    for (x, y, p) in img.enumerate_pixels() {
        let on_border = x < band || y < band || x >= w - band || y >= h - band;
        if on_border && p.0 != [255, 255, 255] {
            return Err(format!("pixel ({x}, {y}) is {:?}", p.0));
        }
    }
    Ok(())
}

/// The longer side of the box of pixels that are not pure white, over the frame's side.
fn white_fill(img: &RgbImage) -> f64 {
    let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0, 0);
    for (x, y, p) in img.enumerate_pixels() {
        if p.0 != [255, 255, 255] {
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
        }
    }
    f64::from((x1 - x0 + 1).max(y1 - y0 + 1)) / f64::from(img.width().max(img.height()))
}

/// Mean absolute difference per channel (0..255) of two same-sized pictures.
fn difference(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let sum: u64 = a.as_raw().iter().zip(b.as_raw()).map(|(x, y)| u64::from(x.abs_diff(*y))).sum();
    sum as f64 / a.as_raw().len() as f64
}

fn is_jpeg(path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|b| b.starts_with(&[0xFF, 0xD8, 0xFF]))
}

#[tokio::test]
async fn every_format_comes_out_in_its_frame_with_the_local_engine() {
    let dir = tempfile::tempdir().unwrap();
    inputs(dir.path());
    let scene = open(&dir.path().join("scene.jpg"));
    for (format, frame) in [
        ("original", scene.dimensions()),
        ("square", (1600, 1600)),
        ("wildberries", (1200, 1600)),
        ("ozon", (1200, 1600)),
        ("amazon", (2000, 2000)),
    ] {
        let out = format!("{format}.jpg");
        let args = [
            "generate",
            "--product",
            "product.jpg",
            "--background",
            "scene.jpg",
            "--out",
            &out,
            "--format",
            format,
        ];
        let run = backdrop(dir.path(), &args, &[]).await;
        assert!(run.status.success(), "{format}: {}", text(&run));
        let path = dir.path().join(&out);
        assert!(is_jpeg(&path), "{format}: a JPEG");
        let img = open(&path);
        assert_eq!(img.dimensions(), frame, "{format}");
        if format == "amazon" {
            border_is_pure_white(&img, 40).unwrap_or_else(|e| panic!("amazon's border: {e}"));
            let fill = white_fill(&img);
            assert!((0.85..=0.90).contains(&fill), "amazon's fill {fill:.3}");
            eprintln!("amazon fill (local engine): {fill:.3}");
        } else if format != "original" {
            // The product is in the frame, whole: the middle differs from the scene's edges.
            let centre = img.get_pixel(frame.0 / 2, frame.1 * 2 / 3).0;
            let corner = img.get_pixel(4, 4).0;
            let apart: u32 = centre.iter().zip(corner).map(|(a, b)| u32::from(a.abs_diff(b))).sum();
            assert!(apart > 30, "{format}: the product is placed ({centre:?} vs {corner:?})");
        }
    }
}

#[tokio::test]
async fn amazon_variants_of_a_wide_real_photo_stay_on_pure_white_within_the_fill() {
    let dir = tempfile::tempdir().unwrap();
    let photo = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/photo/coffee.jpg");
    let photo = photo.display().to_string();
    let args = [
        "generate",
        "--product",
        &photo,
        "--scene",
        "white-studio",
        "--out",
        "a.jpg",
        "--format",
        "amazon",
        "--variants",
        "4",
    ];
    let run = backdrop(dir.path(), &args, &[]).await;
    assert!(run.status.success(), "{}", text(&run));
    let mut shots = Vec::new();
    for i in 1..=4 {
        let img = open(&dir.path().join(format!("a-{i}.jpg")));
        assert_eq!(img.dimensions(), (2000, 2000));
        border_is_pure_white(&img, 40).unwrap_or_else(|e| panic!("variant {i}: {e}"));
        let fill = white_fill(&img);
        eprintln!("amazon variant {i} fill: {fill:.3}");
        assert!((0.85..=0.90).contains(&fill), "variant {i}: fill {fill:.3}");
        shots.push(img);
    }
    for i in 0..4 {
        for j in i + 1..4 {
            let d = difference(&shots[i], &shots[j]);
            assert!(d > 0.5, "amazon variants {} and {} differ by only {d:.2}", i + 1, j + 1);
        }
    }
}

#[tokio::test]
async fn variants_are_different_pictures() {
    let dir = tempfile::tempdir().unwrap();
    inputs(dir.path());
    let args = [
        "generate",
        "--product",
        "product.jpg",
        "--background",
        "scene.jpg",
        "--out",
        "card.jpg",
        "--format",
        "ozon",
        "--variants",
        "3",
    ];
    let run = backdrop(dir.path(), &args, &[]).await;
    assert!(run.status.success(), "{}", text(&run));
    assert!(!dir.path().join("card.jpg").exists(), "N > 1 writes numbered files only");
    let cards: Vec<RgbImage> = (1..=3).map(|i| open(&dir.path().join(format!("card-{i}.jpg")))).collect();
    for i in 0..3 {
        assert_eq!(cards[i].dimensions(), (1200, 1600));
        for j in i + 1..3 {
            let d = difference(&cards[i], &cards[j]);
            eprintln!("ozon variants {} and {}: mean difference {d:.2}", i + 1, j + 1);
            assert!(d > 2.0, "variants {} and {} differ by only {d:.2}", i + 1, j + 1);
        }
    }
}

#[tokio::test]
async fn runninghub_variants_are_tasks_with_their_own_seeds_and_formats_apply_to_the_result() {
    let dir = tempfile::tempdir().unwrap();
    inputs(dir.path());
    let rh = FakeRunningHub::start().await;
    rh.add_account(KEY, 2);
    rh.set_default_script(TaskScript::succeed(Duration::from_millis(50)));
    // The provider's "result": a product standing in a scene, as a workflow returns it.
    rh.set_result_image(std::fs::read(dir.path().join("product.jpg")).unwrap());
    let rh_url = rh.url();
    let vars = [
        ("RUNNINGHUB_API_URL", rh_url.as_str()),
        ("RUNNINGHUB_API_KEY_1", KEY),
        ("RUNNINGHUB_WORKFLOW_PRODUCT_1", "1"),
        ("RUNNINGHUB_POLL_INTERVAL_MS", "20"),
        ("RUNNINGHUB_SEED_NODE", "7"),
        ("RUNNINGHUB_SEED_FIELD", "noise_seed"),
    ];
    let args = [
        "generate",
        "--product",
        "product.jpg",
        "--scene",
        "marble",
        "--out",
        "main.jpg",
        "--format",
        "amazon",
        "--variants",
        "3",
    ];
    let run = backdrop(dir.path(), &args, &vars).await;
    assert!(run.status.success(), "{}", text(&run));
    let tasks = rh.tasks();
    assert_eq!(tasks.len(), 3, "one task per variant");
    let mut seeds: Vec<String> = tasks
        .iter()
        .map(|t| {
            let seed = t.node_inputs.iter().find(|n| n.node_id == "7").expect("the seed node is set");
            assert_eq!(seed.field_name, "noise_seed");
            assert!(seed.field_value.parse::<u64>().is_ok(), "{seed:?}");
            seed.field_value.clone()
        })
        .collect();
    seeds.sort();
    seeds.dedup();
    assert_eq!(seeds.len(), 3, "every variant has its own seed");
    for i in 1..=3 {
        let img = open(&dir.path().join(format!("main-{i}.jpg")));
        assert_eq!(img.dimensions(), (2000, 2000));
        border_is_pure_white(&img, 40).unwrap_or_else(|e| panic!("variant {i}: {e}"));
        let fill = white_fill(&img);
        assert!((0.85..=0.90).contains(&fill), "variant {i}: fill {fill:.3}");
    }
    // A card format from a provider's result: reframed around the product.
    let args = [
        "generate",
        "--product",
        "product.jpg",
        "--scene",
        "concrete",
        "--out",
        "wb.png",
        "--format",
        "wildberries",
    ];
    let run = backdrop(dir.path(), &args, &vars).await;
    assert!(run.status.success(), "{}", text(&run));
    assert_eq!(open(&dir.path().join("wb.png")).dimensions(), (1200, 1600));
}

#[tokio::test]
async fn scenes_are_listed_and_each_one_can_be_used() {
    let dir = tempfile::tempdir().unwrap();
    inputs(dir.path());
    let own = dir.path().join("own-scenes");
    std::fs::create_dir(&own).unwrap();
    backdrop_lab::testset::scene(5, 1, 320, 240).save(own.join("my-shop.png")).unwrap();
    std::fs::write(own.join("broken.jpg"), b"\xFF\xD8\xFF\xE0 not really a jpeg").unwrap();
    let own_dir = own.display().to_string();
    let vars = [("SCENES_DIR", own_dir.as_str())];
    let run = backdrop(dir.path(), &["scenes"], &vars).await;
    let listing = text(&run);
    assert!(run.status.success(), "{listing}");
    let built_in = [
        "white-studio",
        "marble",
        "light-wood",
        "concrete",
        "pastel-paper",
        "kitchen-counter",
        "bathroom-shelf",
        "outdoor-stone",
    ];
    for name in built_in.iter().chain(&["my-shop"]) {
        assert!(
            listing.lines().any(|l| l.starts_with(name) && l.len() > name.len() + 10),
            "{name}: {listing}"
        );
    }
    assert!(listing.contains("broken.jpg"), "the broken file is reported: {listing}");
    for name in built_in.iter().chain(&["my-shop"]) {
        let out = format!("{name}.jpg");
        let args = ["generate", "--product", "product.jpg", "--scene", name, "--out", &out];
        let run = backdrop(dir.path(), &args, &vars).await;
        assert!(run.status.success(), "{name}: {}", text(&run));
        assert!(open(&dir.path().join(&out)).width() >= 320, "{name}");
    }
}

#[tokio::test]
async fn a_batch_of_twelve_with_one_broken_file_resumes_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    std::fs::create_dir(&photos).unwrap();
    for i in 0..11 {
        let shot = backdrop_lab::testset::shot(2, i, 320, 240);
        shot.image.save(photos.join(format!("item-{i:02}.jpg"))).unwrap();
    }
    std::fs::write(photos.join("item-99.jpg"), b"\xFF\xD8\xFF\xE0 truncated").unwrap();
    let args = ["batch", "photos", "--scene", "light-wood", "--out", "cards", "--format", "square"];
    let started = std::time::Instant::now();
    let run = backdrop(dir.path(), &args, &[]).await;
    let first = text(&run);
    eprintln!("batch of 12 (11 good, 1 broken) in {:.1} s", started.elapsed().as_secs_f64());
    assert!(!run.status.success(), "a failure makes the exit code non-zero: {first}");
    assert!(first.contains("item-99.jpg"), "the failure is named: {first}");
    assert!(first.contains("done 11") && first.contains("failed 1"), "{first}");
    let cards = dir.path().join("cards");
    for i in 0..11 {
        assert_eq!(open(&cards.join(format!("item-{i:02}.jpg"))).dimensions(), (1600, 1600));
    }
    let report = std::fs::read_to_string(cards.join("report.csv")).unwrap();
    let mut lines = report.lines();
    assert_eq!(lines.next(), Some("file,status,output,seconds,error"));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 12, "{report}");
    assert_eq!(rows.iter().filter(|r| r.contains(",done,")).count(), 11, "{report}");
    let broken = rows.iter().find(|r| r.starts_with("item-99.jpg,failed,")).expect("the broken file's row");
    assert!(broken.contains("damaged") || broken.contains("not a JPEG"), "{broken}");

    let run = backdrop(dir.path(), &args, &[]).await;
    let second = text(&run);
    assert!(second.contains("done 0") && second.contains("skipped 11"), "a second run skips: {second}");

    let mut forced = args.to_vec();
    forced.push("--force");
    let run = backdrop(dir.path(), &forced, &[]).await;
    let third = text(&run);
    assert!(third.contains("done 11") && third.contains("skipped 0"), "--force redoes: {third}");
}

#[tokio::test]
async fn bad_requests_get_clear_answers_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    inputs(dir.path());
    let base = ["generate", "--product", "product.jpg", "--out", "r.jpg"];
    let cases: [(&[&str], &str); 7] = [
        (&["--background", "scene.jpg", "--format", "etsy"], "etsy"),
        (&["--background", "scene.jpg", "--variants", "0"], "1 to 4"),
        (&["--background", "scene.jpg", "--variants", "9"], "1 to 4"),
        (&["--background", "scene.jpg", "--scene", "marble"], "cannot be used with"),
        (&[], "--background"),
        (&["--scene", "beach"], "white-studio"),
        (&["--scene", "../etc/passwd"], "no scene named"),
    ];
    for (extra, expected) in cases {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        let run = backdrop(dir.path(), &args, &[]).await;
        let said = text(&run);
        assert!(!run.status.success(), "{extra:?}: {said}");
        assert!(said.contains(expected), "{extra:?}: expected {expected:?} in {said}");
        assert!(!said.contains("panicked"), "{extra:?}: {said}");
        assert!(!dir.path().join("r.jpg").exists(), "{extra:?}");
    }
    let args = [
        "generate",
        "--product",
        "product.jpg",
        "--scene",
        "marble",
        "--format",
        "amazon",
        "--out",
        "r.webp",
    ];
    let run = backdrop(dir.path(), &args, &[]).await;
    assert!(!run.status.success() && text(&run).contains("WebP"), "{}", text(&run));
    assert!(!dir.path().join("r.webp").exists());
    let args: Vec<&str> = base.iter().chain(&["--scene", "marble"]).copied().collect();
    let run = backdrop(dir.path(), &args, &[("RUNNINGHUB_SEED_FIELD", "seed")]).await;
    assert!(!run.status.success() && text(&run).contains("RUNNINGHUB_SEED_NODE"), "{}", text(&run));
    let run = backdrop(dir.path(), &["batch", "no-such-dir", "--scene", "marble", "--out", "o"], &[]).await;
    assert!(!run.status.success() && text(&run).contains("no-such-dir"), "{}", text(&run));
}

/// What the bot will call on a provider's result: a pure function of the result bytes.
#[test]
fn apply_format_brings_any_result_to_its_format() {
    use backdrop::engine::formatting::apply_format;
    use backdrop::job::JobOutput;
    use backdrop::output::{Look, OutputFormat};
    let scene = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/photo/coffee-in-scene.jpg");
    let result = JobOutput { image: std::fs::read(scene).unwrap().into(), extension: "jpg" };
    let look = |format| Look { format, ..Look::default() };
    let same = apply_format(&result, look(OutputFormat::Original)).unwrap();
    assert_eq!(same.image, result.image, "original leaves the result as it is");
    for (format, frame) in [(OutputFormat::Wildberries, (1200, 1600)), (OutputFormat::Amazon, (2000, 2000))] {
        let out = apply_format(&result, look(format)).unwrap();
        assert_eq!(out.extension, "jpg");
        let img = image::load_from_memory(&out.image).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), frame, "{format}");
        if format == OutputFormat::Amazon {
            border_is_pure_white(&img, 40).unwrap();
            let fill = white_fill(&img);
            assert!((0.85..=0.90).contains(&fill), "{fill:.3}");
        }
    }
    let broken = JobOutput { image: bytes::Bytes::from_static(b"not an image"), extension: "png" };
    assert!(apply_format(&broken, look(OutputFormat::Square)).is_err(), "an error, not a panic");
}

/// A marketplace card shows the product large, whatever the scene's depth: a green box
/// (a colour the scene does not have) spans at least about 0.6 of the card's height, on
/// the deep floor of a preset scene.
#[tokio::test]
async fn cards_show_the_product_large() {
    let dir = tempfile::tempdir().unwrap();
    let mut product = RgbImage::from_pixel(480, 640, image::Rgb([245, 245, 245]));
    for y in 120..560 {
        for x in 150..330 {
            product.put_pixel(x, y, image::Rgb([20, 170, 40]));
        }
    }
    product.save(dir.path().join("box.png")).unwrap();
    for format in ["square", "wildberries"] {
        let out = format!("{format}.jpg");
        let args =
            ["generate", "--product", "box.png", "--scene", "light-wood", "--out", &out, "--format", format];
        let run = backdrop(dir.path(), &args, &[]).await;
        assert!(run.status.success(), "{format}: {}", text(&run));
        let card = open(&dir.path().join(&out));
        let green = |y: u32| {
            (0..card.width()).any(|x| {
                let [r, g, b] = card.get_pixel(x, y).0;
                g > 110 && i32::from(g) - i32::from(r) > 60 && i32::from(g) - i32::from(b) > 50
            })
        };
        let rows: Vec<u32> = (0..card.height()).filter(|&y| green(y)).collect();
        let span = match (rows.first(), rows.last()) {
            (Some(top), Some(bottom)) => f64::from(bottom - top + 1) / f64::from(card.height()),
            _ => 0.0,
        };
        eprintln!("{format}: the product spans {span:.2} of the card's height");
        assert!((0.5..0.97).contains(&span), "{format}: the product spans {span:.2} of the height");
    }
}
