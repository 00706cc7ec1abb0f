//! The whole `backdrop cutout` process on 2 MP and 12 MP photos: wall time and peak RSS
//! (as a seller's machine runs it: start, load the model, decode, cut, encode the PNG,
//! exit), next to rembg u2netp's in-process call on the same files when a Python with
//! rembg is given.
//!
//! `cargo bench --bench cutout_process` (release profile, builds the binary first).
//! Env: `BENCH_RUNS` (5), `REMBG_PYTHON` (a Python with rembg, onnxruntime and pillow; see
//! lab/rembg_side_by_side.py), `BENCH_SOURCE` (the photo to scale; by default a product on
//! a real brick surface from lab/realistic/set).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use image::imageops::FilterType;

fn main() {
    let runs: usize = std::env::var("BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(5).max(1);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let binary = build_binary(root);
    let source = std::env::var_os("BENCH_SOURCE")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("lab/realistic/set/surface__000_bottle_on_brick.jpg"));
    let photo = image::open(&source).expect("the source photo").to_rgb8();
    let dir = tempfile::tempdir().expect("temp dir");
    let sizes = [("2 MP", 1632u32, 1224u32), ("12 MP", 4000, 3000)];
    let files: Vec<(String, PathBuf)> = sizes
        .iter()
        .map(|&(label, w, h)| {
            let path = dir.path().join(format!("product-{w}x{h}.jpg"));
            image::DynamicImage::ImageRgb8(image::imageops::resize(&photo, w, h, FilterType::Triangle))
                .save(&path)
                .expect("write the scaled photo");
            (format!("{label} ({w}x{h})"), path)
        })
        .collect();
    println!(
        "conditions: {} cores, source {}, JPEG, backdrop release binary, {runs} runs each, median",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        source.file_name().and_then(|n| n.to_str()).unwrap_or("?"),
    );
    let mut ours = Vec::new();
    for (label, path) in &files {
        let out = dir.path().join("cut.png");
        let mut times = Vec::new();
        let mut peak = 0u64;
        for _ in 0..runs {
            let (elapsed, rss) = run_measured(&binary, path, &out);
            times.push(elapsed);
            peak = peak.max(rss);
        }
        times.sort();
        let median = times[times.len() / 2];
        println!(
            "backdrop cutout (whole process) {label:<20} median {:>7.0} ms  min {:>7.0} ms  peak RSS {:>6.0} MiB",
            ms(median),
            ms(times[0]),
            peak as f64 / 1024.0
        );
        ours.push(median);
    }
    let Some(python) = std::env::var_os("REMBG_PYTHON") else {
        println!("rembg: set REMBG_PYTHON to a Python with rembg to time it on the same files");
        return;
    };
    let script = root.join("lab/rembg_side_by_side.py");
    for ((label, path), ours) in files.iter().zip(&ours) {
        let out = Command::new(&python)
            .arg(&script)
            .arg("--time-only")
            .arg(path)
            .arg("--runs")
            .arg(runs.to_string())
            .output()
            .expect("run rembg");
        let text = String::from_utf8_lossy(&out.stdout);
        let Some(rembg_ms) =
            text.lines().find_map(|l| l.strip_prefix("median_ms ")?.trim().parse::<f64>().ok())
        else {
            println!("rembg failed on {label}: {}", String::from_utf8_lossy(&out.stderr));
            continue;
        };
        println!(
            "rembg u2netp remove() (in-process) {label:<17} median {rembg_ms:>7.0} ms  -> backdrop / rembg = {:.2}",
            ms(*ours) / rembg_ms
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The release binary, built with the workspace's release profile.
fn build_binary(root: &Path) -> PathBuf {
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["build", "--release", "--quiet", "--bin", "backdrop"])
        .current_dir(root)
        .status()
        .expect("cargo build");
    assert!(status.success(), "building the release binary failed");
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    target.join("release/backdrop")
}

/// Wall time and peak resident set (KiB) of one `backdrop cutout` process.
fn run_measured(binary: &Path, input: &Path, out: &Path) -> (Duration, u64) {
    let started = Instant::now();
    // Reaped by wait4 below, which also gives its peak RSS.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(binary)
        .arg("cutout")
        .arg(input)
        .arg("--out")
        .arg(out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start backdrop");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value, and wait4 only writes into the two
    // out-parameters it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let elapsed = started.elapsed();
    assert_eq!(waited, pid, "wait4 failed");
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "backdrop cutout failed");
    (elapsed, usage.ru_maxrss as u64)
}
