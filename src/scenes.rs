//! Preset scenes: backgrounds a seller can pick by name instead of sending a photo.
//!
//! Eight are built in (rendered by `backdrop-lab scenes`, committed under `scenes/` and
//! embedded in the binary, so nothing is downloaded at run time); the operator adds their
//! own from `SCENES_DIR` (every image in it; the file stem is the scene's name, and an
//! operator's scene of a built-in name replaces it). A file there that is not a usable
//! image is reported and skipped, never fatal.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::input_image::{ImageLimits, InputImage, InputImageError};

/// One built-in scene: its name, what it looks like, its JPEG.
struct BuiltIn {
    name: &'static str,
    description: &'static str,
    jpeg: &'static [u8],
}

const BUILT_IN: [BuiltIn; 8] = [
    BuiltIn {
        name: "white-studio",
        description: "seamless white sweep, soft key light from the left",
        jpeg: include_bytes!("../scenes/white-studio.jpg"),
    },
    BuiltIn {
        name: "marble",
        description: "white marble with grey veins against a warm plaster wall",
        jpeg: include_bytes!("../scenes/marble.jpg"),
    },
    BuiltIn {
        name: "light-wood",
        description: "light oak table planks, an out-of-focus warm room behind",
        jpeg: include_bytes!("../scenes/light-wood.jpg"),
    },
    BuiltIn {
        name: "concrete",
        description: "raw grey concrete floor and wall",
        jpeg: include_bytes!("../scenes/concrete.jpg"),
    },
    BuiltIn {
        name: "pastel-paper",
        description: "pink paper table against a mint paper wall",
        jpeg: include_bytes!("../scenes/pastel-paper.jpg"),
    },
    BuiltIn {
        name: "kitchen-counter",
        description: "speckled quartz counter, white subway tiles behind",
        jpeg: include_bytes!("../scenes/kitchen-counter.jpg"),
    },
    BuiltIn {
        name: "bathroom-shelf",
        description: "glossy white shelf, pale blue square tiles behind",
        jpeg: include_bytes!("../scenes/bathroom-shelf.jpg"),
    },
    BuiltIn {
        name: "outdoor-stone",
        description: "stone flagstones outdoors, blurred greenery behind",
        jpeg: include_bytes!("../scenes/outdoor-stone.jpg"),
    },
];

/// Where a scene comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SceneSource {
    BuiltIn(&'static [u8]),
    File(PathBuf),
}

/// A scene a request can name.
#[derive(Clone, Debug)]
pub struct Scene {
    pub name: String,
    pub description: String,
    pub source: SceneSource,
}

/// A file in `SCENES_DIR` that was skipped, and why.
#[derive(Debug, thiserror::Error)]
#[error("{}: {reason}", path.display())]
pub struct SkippedScene {
    pub path: PathBuf,
    pub reason: String,
}

/// Why a scene cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SceneError {
    /// No scene of that name; the message lists those there are.
    #[error("no scene named {name:?}; the scenes are: {}", known.join(", "))]
    Unknown { name: String, known: Vec<String> },
    #[error("SCENES_DIR {}: {reason}", dir.display())]
    Dir { dir: PathBuf, reason: String },
    #[error("scene {name:?} cannot be read: {reason}")]
    Unreadable { name: String, reason: String },
}

/// Scenes are backgrounds: the CLI's limits (an operator's photo may be large).
const SCENE_LIMITS: ImageLimits =
    ImageLimits { max_bytes: 100 * 1024 * 1024, max_pixels: 100_000_000, max_side: 20_000 };

/// The scenes one process knows, by name.
#[derive(Clone, Debug)]
pub struct SceneCatalog {
    scenes: BTreeMap<String, Scene>,
    order: Vec<String>,
}

impl SceneCatalog {
    /// The built-in scenes only.
    pub fn built_in() -> Self {
        let mut catalog = Self { scenes: BTreeMap::new(), order: Vec::new() };
        for b in &BUILT_IN {
            catalog.insert(Scene {
                name: b.name.to_owned(),
                description: b.description.to_owned(),
                source: SceneSource::BuiltIn(b.jpeg),
            });
        }
        catalog
    }

    /// The built-in scenes plus every usable image of `dir` (`SCENES_DIR`); the files that
    /// were skipped come back beside it. Each file is checked (format and size from its
    /// header; not decoded), so a broken one is found here, not in a job.
    pub fn load(dir: Option<&Path>) -> Result<(Self, Vec<SkippedScene>), SceneError> {
        let mut catalog = Self::built_in();
        let mut skipped = Vec::new();
        let Some(dir) = dir else {
            return Ok((catalog, skipped));
        };
        let dir_error = |e: std::io::Error| SceneError::Dir { dir: dir.to_owned(), reason: e.to_string() };
        let mut paths: Vec<PathBuf> =
            std::fs::read_dir(dir).map_err(dir_error)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            if path.is_dir() || path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
                continue;
            }
            let Some(name) = path.file_stem().and_then(|s| s.to_str()).map(str::to_owned) else {
                skipped.push(SkippedScene { path, reason: "the file name is not UTF-8".into() });
                continue;
            };
            match check(&path) {
                Ok(image) => {
                    let (w, h) = image.dimensions();
                    let description = format!("the operator's scene ({w}x{h}, SCENES_DIR)");
                    catalog.insert(Scene { name, description, source: SceneSource::File(path) });
                }
                Err(reason) => skipped.push(SkippedScene { path, reason }),
            }
        }
        Ok((catalog, skipped))
    }

    fn insert(&mut self, scene: Scene) {
        if !self.scenes.contains_key(&scene.name) {
            self.order.push(scene.name.clone());
        }
        self.scenes.insert(scene.name.clone(), scene);
    }

    /// Every scene, built-in ones first, in listing order.
    pub fn iter(&self) -> impl Iterator<Item = &Scene> {
        self.order.iter().filter_map(|name| self.scenes.get(name))
    }

    /// The scene named `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Result<&Scene, SceneError> {
        let wanted = name.trim();
        self.scenes
            .get(wanted)
            .or_else(|| self.scenes.values().find(|s| s.name.eq_ignore_ascii_case(wanted)))
            .ok_or_else(|| SceneError::Unknown { name: name.to_owned(), known: self.order.clone() })
    }

    /// The picture of the scene named `name`, checked like any background.
    pub fn image(&self, name: &str) -> Result<InputImage, SceneError> {
        let scene = self.get(name)?;
        let unreadable = |reason: String| SceneError::Unreadable { name: scene.name.clone(), reason };
        match &scene.source {
            SceneSource::BuiltIn(jpeg) => {
                InputImage::parse(jpeg.to_vec(), &SCENE_LIMITS).map_err(|e| unreadable(e.to_string()))
            }
            SceneSource::File(path) => check(path).map_err(unreadable),
        }
    }
}

/// The image at `path`, checked at the door and decoded once (a truncated file has a
/// good header), or why not.
fn check(path: &Path) -> Result<InputImage, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let image = InputImage::parse(bytes, &SCENE_LIMITS).map_err(|e: InputImageError| e.to_string())?;
    image.decode().map_err(|e| e.to_string())?;
    Ok(image)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_scene_is_a_usable_picture() {
        let catalog = SceneCatalog::built_in();
        assert_eq!(catalog.iter().count(), 8);
        for scene in catalog.iter() {
            let image = catalog.image(&scene.name).unwrap();
            assert!(image.dimensions().0 >= 1200, "{}", scene.name);
        }
        let e = catalog.image("beach").unwrap_err().to_string();
        assert!(e.contains("beach") && e.contains("marble"), "{e}");
    }
}
