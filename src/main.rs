#![forbid(unsafe_code)]
//! `truce`: the command-line front of the truce crates. Kept thin: each subcommand parses its
//! arguments, calls a library crate, and prints the result (human-readable, or `--json`).

/// `println!` that never panics: whoever reads our stdout may have stopped (`| head`), and a
/// closed pipe is not an error worth a panic.
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use clap::{Args, Parser, Subcommand};
use truce_log::durable::{self, Access};
use truce_model::agreement::{self, DirResolver};
use truce_model::keys::PrivateKey;
use truce_server::datadir::DataDir;

/// The allocator: see the `mimalloc` feature in Cargo.toml.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod witness_cmd;

mod client;
mod import;
mod key_cmd;
mod log_verify;
mod replay;
mod submit;
mod text;

#[derive(Parser)]
#[command(
    name = "truce",
    version,
    about = "Ceasefire monitoring, verification and enforcement"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a data directory with fresh log and operator keys.
    Init(InitArgs),
    /// Run the server (initialising the data directory first if it does not exist).
    Serve(ServeArgs),
    /// Key management.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Sign a JSON payload as an entry, submit it, and verify the receipt.
    Submit(submit::SubmitArgs),
    /// Import a UCDP GED or ACLED CSV, or a GeoJSON FeatureCollection, as signed observations.
    Import(import::ImportArgs),
    /// Agreement documents.
    #[command(subcommand)]
    Agreement(AgreementCommand),
    /// The transparency log: audit it from the outside.
    #[command(subcommand)]
    Log(log_verify::LogCommand),
    /// Run a witness (C2SP tlog-witness) that cosigns consistent checkpoints of trusted logs.
    Witness(witness_cmd::WitnessArgs),
    /// Rebuild the derived state from the log alone and print its digest (compare with a
    /// server's `GET /v1/state`).
    Replay(replay::ReplayArgs),
}

#[derive(Args)]
struct InitArgs {
    /// The data directory to create (must not exist or be empty).
    dir: PathBuf,
    /// The log's origin, e.g. `truce.example/donbas` (names the log in checkpoints).
    #[arg(long)]
    origin: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct ServeArgs {
    /// The data directory.
    #[arg(long, default_value = "truce-data")]
    data: PathBuf,
    /// Address to listen on; port 0 picks a free port (the address is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Origin to use if the data directory has to be created.
    #[arg(long, default_value = "truce.localhost/log")]
    origin: String,
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Generate an Ed25519 key; writes the private key file and prints the verifier key.
    Generate {
        /// Key name (no spaces or '+'), e.g. `osce.example/patrol-7`.
        #[arg(long)]
        name: String,
        /// Where to write the private key (refuses to overwrite).
        #[arg(long)]
        out: PathBuf,
    },
    /// Accredit a key with roles (operator): submits a `key` entry and verifies the receipt.
    Accredit(key_cmd::AccreditArgs),
    /// Revoke a key, permanently (operator): submits a `key` entry and verifies the receipt.
    Revoke(key_cmd::RevokeArgs),
}

#[derive(Subcommand)]
enum AgreementCommand {
    /// Validate an agreement document and the files it references; report every problem.
    Check {
        /// The agreement's TOML file.
        file: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Init(args) => init(args).map(|()| ExitCode::SUCCESS),
        Command::Serve(args) => serve(args).map(|()| ExitCode::SUCCESS),
        Command::Key(KeyCommand::Generate { name, out }) => {
            key_generate(&name, &out).map(|()| ExitCode::SUCCESS)
        }
        Command::Key(KeyCommand::Accredit(args)) => Ok(key_cmd::accredit(args)),
        Command::Key(KeyCommand::Revoke(args)) => Ok(key_cmd::revoke(args)),
        Command::Submit(args) => Ok(submit::run(args)),
        Command::Import(args) => Ok(import::run(args)),
        Command::Agreement(AgreementCommand::Check { file, json }) => agreement_check(&file, json),
        Command::Witness(args) => witness_cmd::run(args).map(|()| ExitCode::SUCCESS),
        Command::Replay(args) => {
            // Warnings only, unless RUST_LOG asks for more (`truce_server::app=debug` says where
            // the replay's time went).
            init_tracing("warn");
            replay::run(args)
        }
        Command::Log(cmd) => Ok(log_verify::run(cmd)),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("truce: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init(args: InitArgs) -> Result<()> {
    let dir = DataDir::init(&args.dir, &args.origin)?;
    if args.json {
        out!(
            "{}",
            serde_json::json!({
                "dir": args.dir,
                "origin": dir.config.origin,
                "log_vkey": dir.log_key.verifier().to_string(),
                "operator_vkey": dir.operator_key.verifier().to_string(),
            })
        );
    } else {
        out!("initialised {}", args.dir.display());
        out!("log vkey:      {}", dir.log_key.verifier());
        out!("operator vkey: {}", dir.operator_key.verifier());
    }
    Ok(())
}

fn key_generate(name: &str, out: &Path) -> Result<()> {
    let key = PrivateKey::generate(name)?;
    durable::create_new(out, (key.encode() + "\n").as_bytes(), Access::Private).with_context(
        || {
            format!(
                "creating {} (existing key files are never overwritten)",
                out.display()
            )
        },
    )?;
    out!("{}", key.verifier());
    Ok(())
}

fn agreement_check(file: &Path, json: bool) -> Result<ExitCode> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let base = file.parent().unwrap_or(Path::new("."));
    let name = file.display().to_string();
    match agreement::check(&name, &text, &DirResolver::new(base)) {
        Ok(a) => {
            if json {
                out!(
                    "{}",
                    serde_json::json!({"ok": true, "id": a.id, "parties": a.parties.len(),
                        "required_consents": a.required_consents(), "zones": a.zones.len(),
                        "rules": a.rules.len(), "milestones": a.milestones.len(),
                        "escalation_levels": a.escalation.len()})
                );
            } else {
                out!(
                    "{name}: ok: agreement {} ({:?}): {} parties, consent required from {}; {} zones, {} rules, {} milestones, {} escalation levels",
                    a.id,
                    a.title,
                    a.parties.len(),
                    a.required_consents().join(", "),
                    a.zones.len(),
                    a.rules.len(),
                    a.milestones.len(),
                    a.escalation.len()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(problems) => {
            if json {
                let items: Vec<_> = problems
                    .iter()
                    .map(|p| serde_json::json!({"file": p.file, "line": p.line, "field": p.field, "message": p.message}))
                    .collect();
                out!("{}", serde_json::json!({"ok": false, "problems": items}));
            } else {
                for p in &problems {
                    out!("{p}");
                }
                eprintln!("{name}: {} problem(s)", problems.len());
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Logs to stderr at `default` levels, or as `RUST_LOG` says.
pub(crate) fn init_tracing(default: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default.into()),
        )
        .with_writer(std::io::stderr)
        .init();
}

fn serve(args: ServeArgs) -> Result<()> {
    init_tracing("info,tower_http=warn,sqlx=warn");
    let dir = if args.data.join("truce.toml").exists() {
        DataDir::open(&args.data)?
    } else {
        let dir = DataDir::init(&args.data, &args.origin)?;
        eprintln!(
            "initialised {} (origin {})",
            args.data.display(),
            args.origin
        );
        dir
    };
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let store = truce_store_sqlite::SqliteStore::open(&dir.store_path())
            .await
            .with_context(|| format!("opening {}", dir.store_path().display()))?;
        let app = truce_server::AppState::start(Arc::new(store), &dir)
            .await
            .context("rebuilding the state from the log")?;
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let addr = listener.local_addr()?;
        // One write, and errors ignored: whoever started us may have stopped reading stdout.
        let banner = format!(
            "truce {} listening on http://{addr}\nlog vkey:      {}\noperator vkey: {}\n",
            env!("CARGO_PKG_VERSION"),
            dir.log_key.verifier(),
            dir.operator_key.verifier()
        );
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(banner.as_bytes()).and_then(|()| out.flush());
        drop(out);
        truce_server::serve(listener, app, shutdown_signal()).await?;
        eprintln!("truce: stopped");
        anyhow::Ok(())
    })?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
