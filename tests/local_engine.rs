//! The built-in engine: a quality floor on small generated shots (so the cut cannot
//! silently regress), robustness on awkward inputs, and the engine through the queue's
//! interface.

use std::io::Cursor;

use backdrop::bot::messages::{self, Lang, Refusal};
use backdrop::engine::local::{LocalEngine, LocalError, Segmenter, composite, cutout, cutout_with, encode};
use backdrop::engine::{Engine, RunContext};
use backdrop::input_image::{ImageLimits, InputImage, InputImageError};
use backdrop::job::{FailReason, ImageSource, JobId, JobInput, LaneId};
use backdrop_fakes::image_bytes::with_exif_orientation;
use backdrop_lab::evaluate::score;
use backdrop_lab::testset::{self, Kind};
use image::{DynamicImage, GrayImage, ImageFormat, RgbImage, RgbaImage};

fn parse(bytes: Vec<u8>) -> InputImage {
    InputImage::parse(bytes, &ImageLimits::default()).expect("test image parses")
}

fn png(image: &DynamicImage) -> Vec<u8> {
    let mut out = Vec::new();
    image.write_to(&mut Cursor::new(&mut out), ImageFormat::Png).expect("png");
    out
}

fn alpha_of(rgba: &RgbaImage) -> GrayImage {
    GrayImage::from_fn(rgba.width(), rgba.height(), |x, y| image::Luma([rgba.get_pixel(x, y)[3]]))
}

/// A small shot of `kind` from the generator (its index in the set cycles through kinds).
/// Small shots are harder than the 1200x900 set (the decision works in pixel-sized steps),
/// hence floors below the set's targets: they guard against regressions.
fn shot(kind: Kind, seed: u64) -> testset::Shot {
    let index = Kind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
    testset::shot(seed, index, 288, 216)
}

#[test]
fn quality_floor_on_generated_shots() {
    let mut ious = Vec::new();
    for kind in Kind::ALL {
        for seed in [1u64, 2] {
            let s = shot(kind, seed);
            let input = parse(testset::jpeg(&s.image, s.jpeg_quality).unwrap());
            let cut = cutout(&input).unwrap_or_else(|e| panic!("{kind:?}/{seed}: {e}"));
            let scores = score(&alpha_of(&cut), &s.alpha).unwrap();
            eprintln!(
                "{kind:?}/{seed}: IoU {:.4} F {:.4} SAD {:.3}",
                scores.iou, scores.boundary_f, scores.sad
            );
            assert!(scores.iou >= 0.80, "{kind:?}/{seed}: IoU {:.4} below the floor", scores.iou);
            ious.push(scores.iou);
        }
    }
    let mean = ious.iter().sum::<f64>() / ious.len() as f64;
    assert!(mean >= 0.92, "mean IoU {mean:.4} below the floor");
}

/// White on white at the set's size, where vignetting makes part of a face exactly the
/// backdrop's colour (or a grey body look like the backdrop in shadow), or a box's lit
/// top face is clipped white a few levels above the sweep: the face must not be lost
/// through the gap in its outline. These shots scored 0.81, 0.12 and 0.59, then (3, 9)
/// 0.83 with its top face lost (now about 0.97), and (8, 15) 0.30 when the backdrop was
/// refitted on the face the first pass had lost (now about 0.98).
#[test]
fn white_on_white_faces_are_kept() {
    for (seed, index, floor) in [(1u64, 3usize, 0.80), (2, 3, 0.80), (3, 9, 0.95), (8, 15, 0.95)] {
        let s = testset::shot(seed, index, 1200, 900);
        let input = parse(testset::jpeg(&s.image, s.jpeg_quality).unwrap());
        let cut = cutout(&input).unwrap_or_else(|e| panic!("{seed}/{index}: {e}"));
        let iou = score(&alpha_of(&cut), &s.alpha).unwrap().iou;
        eprintln!("{seed}/{index}: IoU {iou:.4}");
        assert!(iou >= floor, "{seed}/{index}: IoU {iou:.4} below the floor {floor}");
    }
}

#[test]
fn a_mug_handle_hole_is_opened() {
    let s = shot(Kind::Mug, 1);
    let input = parse(testset::jpeg(&s.image, 92).unwrap());
    let cut = cutout(&input).unwrap();
    // Pixels that are background in truth but enclosed by the handle must stay clear:
    // the IoU would drop well below this if the hole were filled.
    let scores = score(&alpha_of(&cut), &s.alpha).unwrap();
    assert!(scores.iou > 0.95, "IoU {:.4}", scores.iou);
}

#[test]
fn grayscale_and_16_bit_inputs_are_cut() {
    let s = shot(Kind::Bottle, 3);
    let gray = DynamicImage::ImageRgb8(s.image.clone()).grayscale();
    let cut = cutout(&parse(png(&gray))).expect("grayscale cut");
    assert_eq!(cut.dimensions(), s.image.dimensions());
    let deep = DynamicImage::ImageRgb16(DynamicImage::ImageRgb8(s.image.clone()).to_rgb16());
    let cut = cutout(&parse(png(&deep))).expect("16-bit cut");
    let scores = score(&alpha_of(&cut), &s.alpha).unwrap();
    assert!(scores.iou > 0.9, "16-bit IoU {:.4}", scores.iou);
}

#[test]
fn an_image_with_its_own_alpha_keeps_it() {
    let mut rgba = RgbaImage::from_pixel(40, 30, image::Rgba([10, 20, 30, 0]));
    for y in 10..20 {
        for x in 12..28 {
            rgba.put_pixel(x, y, image::Rgba([200, 50, 50, 255]));
        }
    }
    let cut = cutout(&parse(png(&DynamicImage::ImageRgba8(rgba.clone())))).unwrap();
    assert_eq!(alpha_of(&cut), alpha_of(&rgba));
    // An opaque RGBA image is cut like any photo.
    let s = shot(Kind::Box, 4);
    let opaque = DynamicImage::ImageRgba8(DynamicImage::ImageRgb8(s.image.clone()).to_rgba8());
    let cut = cutout(&parse(png(&opaque))).unwrap();
    assert!(score(&alpha_of(&cut), &s.alpha).unwrap().iou > 0.9);
}

#[test]
fn exif_orientation_is_applied() {
    let s = shot(Kind::Bottle, 5);
    let jpeg = with_exif_orientation(&testset::jpeg(&s.image, 90).unwrap(), 6);
    let cut = cutout(&parse(jpeg)).expect("rotated cut");
    let (w, h) = s.image.dimensions();
    assert_eq!(cut.dimensions(), (h, w), "output follows the EXIF orientation");
}

#[test]
fn a_tiny_empty_backdrop_is_a_bad_photo_the_user_is_told_to_replace() {
    for (w, h) in [(1u32, 1u32), (2, 2), (3, 1), (5, 4), (17, 9)] {
        let img = DynamicImage::ImageRgb8(RgbImage::from_pixel(w, h, image::Rgb([240, 240, 240])));
        match cutout(&parse(png(&img))) {
            Ok(cut) => assert_eq!(cut.dimensions(), (w, h)),
            Err(e) => {
                assert!(matches!(e, LocalError::NoProduct), "{w}x{h}: {e:?}");
                let reason = FailReason::from(e);
                assert!(matches!(reason, FailReason::BadInput(_)) && !reason.worth_retrying(), "{reason:?}");
                assert_eq!(
                    messages::fail_reason(Lang::En, &reason),
                    "one of the photos cannot be used. Start again with other photos."
                );
            }
        }
    }
}

#[test]
fn the_classic_segmenter_refuses_a_busy_background() {
    let mut rng = testset::seeded(9);
    let noise = RgbImage::from_fn(200, 150, |_, _| {
        image::Rgb([(rng.unit() * 255.0) as u8, (rng.unit() * 255.0) as u8, (rng.unit() * 255.0) as u8])
    });
    let input = parse(testset::jpeg(&noise, 90).unwrap());
    let err = cutout_with(&input, Segmenter::Classic).unwrap_err();
    assert!(matches!(err, LocalError::BackgroundNotPlain { .. }), "{err}");
    assert!(err.to_string().contains("plain"));
    assert_eq!(FailReason::from(err), FailReason::BackgroundNotPlain);
    // The learned segmenter cuts whatever it finds salient, or finds nothing: never an
    // internal error, never a panic.
    match cutout_with(&input, Segmenter::Learned) {
        Ok(cut) => assert_eq!(cut.dimensions(), (200, 150)),
        Err(e) => {
            assert!(matches!(e, LocalError::NoProduct | LocalError::BackgroundNotPlain { .. }), "{e:?}")
        }
    }
}

#[test]
fn a_truncated_file_is_refused_as_damaged() {
    let s = shot(Kind::Box, 6);
    let jpeg = testset::jpeg(&s.image, 90).unwrap();
    let cut = &jpeg[..jpeg.len() / 3];
    let broken = match InputImage::parse(cut.to_vec(), &ImageLimits::default()) {
        Err(e) => e,
        Ok(img) => match cutout(&img) {
            Err(LocalError::Image(e)) => e,
            // Some decoders fill a truncated JPEG with grey; then any outcome but a panic
            // or an internal error is acceptable.
            Ok(_) | Err(LocalError::NoProduct | LocalError::BackgroundNotPlain { .. }) => return,
            Err(other) => panic!("a truncated file is the user's to fix, not an internal error: {other:?}"),
        },
    };
    assert!(matches!(broken, InputImageError::Broken(_)), "{broken:?}");
    let refusal = Refusal::from(&broken);
    assert_eq!(refusal, Refusal::Broken);
    assert_eq!(
        messages::refusal(Lang::En, &refusal),
        "I can't read this image: the file is damaged. Please send another photo."
    );
}

#[test]
fn encode_by_extension() {
    let img = DynamicImage::ImageRgb8(RgbImage::from_pixel(8, 6, image::Rgb([1, 2, 3])));
    for (ext, canonical, format) in [
        ("png", "png", ImageFormat::Png),
        ("JPG", "jpg", ImageFormat::Jpeg),
        ("jpeg", "jpg", ImageFormat::Jpeg),
        ("WebP", "webp", ImageFormat::WebP),
    ] {
        let (bytes, got) = encode(&img, ext).unwrap();
        assert_eq!(got, canonical);
        assert_eq!(image::guess_format(&bytes).unwrap(), format);
        assert_eq!(image::load_from_memory(&bytes).unwrap().width(), 8);
    }
    assert!(matches!(encode(&img, "gif"), Err(LocalError::UnsupportedExtension(_))));
}

#[test]
fn composite_is_the_background_size() {
    let s = shot(Kind::Glossy, 7);
    let product = parse(testset::jpeg(&s.image, 90).unwrap());
    let scene = testset::scene(7, 1, 240, 320);
    let background = parse(testset::jpeg(&scene, 90).unwrap());
    let out = composite(&product, &background).unwrap();
    assert_eq!(out.dimensions(), (240, 320));
    // Something was placed: the result differs from the scene in its lower middle.
    let changed = (0..240u32)
        .flat_map(|x| (150..300u32).map(move |y| (x, y)))
        .filter(|&(x, y)| out.get_pixel(x, y) != scene.get_pixel(x, y))
        .count();
    assert!(changed > 1000, "{changed} pixels changed");
}

#[tokio::test]
async fn the_engine_returns_an_image_of_the_background_size() {
    let s = shot(Kind::Bottle, 8);
    let product = parse(testset::jpeg(&s.image, 90).unwrap());
    let scene = testset::scene(8, 0, 300, 200);
    let background = parse(testset::jpeg(&scene, 90).unwrap());
    let engine = LocalEngine::default();
    assert_eq!(engine.name(), "local");
    assert_eq!(engine.lanes().len(), 1);
    let ctx = RunContext::detached(
        JobId(1),
        LaneId(1),
        JobInput { product: ImageSource::Memory(product), background: ImageSource::Memory(background) },
    );
    let out = engine.run(ctx).await.expect("engine result");
    let img = image::load_from_memory(&out.image).expect("decodable");
    assert_eq!((img.width(), img.height()), (300, 200));
    assert_eq!(image::guess_format(&out.image).unwrap().extensions_str()[0], out.extension);
}

#[tokio::test]
async fn the_engine_honours_cancellation() {
    let s = shot(Kind::Box, 9);
    let product = parse(testset::jpeg(&s.image, 90).unwrap());
    let background = parse(testset::jpeg(&testset::scene(9, 0, 300, 200), 90).unwrap());
    let ctx = RunContext::detached(
        JobId(2),
        LaneId(1),
        JobInput { product: ImageSource::Memory(product), background: ImageSource::Memory(background) },
    );
    ctx.cancel.cancel();
    let result = LocalEngine::default().run(ctx).await;
    assert!(matches!(result, Err(backdrop::engine::EngineError::Cancelled)));
}

#[test]
fn a_tiny_background_still_gets_a_result_of_its_size() {
    let s = shot(Kind::Box, 10);
    let product = parse(testset::jpeg(&s.image, 90).unwrap());
    for (w, h) in [(1u32, 1u32), (2, 3), (7, 5)] {
        let scene = DynamicImage::ImageRgb8(RgbImage::from_pixel(w, h, image::Rgb([120, 130, 140])));
        let out = composite(&product, &parse(png(&scene))).unwrap();
        assert_eq!(out.dimensions(), (w, h));
    }
}

#[test]
fn the_classic_segmenter_refuses_a_room_scene() {
    let scene = testset::scene(3, 0, 320, 240);
    let err = cutout_with(&parse(testset::jpeg(&scene, 90).unwrap()), Segmenter::Classic).unwrap_err();
    assert!(matches!(err, LocalError::BackgroundNotPlain { .. }), "{err}");
}

/// A CMYK JPEG (as print workflows and Photoshop save them; made with Pillow, see
/// tests/fixtures/README.md): a red box on a light grey sweep, 160x120.
#[test]
fn a_cmyk_jpeg_is_read_in_the_right_colours_and_cut() {
    let input = parse(include_bytes!("fixtures/product-cmyk.jpg").to_vec());
    let rgb = input.decode().expect("a CMYK JPEG decodes").into_rgb8();
    let near = |p: &image::Rgb<u8>, want: [u8; 3]| p.0.iter().zip(want).all(|(a, b)| a.abs_diff(b) <= 12);
    assert!(near(rgb.get_pixel(80, 60), [200, 30, 30]), "the box is red: {:?}", rgb.get_pixel(80, 60));
    assert!(near(rgb.get_pixel(5, 5), [232, 232, 228]), "the sweep is light grey: {:?}", rgb.get_pixel(5, 5));
    let cut = cutout(&input).expect("cut");
    let alpha = alpha_of(&cut);
    let truth = GrayImage::from_fn(160, 120, |x, y| {
        image::Luma([if (55..=105).contains(&x) && (30..=100).contains(&y) { 255 } else { 0 }])
    });
    let scores = score(&alpha, &truth).unwrap();
    assert!(scores.iou > 0.9, "CMYK IoU {:.4}", scores.iou);
}

#[test]
fn a_stopped_composite_gives_the_core_back_between_stages() {
    use backdrop::engine::local::{Stop, composite_until};
    let s = testset::shot(3, 0, 1600, 1200);
    let product = parse(testset::jpeg(&s.image, 90).unwrap());
    let background = parse(testset::jpeg(&testset::scene(3, 0, 1600, 1200), 90).unwrap());
    let stopped = Stop::default();
    stopped.stop();
    assert!(matches!(composite_until(&product, &background, &stopped), Err(LocalError::Stopped)));
    // Stopped while it works: it ends at the next stage instead of finishing.
    let stop = Stop::default();
    let later = stop.clone();
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(20));
        later.stop();
    });
    let started = std::time::Instant::now();
    let result = composite_until(&product, &background, &stop);
    stopper.join().unwrap();
    assert!(matches!(result, Err(LocalError::Stopped)), "ran to the end in {:?}", started.elapsed());
}
