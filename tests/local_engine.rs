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

// The composite a seller sees (issue #15 item 5): the shadow follows the scene's light,
// neutral products stay neutral, the product stands on the scene's surface.

/// A product with its own alpha (so the engine draws a synthetic shadow): a box of
/// `colour` in a transparent frame.
fn boxed_product(colour: [u8; 3]) -> InputImage {
    let img = RgbaImage::from_fn(160, 240, |x, y| {
        if (30..130).contains(&x) && (20..220).contains(&y) {
            image::Rgba([colour[0], colour[1], colour[2], 255])
        } else {
            image::Rgba([0, 0, 0, 0])
        }
    });
    parse(png(&DynamicImage::ImageRgba8(img)))
}

/// A wall over a table whose edge is at `edge` (share of the height), `wall` and `table`
/// colours, shaded left to right by `side` (1: twice as bright on the left as on the
/// right, -1 the mirror, 0 even).
fn room(w: u32, h: u32, edge: f32, wall: [f32; 3], table: [f32; 3], side: f32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let base = if (y as f32) < edge * h as f32 { wall } else { table };
        let t = x as f32 / (w - 1) as f32;
        let shade = 1.0 + side * (1.0 / 3.0 - 2.0 / 3.0 * t);
        image::Rgb(base.map(|c| (c * shade).round().clamp(0.0, 255.0) as u8))
    })
}

/// Saves `img` under BACKDROP_SAVE_DIR when set, to look at by eye.
fn save_for_eyes(name: &str, img: &RgbImage) {
    if let Some(dir) = std::env::var_os("BACKDROP_SAVE_DIR") {
        img.save(std::path::Path::new(&dir).join(name)).expect("saving for eyes");
    }
}

/// Bounding box (x0, y0, x1, y1 inclusive) of the pixels `is_product` picks.
fn found_box(img: &RgbImage, is_product: impl Fn(&image::Rgb<u8>) -> bool) -> (u32, u32, u32, u32) {
    let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0, 0);
    for (x, y, p) in img.enumerate_pixels() {
        if is_product(p) {
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
        }
    }
    assert!(x0 <= x1, "no product found in the composite");
    (x0, y0, x1, y1)
}

fn magenta(p: &image::Rgb<u8>) -> bool {
    p[0] > 140 && p[2] > 120 && p[1] < 90
}

/// Mean darkening (1 - out/scene, in luminance) over a rectangle, clamped to the frame.
fn darkening(out: &RgbImage, scene: &RgbImage, x: (i64, i64), y: (i64, i64)) -> f64 {
    let (w, h) = (i64::from(out.width()), i64::from(out.height()));
    let (mut sum, mut n) = (0.0, 0.0);
    for yy in y.0.max(0)..y.1.min(h) {
        for xx in x.0.max(0)..x.1.min(w) {
            let lum = |p: &image::Rgb<u8>| {
                0.2126 * f64::from(p[0]) + 0.7152 * f64::from(p[1]) + 0.0722 * f64::from(p[2])
            };
            let (o, s) =
                (lum(out.get_pixel(xx as u32, yy as u32)), lum(scene.get_pixel(xx as u32, yy as u32)));
            sum += 1.0 - o / s.max(1.0);
            n += 1.0;
        }
    }
    sum / f64::max(n, 1.0)
}

/// Darkening just left and just right of the product's base, each over a window as wide
/// as the product, from a tenth of its height above the base to a little below.
fn shadow_sides(name: &str, scene: &RgbImage) -> (f64, f64) {
    let out = composite(&boxed_product([200, 40, 170]), &parse(png(&DynamicImage::ImageRgb8(scene.clone()))))
        .unwrap();
    save_for_eyes(&format!("shadow_{name}.png"), &out);
    let (x0, y0, x1, y1) = found_box(&out, magenta);
    let (bw, bh) = (i64::from(x1 - x0 + 1), i64::from(y1 - y0 + 1));
    let rows = (i64::from(y1) - bh / 10, i64::from(y1) + bh / 30);
    let left = darkening(&out, scene, (i64::from(x0) - bw, i64::from(x0) - 2), rows);
    let right = darkening(&out, scene, (i64::from(x1) + 3, i64::from(x1) + 1 + bw), rows);
    (left, right)
}

#[test]
fn the_shadow_falls_away_from_the_scene_light() {
    let wall = [205.0, 200.0, 190.0];
    let table = [150.0, 110.0, 80.0];
    let from_left = room(480, 360, 0.6, wall, table, 1.0);
    let from_right = room(480, 360, 0.6, wall, table, -1.0);
    let even = room(480, 360, 0.6, wall, table, 0.0);
    let (l, r) = shadow_sides("from_left", &from_left);
    eprintln!("lit from the left: darkening left {l:.4} right {r:.4}");
    assert!(
        r > 0.05 && r > 4.0 * l,
        "lit from the left, the shadow must fall right: left {l:.4} right {r:.4}"
    );
    let (l, r) = shadow_sides("from_right", &from_right);
    eprintln!("lit from the right: darkening left {l:.4} right {r:.4}");
    assert!(
        l > 0.05 && l > 4.0 * r,
        "lit from the right, the shadow must fall left: left {l:.4} right {r:.4}"
    );
    let (l, r) = shadow_sides("even", &even);
    eprintln!("even light: darkening left {l:.4} right {r:.4}");
    assert!(
        (l - r).abs() <= 0.1 * l.max(r) + 0.002,
        "no side light, a symmetric shadow: left {l:.4} right {r:.4}"
    );
}

/// Chroma (C*ab) of the composite's product pixels inside its box (an eighth of its size
/// in from the edges, clear of the light wrap): mean and largest.
fn product_chroma(out: &RgbImage, (x0, y0, x1, y1): (u32, u32, u32, u32)) -> (f64, f64) {
    let (mx, my) = ((x1 - x0) / 8, (y1 - y0) / 8);
    let (mut sum, mut max, mut n) = (0.0f64, 0.0f64, 0.0f64);
    for y in y0 + my..=y1 - my {
        for x in x0 + mx..=x1 - mx {
            let c = chroma_of(out.get_pixel(x, y).0);
            sum += c;
            max = max.max(c);
            n += 1.0;
        }
    }
    (sum / n.max(1.0), max)
}

fn chroma_of(rgb: [u8; 3]) -> f64 {
    let lin = rgb.map(|v| {
        let c = f64::from(v) / 255.0;
        if c <= 0.04045 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
    });
    let x = (0.412_456_4 * lin[0] + 0.357_576_1 * lin[1] + 0.180_437_5 * lin[2]) / 0.950_47;
    let y = 0.212_672_9 * lin[0] + 0.715_152_2 * lin[1] + 0.072_175 * lin[2];
    let z = (0.019_333_9 * lin[0] + 0.119_192 * lin[1] + 0.950_304_1 * lin[2]) / 1.088_83;
    let f = |t: f64| if t > 0.008_856 { t.cbrt() } else { 7.787 * t + 16.0 / 116.0 };
    let (a, b) = (500.0 * (f(x) - f(y)), 200.0 * (f(y) - f(z)));
    a.hypot(b)
}

/// A white and a grey box on an orange and on a blue scene keep their neutral pixels
/// within 2.3 C*ab (the usual just-noticeable difference; the grade itself allows 1.5,
/// the rest is rounding and the soft edge of the light wrap's reach): before this bound
/// the grade tinted them by 3.2 to 7.8.
#[test]
fn neutral_products_stay_neutral_on_warm_and_cool_scenes() {
    let scenes = [
        ("orange", [235.0, 150.0, 60.0], [170.0, 90.0, 30.0]),
        ("blue", [70.0, 130.0, 225.0], [40.0, 70.0, 150.0]),
    ];
    for (name, wall, table) in scenes {
        let scene = room(400, 300, 0.6, wall, table, 0.0);
        for (grey_name, grey) in [("white", 245u8), ("grey", 128)] {
            let out =
                composite(&boxed_product([grey; 3]), &parse(png(&DynamicImage::ImageRgb8(scene.clone()))))
                    .unwrap();
            save_for_eyes(&format!("neutral_{grey_name}_on_{name}.png"), &out);
            // The scene's pixels all have a chroma above 30, the product's far less.
            let found = found_box(&out, |p| chroma_of(p.0) < 12.0);
            let (mean, max) = product_chroma(&out, found);
            eprintln!("{grey_name} on {name}: chroma before 0.0, after mean {mean:.2} max {max:.2}");
            assert!(
                max <= 2.3,
                "{grey_name} on {name}: neutral pixels took chroma {max:.2} (mean {mean:.2})"
            );
        }
    }
}

/// A wall over a table edge at a known height: the product's base is on the table, in
/// its middle three fifths of depth (clear of the edge and of the frame's bottom, where
/// the fixed placement at 90 % was not for a high edge), at a plausible size, not cropped;
/// with no surface in the scene it keeps the default place (base at 90 %).
#[test]
fn the_product_stands_on_the_scenes_surface() {
    let (w, h) = (480u32, 360u32);
    for edge in [0.3f32, 0.45, 0.55, 0.75] {
        let scene = room(w, h, edge, [200.0, 200.0, 205.0], [120.0, 95.0, 70.0], 0.0);
        let out =
            composite(&boxed_product([200, 40, 170]), &parse(png(&DynamicImage::ImageRgb8(scene)))).unwrap();
        let (x0, y0, x1, y1) = found_box(&out, magenta);
        let (base, edge_row) = (y1 as f32 / h as f32, edge);
        let share = (y1 - y0 + 1) as f32 / h as f32;
        eprintln!("edge {edge_row:.2}: base {base:.3}, height share {share:.3}");
        let depth = 1.0 - edge_row;
        let band = (edge_row + 0.2 * depth, edge_row + 0.8 * depth);
        assert!(base > band.0 && base < band.1, "edge {edge_row}: base at {base:.3}, not in {band:?}");
        assert!((0.33..=0.67).contains(&share), "edge {edge_row}: height share {share:.3}");
        assert!(y0 > 0 && x0 > 0 && x1 < w - 1, "edge {edge_row}: cropped ({x0}, {y0}, {x1}, {y1})");
    }
    let sweep = RgbImage::from_fn(w, h, |_, y| {
        image::Rgb([220 - (y / 6) as u8, 220 - (y / 6) as u8, 225 - (y / 6) as u8])
    });
    let out =
        composite(&boxed_product([200, 40, 170]), &parse(png(&DynamicImage::ImageRgb8(sweep)))).unwrap();
    let (_, _, _, y1) = found_box(&out, magenta);
    assert!((y1 as f32 / h as f32 - 0.90).abs() <= 0.01, "no surface: base at {}", y1 as f32 / h as f32);
}

/// Real photographs (lab/realistic/): surfaces seen from above (brick, grass, gravel, a
/// wooden table) have no edge to stand on, so the product keeps the default place (base at
/// 90 %); the rocket's launch pad meets the sky at about 88 %, and the product stands below
/// that line.
#[test]
fn real_scenes_claim_a_surface_only_where_there_is_one() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("lab/realistic/set");
    let product = boxed_product([200, 40, 170]);
    let base_of = |name: &str| {
        let background = parse(std::fs::read(dir.join(name)).expect("a realistic image"));
        let out = composite(&product, &background).unwrap();
        save_for_eyes(&format!("real_{name}.png"), &out);
        found_box(&out, magenta).3 as f32 / out.height() as f32
    };
    for name in
        ["cutout__lemur_on_brick.jpg", "cutout__lemur_on_grass.jpg", "clutter__003_white_on_coffee.jpg"]
    {
        let base = base_of(name);
        assert!((base - 0.90).abs() <= 0.01, "{name}: base at {base:.3}");
    }
    let base = base_of("clutter__006_bottle_on_rocket.jpg");
    assert!(base > 0.885 && base < 0.97, "rocket: base at {base:.3}");
}
