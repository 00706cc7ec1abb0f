//! The `backdrop` binary: parses the command line and hands over to the library.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use backdrop::app::Application;
use backdrop::config::{EngineKind, Settings};
use backdrop::engine::local;
use backdrop::input_image::{ImageLimits, InputImage};
use backdrop::job::{ImageSource, JobInput};
use backdrop::job::{JobEvent, JobState, NoJournal};
use bytes::Bytes;
use clap::{Parser, Subcommand};

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

#[derive(Subcommand)]
enum Command {
    /// Run the Telegram bot (needs BOT_TOKEN).
    Bot,
    /// Place a product into a background scene: one job through the same pipeline the bot uses.
    Generate {
        /// The product photo (JPEG, PNG or WebP).
        #[arg(long)]
        product: PathBuf,
        /// The scene to put the product in (JPEG, PNG or WebP).
        #[arg(long)]
        background: PathBuf,
        /// Where to write the result; the extension (.png, .jpg, .webp) picks the format.
        #[arg(long)]
        out: PathBuf,
        /// The engine; by default ENGINE, or runninghub when a RunningHub key is configured,
        /// else local.
        #[arg(long, value_enum)]
        engine: Option<EngineKind>,
        /// How the built-in engine finds the product; by default LOCAL_SEGMENTER, else
        /// learned.
        #[arg(long, value_enum)]
        segmenter: Option<local::Segmenter>,
    },
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
            Command::Generate { product, background, out, engine, segmenter } => {
                generate(&product, &background, &out, engine, segmenter).await
            }
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

/// The canonical extension of an output path (`png`, `jpg`, `webp`), or why it cannot be
/// written: checked before any work starts.
fn output_format(out: &Path) -> anyhow::Result<&'static str> {
    let ext = out.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
    match ext.as_str() {
        "png" => Ok("png"),
        "jpg" | "jpeg" => Ok("jpg"),
        "webp" => Ok("webp"),
        _ => bail!("{}: the output must end in .png, .jpg or .webp", out.display()),
    }
}

/// Writes `bytes` (encoded as `extension`) to `out` in the format `out` asks for.
async fn write_as(out: &Path, bytes: Bytes, extension: &str, format: &'static str) -> anyhow::Result<()> {
    let bytes = if extension == format {
        bytes
    } else {
        tokio::task::spawn_blocking(move || {
            let image = image::load_from_memory(&bytes)?;
            anyhow::Ok(local::encode(&image, format)?.0)
        })
        .await??
    };
    tokio::fs::write(out, &bytes).await.with_context(|| format!("writing {}", out.display()))
}

async fn generate(
    product: &Path,
    background: &Path,
    out: &Path,
    engine: Option<EngineKind>,
    segmenter: Option<local::Segmenter>,
) -> anyhow::Result<()> {
    let format = output_format(out)?;
    let mut settings = Settings::from_env()?;
    if let Some(engine) = engine {
        settings.engine = engine;
    }
    if let Some(segmenter) = segmenter {
        settings.local_segmenter = segmenter;
    }
    // Callbacks go to the bot's webhook server; a one-shot run has none and polls.
    settings.webhook = None;
    let input = JobInput {
        product: ImageSource::Memory(read_image(product).await?),
        background: ImageSource::Memory(read_image(background).await?),
    };
    let app = Application::build(settings, Arc::new(NoJournal))?;
    let id = app.queue.next_id();
    let mut rx = app.queue.submit(id, input)?;
    eprintln!("engine: {}", app.engine.name());
    let started = Instant::now();
    let state = loop {
        let state = rx.borrow_and_update().clone();
        match &state {
            JobState::Queued { position } => eprintln!("queued (position {position})"),
            JobState::Uploading { lane, .. } => eprintln!("uploading to lane {lane}"),
            JobState::Running { lane, task: Some(task), .. } => {
                eprintln!("generating on lane {lane} (task {task})")
            }
            JobState::Running { lane, task: None, .. } => eprintln!("generating on lane {lane}"),
            JobState::Downloading { .. } => eprintln!("fetching the result"),
            _ => break state,
        }
        tokio::select! {
            changed = rx.changed() => if changed.is_err() { bail!("the queue stopped") },
            _ = tokio::signal::ctrl_c() => {
                eprintln!("cancelling...");
                app.queue.cancel(id);
            }
        }
    };
    match state {
        JobState::Delivering(output) => {
            write_as(out, output.image.clone(), output.extension, format).await?;
            // Written: the job is done (nothing is journalled for the CLI).
            let _ = app.ledger.apply(id, JobEvent::Delivered);
            eprintln!("done in {:.1} s: {}", started.elapsed().as_secs_f64(), out.display());
            Ok(())
        }
        JobState::Failed(reason) => bail!("generation failed: {reason}"),
        _ => bail!("cancelled"),
    }
}

async fn cutout(product: &Path, out: &Path, segmenter: local::Segmenter) -> anyhow::Result<()> {
    let format = output_format(out)?;
    if format == "jpg" {
        bail!("{}: a cut-out needs transparency: write a .png (or .webp)", out.display());
    }
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
