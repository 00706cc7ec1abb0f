//! The preset scenes `backdrop` ships (`scenes/`, embedded in the binary), rendered here.
//!
//! Sellers without a photo of a setting pick one by name. Each is a product-photo set: a
//! wall behind, a floor or table plane in perspective below it, a soft key light from the
//! upper left and the surface's texture (marble veins, wood grain, concrete noise, tiles),
//! all procedural so the project owns every pixel. `backdrop-lab scenes --out scenes`
//! writes them; the library only embeds the files.

use image::{Rgb, RgbImage};
use rayon::prelude::*;

/// A scene's name (the file stem `backdrop` knows it by) and how it is drawn.
pub struct SceneRecipe {
    pub name: &'static str,
    /// Where the wall meets the floor, as a share of the height from the top.
    horizon: f32,
    wall: fn(f32, f32) -> [f32; 3],
    floor: fn(f32, f32) -> [f32; 3],
    /// A sweep (no edge where wall meets floor) instead of a corner.
    sweep: bool,
}

/// Every preset scene, in the order `backdrop scenes` lists them.
pub const RECIPES: [SceneRecipe; 8] = [
    SceneRecipe { name: "white-studio", horizon: 0.45, wall: studio_wall, floor: studio_floor, sweep: true },
    SceneRecipe { name: "marble", horizon: 0.46, wall: plaster_wall, floor: marble, sweep: false },
    SceneRecipe { name: "light-wood", horizon: 0.44, wall: soft_wall, floor: wood, sweep: false },
    SceneRecipe { name: "concrete", horizon: 0.47, wall: concrete_wall, floor: concrete, sweep: false },
    SceneRecipe { name: "pastel-paper", horizon: 0.5, wall: mint_paper, floor: pink_paper, sweep: false },
    SceneRecipe { name: "kitchen-counter", horizon: 0.5, wall: subway_tiles, floor: quartz, sweep: false },
    SceneRecipe { name: "bathroom-shelf", horizon: 0.52, wall: square_tiles, floor: shelf, sweep: false },
    SceneRecipe { name: "outdoor-stone", horizon: 0.45, wall: greenery, floor: flagstones, sweep: false },
];

/// Renders `recipe` at `w` x `h`.
pub fn render(recipe: &SceneRecipe, w: u32, h: u32) -> RgbImage {
    let horizon = recipe.horizon * h as f32;
    let mut img = RgbImage::new(w, h);
    let rows: Vec<Vec<[u8; 3]>> = (0..h)
        .into_par_iter()
        .map(|y| {
            (0..w)
                .map(|x| {
                    // 2x2 supersampling keeps the far floor's texture from aliasing.
                    let mut acc = [0.0f32; 3];
                    for (dx, dy) in [(0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)] {
                        let c = shade(recipe, x as f32 + dx, y as f32 + dy, w as f32, h as f32, horizon);
                        for k in 0..3 {
                            acc[k] += c[k] / 4.0;
                        }
                    }
                    let grain = (hash2(x as i32, y as i32 * 7 + 3) - 0.5) * 0.012;
                    acc.map(|v| ((v + grain).clamp(0.0, 1.0).powf(1.0 / 2.2) * 255.0).round() as u8)
                })
                .collect()
        })
        .collect();
    for (y, row) in rows.into_iter().enumerate() {
        for (x, c) in row.into_iter().enumerate() {
            img.put_pixel(x as u32, y as u32, Rgb(c));
        }
    }
    img
}

/// Linear colour of the scene at pixel (x, y): the surface's texture times the light.
fn shade(r: &SceneRecipe, x: f32, y: f32, w: f32, h: f32, horizon: f32) -> [f32; 3] {
    let (nx, ny) = (x / w, y / h);
    // A key light from the upper left, falling off towards the right and the corners.
    let key = 0.82 + 0.28 * (1.0 - ((nx - 0.3).powi(2) + (ny - 0.15).powi(2)).sqrt()).clamp(0.0, 1.0);
    let vignette = 1.0 - 0.22 * ((nx - 0.5).powi(2) * 1.6 + (ny - 0.55).powi(2) * 1.2).min(1.0);
    let light = key * vignette;
    let colour = if y < horizon {
        // Wall: texture coordinates in wall units (1 = the frame's width).
        let c = (r.wall)(nx * 8.0, y / w * 8.0);
        // Light on the wall grows towards its top; the corner is in soft shade.
        let to_corner = ((horizon - y) / (0.12 * h)).clamp(0.0, 1.0);
        let occlusion = if r.sweep { 1.0 } else { 0.86 + 0.14 * to_corner.sqrt() };
        c.map(|v| v * occlusion * (0.93 + 0.07 * (1.0 - ny)))
    } else {
        // Floor: a plane seen from a low camera; depth grows towards the horizon.
        let below = (y - horizon).max(0.5) / h;
        let depth = 0.35 / below;
        let u = (nx - 0.5) * depth * 2.0;
        let c = (r.floor)(u * 4.0, depth * 4.0);
        let near_wall = (below / 0.06).clamp(0.0, 1.0);
        let occlusion = if r.sweep { 1.0 } else { 0.84 + 0.16 * near_wall.sqrt() };
        // The front edge catches less of the key light than the middle of the table.
        let front = 1.0 - 0.12 * ((ny - 0.8).max(0.0) / 0.2).powi(2);
        c.map(|v| v * occlusion * front)
    };
    colour.map(|v| v * light)
}

/// sRGB 0..255 to linear.
fn lin(c: [u8; 3]) -> [f32; 3] {
    c.map(|v| (f32::from(v) / 255.0).powf(2.2))
}

fn mix(a: [f32; 3], b: [f32; 3], t: f32) -> [f32; 3] {
    let t = t.clamp(0.0, 1.0);
    [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t]
}

fn scale(c: [f32; 3], k: f32) -> [f32; 3] {
    c.map(|v| v * k)
}

fn hash2(x: i32, y: i32) -> f32 {
    let mut h = (x as u32).wrapping_mul(0x8da6_b343) ^ (y as u32).wrapping_mul(0xd816_3841);
    h ^= h >> 13;
    h = h.wrapping_mul(0x5bd1_e995);
    h ^= h >> 15;
    (h & 0x00ff_ffff) as f32 / 16_777_216.0
}

/// Smooth value noise in 0..1.
fn noise(x: f32, y: f32) -> f32 {
    let (xi, yi) = (x.floor() as i32, y.floor() as i32);
    let (fx, fy) = (x - x.floor(), y - y.floor());
    let (sx, sy) = (fx * fx * (3.0 - 2.0 * fx), fy * fy * (3.0 - 2.0 * fy));
    let a = hash2(xi, yi) + (hash2(xi + 1, yi) - hash2(xi, yi)) * sx;
    let b = hash2(xi, yi + 1) + (hash2(xi + 1, yi + 1) - hash2(xi, yi + 1)) * sx;
    a + (b - a) * sy
}

/// Fractal noise: `octaves` layers of [`noise`], each twice as fine and half as strong.
fn fbm(x: f32, y: f32, octaves: u32) -> f32 {
    let (mut sum, mut amp, mut f, mut norm) = (0.0, 0.5, 1.0, 0.0);
    for i in 0..octaves {
        sum += amp * noise(x * f + i as f32 * 17.3, y * f - i as f32 * 9.1);
        norm += amp;
        amp *= 0.5;
        f *= 2.03;
    }
    sum / norm
}

/// Distance to the nearest edge of a jittered cell grid (0 on the grout line) and the
/// cell's own random value.
fn cells(x: f32, y: f32) -> (f32, f32) {
    let (xi, yi) = (x.floor() as i32, y.floor() as i32);
    let (mut d1, mut d2, mut id) = (f32::MAX, f32::MAX, 0.0);
    for j in -1..=1 {
        for i in -1..=1 {
            let (cx, cy) = (xi + i, yi + j);
            let px = cx as f32 + 0.15 + 0.7 * hash2(cx, cy * 3 + 1);
            let py = cy as f32 + 0.15 + 0.7 * hash2(cx * 5 + 2, cy);
            let d = ((x - px).powi(2) + (y - py).powi(2)).sqrt();
            if d < d1 {
                d2 = d1;
                d1 = d;
                id = hash2(cx * 11, cy * 13);
            } else if d < d2 {
                d2 = d;
            }
        }
    }
    (d2 - d1, id)
}

/// A rectangular tile grid: distance to the nearest grout line, in tile units.
fn grout(x: f32, y: f32, offset_rows: bool) -> f32 {
    let row = y.floor();
    let x = if offset_rows && (row as i32).rem_euclid(2) == 1 { x + 0.5 } else { x };
    let (fx, fy) = (x - x.floor(), y - row);
    fx.min(1.0 - fx).min(fy.min(1.0 - fy) * 1.0)
}

fn studio_wall(x: f32, y: f32) -> [f32; 3] {
    scale(lin([246, 246, 244]), 0.97 + 0.03 * fbm(x * 0.5, y * 0.5, 3))
}

fn studio_floor(x: f32, z: f32) -> [f32; 3] {
    scale(lin([240, 240, 238]), 0.95 + 0.05 * fbm(x * 0.3, z * 0.3, 3))
}

fn plaster_wall(x: f32, y: f32) -> [f32; 3] {
    scale(lin([214, 206, 196]), 0.9 + 0.12 * fbm(x * 2.0, y * 2.0, 5))
}

fn marble(x: f32, z: f32) -> [f32; 3] {
    let warp = fbm(x * 0.7, z * 0.7, 6) * 6.0;
    let vein = ((x * 1.3 + z * 0.6 + warp) * 2.2).sin().abs();
    let fine = ((x * 3.1 - z * 1.7 + warp * 1.6) * 3.0).sin().abs();
    let base = mix(lin([236, 234, 230]), lin([222, 220, 218]), fbm(x * 1.5, z * 1.5, 4));
    let base = mix(base, lin([150, 150, 155]), (1.0 - vein / 0.06).max(0.0) * 0.8);
    mix(base, lin([185, 183, 185]), (1.0 - fine / 0.04).max(0.0) * 0.5)
}

fn soft_wall(x: f32, y: f32) -> [f32; 3] {
    // An out-of-focus room: large soft blobs of warm light.
    let blobs = fbm(x * 0.35, y * 0.35, 3);
    mix(lin([222, 216, 206]), lin([245, 238, 226]), blobs * 1.4 - 0.2)
}

fn wood(x: f32, z: f32) -> [f32; 3] {
    // Planks run away from the camera (along z), each with its own tone.
    let plank_w = 1.1;
    let plank = (x / plank_w).floor();
    let in_plank = x / plank_w - plank;
    let tone = hash2(plank as i32, 7);
    let ring_pos = x * 9.0 + fbm(x * 0.8 + plank * 3.0, z * 0.15, 4) * 5.0 + tone * 10.0;
    let rings = 0.5 + 0.5 * (ring_pos * 2.0).sin();
    let streaks = fbm(x * 14.0, z * 0.6, 3);
    let light = lin([214, 178, 132]);
    let dark = lin([176, 134, 88]);
    let c = mix(light, dark, rings * 0.55 + streaks * 0.25 + tone * 0.2);
    let seam = (in_plank.min(1.0 - in_plank) / 0.012).clamp(0.0, 1.0);
    scale(c, 0.55 + 0.45 * seam)
}

fn concrete_wall(x: f32, y: f32) -> [f32; 3] {
    scale(lin([178, 176, 172]), 0.82 + 0.3 * fbm(x * 1.5, y * 1.5, 6))
}

fn concrete(x: f32, z: f32) -> [f32; 3] {
    let n = fbm(x * 1.2, z * 1.2, 7);
    let pits = if hash2((x * 40.0) as i32, (z * 40.0) as i32) > 0.985 { 0.75 } else { 1.0 };
    scale(mix(lin([150, 149, 146]), lin([196, 194, 190]), n * 1.5 - 0.25), pits)
}

fn mint_paper(x: f32, y: f32) -> [f32; 3] {
    scale(lin([190, 226, 212]), 0.96 + 0.05 * fbm(x * 12.0, y * 12.0, 3))
}

fn pink_paper(x: f32, z: f32) -> [f32; 3] {
    scale(lin([244, 200, 204]), 0.96 + 0.05 * fbm(x * 12.0, z * 12.0, 3))
}

fn subway_tiles(x: f32, y: f32) -> [f32; 3] {
    let d = grout(x * 1.2, y * 2.4, true);
    let tile = mix(lin([240, 240, 236]), lin([226, 228, 226]), fbm(x * 3.0, y * 3.0, 3));
    mix(lin([196, 194, 188]), tile, (d / 0.03).clamp(0.0, 1.0))
}

fn quartz(x: f32, z: f32) -> [f32; 3] {
    let base = mix(lin([214, 210, 204]), lin([196, 192, 186]), fbm(x * 1.4, z * 1.4, 5));
    let speck = hash2((x * 60.0) as i32, (z * 60.0) as i32);
    if speck > 0.96 {
        lin([120, 112, 104])
    } else if speck < 0.03 {
        lin([240, 238, 232])
    } else {
        base
    }
}

fn square_tiles(x: f32, y: f32) -> [f32; 3] {
    let d = grout(x * 1.6, y * 1.6, false);
    let tile = mix(lin([206, 222, 230]), lin([196, 214, 224]), fbm(x * 2.0, y * 2.0, 3));
    mix(lin([236, 238, 238]), tile, (d / 0.035).clamp(0.0, 1.0))
}

fn shelf(x: f32, z: f32) -> [f32; 3] {
    // A glossy white shelf: faint reflection streaks of the tiles.
    let streak = 0.5 + 0.5 * (x * 2.0 + fbm(x, z * 0.2, 2)).sin();
    scale(lin([238, 238, 236]), 0.94 + 0.05 * streak)
}

fn greenery(x: f32, y: f32) -> [f32; 3] {
    // Foliage far behind, out of focus, with sky showing through at the top.
    let leaves = fbm(x * 0.9, y * 0.9, 4);
    let green = mix(lin([70, 110, 60]), lin([150, 180, 100]), leaves * 1.6 - 0.3);
    let sky = (0.35 - y / 8.0 * 2.0).max(0.0) * 2.0 + (leaves - 0.62).max(0.0) * 2.5;
    mix(green, lin([222, 232, 236]), sky)
}

fn flagstones(x: f32, z: f32) -> [f32; 3] {
    let (edge, id) = cells(x * 0.9, z * 0.9);
    let stone = mix(lin([168, 160, 148]), lin([128, 122, 114]), id * 0.7 + fbm(x * 2.0, z * 2.0, 5) * 0.5);
    let stone = scale(stone, 0.9 + 0.15 * fbm(x * 8.0, z * 8.0, 3));
    mix(lin([92, 88, 80]), stone, (edge / 0.06).clamp(0.0, 1.0))
}
