//! The `backdrop` binary: parses the command line and hands over to the library.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use backdrop::app::Application;
use backdrop::batch::{BatchPlan, ProgressStyle};
use backdrop::config::{EngineKind, Settings};
use backdrop::engine::local;
use backdrop::input_image::{ImageLimits, InputImage};
use backdrop::job::{JobState, NoJournal};
use backdrop::output::{OutputFormat, Variant, VariantCount};
use backdrop::requests::{self, Request};
use backdrop::scenes::SceneCatalog;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

/// Backdrop puts a product photo into the scene of a reference photo.
///
/// Configuration comes from environment variables or a `.env` file in the working
/// directory (see the README for every variable).
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The scene a product goes into: a photo, or one of the preset scenes by name.
#[derive(clap::Args)]
#[group(required = true, multiple = false)]
struct SceneChoice {
    /// The scene to put the product in (JPEG, PNG or WebP).
    #[arg(long)]
    background: Option<PathBuf>,
    /// A preset scene by name instead of a background photo (`backdrop scenes` lists them).
    #[arg(long)]
    scene: Option<String>,
}

/// How results come out for a seller.
#[derive(clap::Args)]
struct SellerOutput {
    /// The marketplace frame: original (the background's), square (1:1), wildberries and
    /// ozon (3:4, 1200x1600), amazon (2000x2000 on pure white); by default OUTPUT_FORMAT,
    /// else original.
    #[arg(long, value_enum)]
    format: Option<OutputFormat>,
    /// Different pictures to make (1 to 4): `--out result.jpg` then writes result-1.jpg ...
    /// result-N.jpg.
    #[arg(long, default_value = "1")]
    variants: VariantCount,
}

#[derive(Subcommand)]
enum Command {
    /// Run the Telegram bot (needs BOT_TOKEN).
    Bot,
    /// Place a product into a background scene: one job per variant through the same
    /// pipeline the bot uses.
    Generate {
        /// The product photo (JPEG, PNG or WebP).
        #[arg(long)]
        product: PathBuf,
        #[command(flatten)]
        scene: SceneChoice,
        /// Where to write the result; the extension (.png, .jpg, .webp) picks the format.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        output: SellerOutput,
        /// The engine; by default ENGINE, or runninghub when a RunningHub key is configured,
        /// else local.
        #[arg(long, value_enum)]
        engine: Option<EngineKind>,
        /// How the built-in engine finds the product; by default LOCAL_SEGMENTER, else
        /// learned.
        #[arg(long, value_enum)]
        segmenter: Option<local::Segmenter>,
    },
    /// Every image of a folder into one scene, in parallel, resumable, with a report.csv.
    /// Exits non-zero if any file failed.
    Batch {
        /// The folder of product photos.
        input_dir: PathBuf,
        #[command(flatten)]
        scene: SceneChoice,
        /// The folder for the results (NAME.jpg, or NAME-1.jpg ... with variants) and
        /// report.csv.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        output: SellerOutput,
        /// Files in flight at once; by default what the engine's slots can run, plus one
        /// (the built-in engine: one job per core, or this many).
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
        jobs: Option<u16>,
        /// Redo files whose results exist (otherwise they are skipped).
        #[arg(long)]
        force: bool,
        /// The engine; by default ENGINE (as for generate).
        #[arg(long, value_enum)]
        engine: Option<EngineKind>,
        /// How the built-in engine finds the product.
        #[arg(long, value_enum)]
        segmenter: Option<local::Segmenter>,
    },
    /// List the preset scenes (built in, and the operator's own in SCENES_DIR).
    Scenes,
    /// Cut the product out of its photo: a PNG with transparency (built-in engine).
    Cutout {
        /// The product photo.
        product: PathBuf,
        /// Where to write the PNG.
        #[arg(long)]
        out: PathBuf,
        /// How the product is found: the learned model (default) or the classical flood
        /// from a plain backdrop.
        #[arg(long, value_enum, default_value = "learned")]
        segmenter: local::Segmenter,
    },
    /// Usage statistics from the job store in DATA_DIR.
    Stats,
    /// Check the configuration; with network access, also each RunningHub key and the bot
    /// token. Exits non-zero on any problem.
    Check,
}

/// Runs before Rust's runtime allocates anything (Linux runs `.init_array` before it).
#[used]
#[unsafe(link_section = ".init_array")]
static TUNE_ALLOCATOR: extern "C" fn() = backdrop::tune_allocator;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The bot logs what it does (info); one-shot commands print their own progress and
    // log only problems, unless RUST_LOG says otherwise.
    let default_filter = if matches!(cli.command, Command::Bot) { "info" } else { "warn" };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One readable line (the whole cause chain), never a backtrace.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        match cli.command {
            Command::Bot => Ok(backdrop::bot::run(Settings::from_env()?).await?),
            Command::Generate { product, scene, out, output, engine, segmenter } => {
                generate(&product, scene, &out, output, engine, segmenter).await
            }
            Command::Batch { input_dir, scene, out, output, jobs, force, engine, segmenter } => {
                batch(input_dir, scene, out, output, jobs, force, engine, segmenter).await
            }
            Command::Scenes => scenes(),
            Command::Cutout { product, out, segmenter } => cutout(&product, &out, segmenter).await,
            Command::Stats => stats().await,
            Command::Check => check().await,
        }
    })
}

/// CLI inputs may be larger than the bot's: a shop's camera files.
const CLI_LIMITS: ImageLimits =
    ImageLimits { max_bytes: 100 * 1024 * 1024, max_pixels: 100_000_000, max_side: 20_000 };

async fn read_image(path: &Path) -> anyhow::Result<InputImage> {
    let bytes = tokio::fs::read(path).await.with_context(|| format!("reading {}", path.display()))?;
    InputImage::parse(bytes, &CLI_LIMITS).with_context(|| format!("{} cannot be used", path.display()))
}

/// Settings from the environment with the command line's engine choices on top.
fn settings_for(engine: Option<EngineKind>, segmenter: Option<local::Segmenter>) -> anyhow::Result<Settings> {
    let mut settings = Settings::from_env()?;
    if let Some(engine) = engine {
        settings.engine = engine;
    }
    if let Some(segmenter) = segmenter {
        settings.local_segmenter = segmenter;
    }
    // Callbacks go to the bot's webhook server; a one-shot run has none and polls.
    settings.webhook = None;
    Ok(settings)
}

/// The background photo, or the preset scene's picture.
async fn scene_image(choice: SceneChoice, settings: &Settings) -> anyhow::Result<InputImage> {
    match (choice.background, choice.scene) {
        (Some(path), _) => read_image(&path).await,
        (None, Some(name)) => {
            let (catalog, skipped) = SceneCatalog::load(settings.scenes_dir.as_deref())?;
            for problem in &skipped {
                eprintln!("skipped scene {problem}");
            }
            Ok(catalog.image(&name)?)
        }
        (None, None) => bail!("give a --background photo or a --scene name"),
    }
}

async fn generate(
    product: &Path,
    scene: SceneChoice,
    out: &Path,
    output: SellerOutput,
    engine: Option<EngineKind>,
    segmenter: Option<local::Segmenter>,
) -> anyhow::Result<()> {
    let settings = settings_for(engine, segmenter)?;
    let format = output.format.unwrap_or(settings.output_format);
    requests::check_output(out, format)?;
    let background = scene_image(scene, &settings).await?;
    let request = Request { product: read_image(product).await?, background, format };
    let app = Application::build(settings, Arc::new(NoJournal))?;
    eprintln!("engine: {}", app.engine.name());
    let outputs = requests::variant_paths(out, output.variants);
    let several = outputs.len() > 1;
    let started = Instant::now();
    let cancel = CancellationToken::new();
    let on_ctrl_c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("cancelling...");
            on_ctrl_c.cancel();
        }
    });
    let print_state = |variant: Variant, state: &JobState| {
        let who = if several { format!("variant {}: ", variant.0 + 1) } else { String::new() };
        match state {
            JobState::Queued { position } => eprintln!("{who}queued (position {position})"),
            JobState::Uploading { lane, .. } => eprintln!("{who}uploading to lane {lane}"),
            JobState::Running { lane, task: Some(task), .. } => {
                eprintln!("{who}generating on lane {lane} (task {task})")
            }
            JobState::Running { lane, task: None, .. } => eprintln!("{who}generating on lane {lane}"),
            JobState::Downloading { .. } => eprintln!("{who}fetching the result"),
            _ => {}
        }
    };
    let answers = requests::run(&app, &request, &outputs, &cancel, &print_state).await;
    let mut failures = Vec::new();
    for ((_, path), answer) in outputs.iter().zip(answers) {
        match answer {
            Ok(()) => eprintln!("done in {:.1} s: {}", started.elapsed().as_secs_f64(), path.display()),
            Err(e) => failures.push(format!("{}: {e}", path.display())),
        }
    }
    match failures.as_slice() {
        [] => Ok(()),
        [one] if !several => bail!("{}", one.split_once(": ").map_or(one.as_str(), |(_, e)| e)),
        _ => bail!("{} of {} variants failed: {}", failures.len(), outputs.len(), failures.join("; ")),
    }
}

#[allow(clippy::too_many_arguments)]
async fn batch(
    input_dir: PathBuf,
    scene: SceneChoice,
    out: PathBuf,
    output: SellerOutput,
    jobs: Option<u16>,
    force: bool,
    engine: Option<EngineKind>,
    segmenter: Option<local::Segmenter>,
) -> anyhow::Result<()> {
    let mut settings = settings_for(engine, segmenter)?;
    if settings.engine == EngineKind::Local {
        // A batch keeps every core busy: as many built-in jobs at once as asked, else cores.
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        settings.local_workers = jobs.map_or(cores, usize::from);
    }
    let format = output.format.unwrap_or(settings.output_format);
    let background = scene_image(scene, &settings).await?;
    let app = Application::build(settings, Arc::new(NoJournal))?;
    let slots: usize = app.engine.lanes().iter().map(|l| l.capacity).sum();
    let plan = BatchPlan {
        input_dir,
        out_dir: out,
        background,
        format,
        variants: output.variants,
        jobs: jobs.map_or(slots + 1, usize::from),
        force,
        limits: CLI_LIMITS,
    };
    let style = if std::io::stdout().is_terminal() { ProgressStyle::Bar } else { ProgressStyle::Lines };
    let cancel = CancellationToken::new();
    let on_ctrl_c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_ctrl_c.cancel();
        }
    });
    println!("engine: {}", app.engine.name());
    let summary = backdrop::batch::run(&app, &plan, style, &cancel).await?;
    if summary.failed > 0 {
        bail!("{} file(s) failed; see {}", summary.failed, summary.report.display());
    }
    Ok(())
}

fn scenes() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    let (catalog, skipped) = SceneCatalog::load(settings.scenes_dir.as_deref())?;
    let width = catalog.iter().map(|s| s.name.len()).max().unwrap_or(0);
    for scene in catalog.iter() {
        println!("{:width$}  {}", scene.name, scene.description);
    }
    for problem in &skipped {
        eprintln!("skipped {problem}");
    }
    Ok(())
}

async fn cutout(product: &Path, out: &Path, segmenter: local::Segmenter) -> anyhow::Result<()> {
    let format = requests::output_extension(out)?;
    if format == "jpg" {
        bail!("{}: a cut-out needs transparency: write a .png (or .webp)", out.display());
    }
    local::warm_up(segmenter);
    let image = read_image(product).await?;
    let bytes = tokio::task::spawn_blocking(move || {
        let matte = local::cutout_with(&image, segmenter)?;
        anyhow::Ok(local::encode(&image::DynamicImage::ImageRgba8(matte), format)?.0)
    })
    .await??;
    tokio::fs::write(out, &bytes).await.with_context(|| format!("writing {}", out.display()))?;
    eprintln!("done: {}", out.display());
    Ok(())
}

async fn stats() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    // Read only: the bot may be running on the same store.
    let store = backdrop::store::Store::open_read_only(&settings.database_url, &settings.data_dir).await?;
    println!("{}", store.stats().await?);
    store.close().await;
    Ok(())
}

async fn check() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    let checks = backdrop::check::run(&settings).await;
    for check in &checks {
        println!("{check}");
    }
    let failed = checks.iter().filter(|c| !c.ok).count();
    if failed > 0 {
        bail!("{failed} check(s) failed");
    }
    println!("all checks passed");
    Ok(())
}
