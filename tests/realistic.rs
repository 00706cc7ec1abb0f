//! A quality floor on the committed realistic set (lab/realistic/set, sources and
//! licences in lab/realistic/SOURCES.md): real photographs and real cut-outs on real
//! surfaces, cut by the default (learned) segmenter. Floors sit just under what was
//! measured (lab/realistic/README.md), so a regression fails here. The generator's own
//! shots are covered by tests/local_engine.rs.
//!
//! `clutter` (a product in front of a more conspicuous object) is where the model picks
//! the wrong object; its floor only guards against getting worse.

use std::path::{Path, PathBuf};

use backdrop::engine::local::cutout;
use backdrop::input_image::{ImageLimits, InputImage};
use backdrop_lab::evaluate::{Scores, score};
use image::GrayImage;

fn set_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("lab/realistic/set")
}

/// Every image of `category`, scored.
fn scores(category: &str) -> Vec<(String, Scores)> {
    let mut names: Vec<String> = std::fs::read_dir(set_dir())
        .expect("lab/realistic/set is committed")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".jpg").map(str::to_owned))
        .filter(|n| n.starts_with(&format!("{category}__")))
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no {category}__*.jpg in the set");
    names
        .into_iter()
        .map(|name| {
            let bytes = std::fs::read(set_dir().join(format!("{name}.jpg"))).unwrap();
            let input = InputImage::parse(bytes, &ImageLimits::default()).unwrap();
            let cut = cutout(&input).unwrap_or_else(|e| panic!("{name}: {e}"));
            let alpha: Vec<u8> = cut.as_raw().chunks_exact(4).map(|p| p[3]).collect();
            let pred = GrayImage::from_raw(cut.width(), cut.height(), alpha).unwrap();
            let truth = image::open(set_dir().join(format!("{name}.alpha.png"))).unwrap().to_luma8();
            let s = score(&pred, &truth).unwrap();
            eprintln!("{name}: IoU {:.4} F {:.4}", s.iou, s.boundary_f);
            (name, s)
        })
        .collect()
}

/// Mean IoU, worst IoU and mean boundary F of `category` must stay at or above the floors.
fn floor(category: &str, mean_iou: f64, worst_iou: f64, mean_f: f64) {
    let all = scores(category);
    let n = all.len() as f64;
    let mean = all.iter().map(|(_, s)| s.iou).sum::<f64>() / n;
    let worst = all.iter().map(|(_, s)| s.iou).fold(f64::INFINITY, f64::min);
    let f = all.iter().map(|(_, s)| s.boundary_f).sum::<f64>() / n;
    eprintln!("{category}: mean IoU {mean:.4}, worst {worst:.4}, F {f:.4}");
    assert!(mean >= mean_iou, "{category}: mean IoU {mean:.4} below {mean_iou}");
    assert!(worst >= worst_iou, "{category}: worst IoU {worst:.4} below {worst_iou}");
    assert!(f >= mean_f, "{category}: mean boundary F {f:.4} below {mean_f}");
}

#[test]
fn a_real_photograph_is_cut() {
    floor("photo", 0.98, 0.98, 0.93);
}

#[test]
fn real_cut_outs_on_real_surfaces_are_cut() {
    floor("cutout", 0.96, 0.93, 0.75);
}

#[test]
fn products_on_real_surfaces_are_cut() {
    floor("surface", 0.99, 0.985, 0.95);
}

#[test]
fn products_in_cluttered_scenes_do_not_get_worse() {
    floor("clutter", 0.17, 0.03, 0.14);
}
