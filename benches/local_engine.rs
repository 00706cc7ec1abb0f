//! Speed of the built-in engine on a 12 MP product shot (4000x3000), as the issue's
//! target states it: cutout + composite <= 1 s wall on a 2-core machine, release build.
//!
//! `cargo bench --bench local_engine` (set `BENCH_RUNS` to change the number of runs).

use std::time::{Duration, Instant};

use backdrop::engine::local::{composite, cutout};
use backdrop::input_image::{ImageLimits, InputImage};
use backdrop_lab::testset;

fn main() {
    let runs: usize = std::env::var("BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let (w, h) = (4000u32, 3000u32);
    let shot = testset::shot(3, 0, w, h);
    let product =
        InputImage::parse(testset::jpeg(&shot.image, 90).expect("encode product"), &ImageLimits::default())
            .expect("product parses");
    let scene = testset::scene(3, 0, w, h);
    let background =
        InputImage::parse(testset::jpeg(&scene, 90).expect("encode scene"), &ImageLimits::default())
            .expect("scene parses");

    println!(
        "conditions: {} cores (rayon {} threads), product {}x{} JPEG ({} kB), background {}x{} JPEG, profile {}",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        rayon::current_num_threads(),
        w,
        h,
        product.bytes().len() / 1024,
        w,
        h,
        if cfg!(debug_assertions) { "debug" } else { "release" },
    );
    // Warm-up (page faults, lookup tables).
    let _ = composite(&product, &background).expect("composite");

    report("decode product only", runs, || {
        let _ = product.decode().expect("decode");
    });
    report("cutout (decode + cut + full-res matte)", runs, || {
        let _ = cutout(&product).expect("cutout");
    });
    report("composite (decode both + cut + place)", runs, || {
        let _ = composite(&product, &background).expect("composite");
    });
}

fn report(label: &str, runs: usize, mut f: impl FnMut()) {
    let mut times: Vec<Duration> = (0..runs.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{label:<42} min {:>7.1} ms   median {:>7.1} ms   ({} runs)",
        ms(times[0]),
        ms(times[times.len() / 2]),
        times.len()
    );
}
