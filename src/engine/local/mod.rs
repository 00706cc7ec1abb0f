//! The built-in engine: no network, no account.
//!
//! It cuts the product out of its (near-)uniform backdrop and places it into the
//! background photo with a contact shadow, light wrap and a gentle colour match. It is the
//! default engine of a fresh install and the fast path for shop photos on a plain sweep.
//!
//! Pipeline: decode ([`InputImage`]) -> at a bounded working resolution, the [`learned`]
//! salient-object model's mask (or the classical [`segment`], a flood from the border;
//! see [`Segmenter`]) -> [`matte`] refines the edge band at full resolution ->
//! [`compose`] places it, with [`shadow`] and [`harmonize`]. Its quality is measured outside the library, by the
//! `backdrop-lab` crate (`lab/`: a generated test set with exact mattes, and scores).

mod backdrop;
mod bilinear;
mod blur;
mod color;
mod compose;
mod enclosed;
mod encode;
mod features;
mod guided;
mod harmonize;
mod hull;
mod lane;
mod learned;
mod light;
mod lit_faces;
mod matte;
mod morph;
mod raster;
mod regions;
mod resample;
mod segment;
mod shadow;
mod surface;

use image::{DynamicImage, RgbImage, RgbaImage};

use crate::input_image::{InputImage, InputImageError};
use crate::job::FailReason;
use crate::output::white::{WhiteStaging, on_white};
use crate::output::{Look, reframe};

pub use encode::{JPEG_QUALITY, encode};
pub use lane::LocalEngine;
pub use segment::MIN_UNIFORMITY;

/// How the product is found in its photo.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Segmenter {
    /// A flood from the frame's border over a plain backdrop; refuses busy backgrounds.
    Classic,
    /// The salient-object model's mask, refined as the classical cut is (holes reopened
    /// and its shadow read where the backdrop is plain); the classical cut if the model
    /// cannot run. Measured better than the classical cut even on the generator's own
    /// plain sweeps (lab/realistic/README.md).
    #[default]
    Learned,
}

impl std::str::FromStr for Segmenter {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "classic" => Ok(Self::Classic),
            "learned" => Ok(Self::Learned),
            _ => Err("must be classic or learned".into()),
        }
    }
}

/// Longest side of the image the cut decision is made on; the matte is refined at full
/// resolution only along the edges, so big photos cost little more than small ones.
pub const WORKING_SIDE: u32 = 544;

/// The guided filter's window radius (working pixels) and regularisation for the model's
/// mask: measured on the realistic set (lab/realistic/README.md), radius 4 to 8 and eps
/// 1e-4 to 1e-3 all help; larger radii start to cost the generated set's edges.
const GUIDE_RADIUS: usize = 4;
const GUIDE_EPS: f32 = 1e-4;

/// Why the built-in engine could not produce an image.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// The backdrop behind the product is too busy to cut reliably.
    #[error(
        "the product's background is not plain enough to cut out (uniformity {score:.2}, \
         needs {min:.2}): photograph the product on a plain backdrop, or use the AI engine",
        min = MIN_UNIFORMITY
    )]
    BackgroundNotPlain { score: f32 },
    /// The backdrop is plain but nothing stands on it.
    #[error("no product found: the photo looks like an empty backdrop")]
    NoProduct,
    /// An input image could not be decoded.
    #[error("cannot read the image: {0}")]
    Image(#[from] InputImageError),
    #[error("cannot encode the result: {0}")]
    Encode(String),
    #[error("unsupported output format {0:?}: use png, jpg, jpeg or webp")]
    UnsupportedExtension(String),
    #[error("internal error in the built-in engine: {0}")]
    Internal(String),
    /// [`Stop::stop`] was called: the work was abandoned between two stages.
    #[error("stopped")]
    Stopped,
}

/// Asks running built-in work to stop at its next stage (a cancelled job): the blocking
/// pipeline checks it between stages, so a cancel frees the core, not only the slot.
#[derive(Clone, Debug, Default)]
pub struct Stop(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Stop {
    pub fn stop(&self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    fn check(&self) -> Result<(), LocalError> {
        if self.0.load(std::sync::atomic::Ordering::Relaxed) { Err(LocalError::Stopped) } else { Ok(()) }
    }
}

impl From<LocalError> for FailReason {
    fn from(e: LocalError) -> Self {
        match e {
            LocalError::BackgroundNotPlain { .. } => FailReason::BackgroundNotPlain,
            LocalError::Image(e) => FailReason::BadInput(e.to_string()),
            // An empty backdrop is the user's picture, not our bug.
            LocalError::NoProduct => FailReason::BadInput(e.to_string()),
            other => FailReason::Internal(other.to_string()),
        }
    }
}

/// A cut-out product plus what the composition reuses from the source photo.
pub(crate) struct Cutout {
    pub rgba: RgbaImage,
    /// The product's own cast shadow (darkening 0..1) at working resolution, if the cut
    /// came from a backdrop (not from an alpha channel supplied with the image).
    pub shadow: Option<raster::Plane>,
}

/// Starts loading what `segmenter` needs on a thread of its own, so that reading and
/// decoding the first image overlap the model's load (about a tenth of a second) instead
/// of waiting for it.
pub fn warm_up(segmenter: Segmenter) {
    if segmenter == Segmenter::Learned {
        let spawned = std::thread::Builder::new()
            .name("backdrop-model-load".into())
            .spawn(|| drop(learned::SalientModel::get()));
        if let Err(e) = spawned {
            tracing::debug!("the model loads at first use: {e}");
        }
    }
}

/// The product on a transparent background (alpha = matte), at full resolution.
/// Blocking and CPU-heavy: call it from a blocking thread.
pub fn cutout(product: &InputImage) -> Result<RgbaImage, LocalError> {
    cutout_with(product, Segmenter::default())
}

/// [`cutout`] with a chosen [`Segmenter`].
pub fn cutout_with(product: &InputImage, segmenter: Segmenter) -> Result<RgbaImage, LocalError> {
    Ok(cut(product.decode()?, segmenter, Shadow::Discard, &Stop::default())?.rgba)
}

/// The product placed into the background scene, at the background's size.
/// Blocking and CPU-heavy: call it from a blocking thread.
pub fn composite(product: &InputImage, background: &InputImage) -> Result<RgbImage, LocalError> {
    composite_until(product, background, &Stop::default())
}

/// [`composite`], abandoned at the next stage once `stop` is called.
pub fn composite_until(
    product: &InputImage,
    background: &InputImage,
    stop: &Stop,
) -> Result<RgbImage, LocalError> {
    composite_with(product, background, Segmenter::default(), stop)
}

/// [`composite_until`] with a chosen [`Segmenter`].
pub fn composite_with(
    product: &InputImage,
    background: &InputImage,
    segmenter: Segmenter,
    stop: &Stop,
) -> Result<RgbImage, LocalError> {
    // Decode both at once: each decoder is single-threaded.
    let (product, background) = rayon::join(|| product.decode(), || background.decode());
    let (cut, background) = rayon::join(
        || cut(product?, segmenter, Shadow::Keep, stop),
        || Ok::<_, LocalError>(background?.into_rgb8()),
    );
    let (cut, background) = (cut?, background?);
    stop.check()?;
    let trace = Trace::new();
    let out = compose::compose(&cut, background);
    trace.mark("compose");
    out
}

/// The product placed as `look` asks: into the background scene brought to the format's
/// frame first (so the product is placed with the frame's margins, never cropped), or on
/// pure white for [`OutputFormat::Amazon`](crate::output::OutputFormat::Amazon); staged as
/// `look`'s variant. Blocking and CPU-heavy: call it from a blocking thread.
pub fn render(
    product: &InputImage,
    background: &InputImage,
    segmenter: Segmenter,
    look: Look,
    stop: &Stop,
) -> Result<RgbImage, LocalError> {
    let format = look.format;
    let Some(frame) = format.frame() else {
        let (product, background) = rayon::join(|| product.decode(), || background.decode());
        let (cut, background) = rayon::join(
            || cut(product?, segmenter, Shadow::Keep, stop),
            || Ok::<_, LocalError>(background?.into_rgb8()),
        );
        let (cut, background) = (cut?, background?);
        stop.check()?;
        return compose::compose_arranged(&cut, background, compose::Arrangement::of_variant(look.variant.0));
    };
    if format.on_white() {
        let cut = cut(product.decode()?, segmenter, Shadow::Discard, stop)?;
        stop.check()?;
        return on_white(&cut.rgba, frame.0, WhiteStaging::of_variant(look.variant))
            .ok_or(LocalError::NoProduct);
    }
    let (product, background) = rayon::join(|| product.decode(), || background.decode());
    let (cut, scene) = rayon::join(
        || cut(product?, segmenter, Shadow::Keep, stop),
        || Ok::<_, LocalError>(reframe::fit_scene(&background?.into_rgb8(), frame)),
    );
    let (cut, scene) = (cut?, scene?);
    stop.check()?;
    compose::compose_arranged(&cut, scene, compose::Arrangement::of_variant(look.variant.0).on_card())
}

/// Whether a cut keeps the product's cast shadow (composition reuses it; a cut-out
/// alone does not need it).
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Shadow {
    Keep,
    Discard,
}

/// Cuts a decoded image: its own alpha when it has a real one, otherwise the backdrop cut.
pub(crate) fn cut(
    image: DynamicImage,
    segmenter: Segmenter,
    shadow: Shadow,
    stop: &Stop,
) -> Result<Cutout, LocalError> {
    if let Some(rgba) = meaningful_alpha(&image) {
        if !rgba.pixels().any(|p| p[3] > 0) {
            return Err(LocalError::NoProduct);
        }
        return Ok(Cutout { rgba, shadow: None });
    }
    let trace = Trace::new();
    stop.check()?;
    let full = image.into_rgb8();
    trace.mark("rgb8");
    let (w, h) = resample::fit_within(full.width(), full.height(), WORKING_SIDE);
    let small =
        resample::resize_rgb(&full, w, h).ok_or_else(|| LocalError::Internal("resize failed".into()))?;
    stop.check()?;
    let seg = segmentation(&small, segmenter)?;
    trace.mark("segment");
    stop.check()?;
    let refine = |seg: &segment::Segmentation| {
        rayon::join(|| matte::refine(&full, seg), || (shadow == Shadow::Keep).then(|| seg.shadow_map()))
    };
    // Lit faces are rare: the matte is refined on the mask at hand meanwhile, and again
    // only if a face was regained.
    let (lit, (rgba, shadow)) =
        rayon::join(|| if seg.plain { seg.lit_faces() } else { None }, || refine(&seg));
    let (rgba, shadow) = match lit {
        Some(mask) => {
            stop.check()?;
            refine(&seg.with_mask(mask))
        }
        None => (rgba, shadow),
    };
    trace.mark("matte");
    Ok(Cutout { rgba, shadow })
}

/// The working-resolution segmentation `segmenter` asks for.
fn segmentation(small: &RgbImage, segmenter: Segmenter) -> Result<segment::Segmentation, LocalError> {
    let (w, h) = (small.width() as usize, small.height() as usize);
    let classic = || segment::segment(small.as_raw(), w, h);
    let refused = |e| match e {
        segment::SegmentError::NotPlain { score } => LocalError::BackgroundNotPlain { score },
        segment::SegmentError::NoProduct => LocalError::NoProduct,
    };
    if segmenter == Segmenter::Classic {
        return classic().map_err(refused);
    }
    let trace = Trace::new();
    let model = learned::SalientModel::get();
    trace.mark("  model ready");
    let prob = match model.and_then(|model| model.predict(small)) {
        Ok(prob) => prob,
        Err(e) => {
            tracing::warn!("the learned segmenter failed, the classical cut is used: {e}");
            return classic().map_err(refused);
        }
    };
    // The model's outline, brought up from 320x320, made to follow the image's edges.
    let guide: [raster::Plane; 3] = std::array::from_fn(|c| raster::Plane {
        width: w,
        height: h,
        data: small.as_raw().chunks_exact(3).map(|p| f32::from(p[c])).collect(),
    });
    trace.mark("  model run");
    let prob = guided::guided_filter(&guide, &prob, GUIDE_RADIUS, GUIDE_EPS);
    trace.mark("  guided filter");
    let mask: Vec<bool> = prob.data.iter().map(|p| *p >= 0.5).collect();
    segment::around_mask(small.as_raw(), w, h, mask).map_err(refused)
}

/// Stage timings on stderr when `BACKDROP_TRACE` is set (for tuning speed).
pub(crate) struct Trace {
    start: Option<std::time::Instant>,
}

impl Trace {
    pub(crate) fn new() -> Self {
        Self { start: std::env::var_os("BACKDROP_TRACE").map(|_| std::time::Instant::now()) }
    }

    pub(crate) fn mark(&self, stage: &str) {
        if let Some(start) = self.start {
            eprintln!("[trace] {stage}: {:.1} ms", start.elapsed().as_secs_f64() * 1000.0);
        }
    }

    /// A finding worth seeing beside the timings (what the scene analysis concluded).
    pub(crate) fn note(&self, what: impl std::fmt::Display) {
        if self.start.is_some() {
            eprintln!("[trace] {what}");
        }
    }
}

/// An alpha channel that actually cuts something out (PNG/WebP with transparency).
fn meaningful_alpha(image: &DynamicImage) -> Option<RgbaImage> {
    if !image.color().has_alpha() {
        return None;
    }
    let rgba = image.to_rgba8();
    let transparent = rgba.pixels().filter(|p| p[3] < 250).count();
    (transparent * 200 >= rgba.pixels().len()).then_some(rgba)
}
