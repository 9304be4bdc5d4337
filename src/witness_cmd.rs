//! `truce witness`: run a C2SP tlog-witness for one or more logs.
//!
//! A party runs a witness to be sure it sees the same log as everybody else: the witness
//! cosigns a log's checkpoint only if it is consistent with every checkpoint of that log it
//! cosigned before (see the `truce_witness` crate).

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use clap::Args;
use truce_witness::dir::{WitnessDir, parse_log_arg};
use truce_witness::{Witness, service};

#[derive(Args)]
pub struct WitnessArgs {
    /// The witness's data directory (created if missing): witness.key, witness.toml, state.json.
    #[arg(long, default_value = "witness-data")]
    data: PathBuf,
    /// Address to listen on; port 0 picks a free port (the address is printed).
    #[arg(long, default_value = "127.0.0.1:7380")]
    listen: SocketAddr,
    /// The witness's name, used when its key is first generated [default:
    /// witness.localhost/<random>]. The name cannot change afterwards.
    // The text is the option's `--help` too, where `<random>` reads as meant.
    #[allow(rustdoc::invalid_html_tags)]
    #[arg(long)]
    name: Option<String>,
    /// Trust a log: its vkey (the origin is the key's name, as truce names its log key), or
    /// ORIGIN=VKEY. Saved in witness.toml; repeat for several logs.
    #[arg(long = "log", value_name = "VKEY")]
    logs: Vec<String>,
}

/// A line on stderr; a closed stderr is not a reason to stop a witness.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

pub fn run(args: WitnessArgs) -> Result<()> {
    crate::init_tracing("info,tower_http=warn");
    let mut dir = WitnessDir::open(&args.data, args.name.as_deref())
        .with_context(|| format!("opening the witness directory {}", args.data.display()))?;
    if dir.key_created {
        say(&format!(
            "generated the witness key {} ({})",
            dir.key.name(),
            dir.key_path().display()
        ));
    }
    for arg in &args.logs {
        let log = parse_log_arg(arg)?;
        let origin = log.origin.clone();
        if dir.trust(log)? {
            say(&format!(
                "now trusting log {origin:?} (saved in {})",
                dir.config_path().display()
            ));
        }
    }
    if dir.logs.is_empty() {
        say("warning: no trusted logs; every checkpoint will be refused (add one with --log VKEY)");
    }
    let witness = Arc::new(Witness::open(&dir)?);
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let addr = listener.local_addr()?;
        // One write, and errors ignored: whoever started us may have stopped reading stdout.
        let banner = format!(
            "truce witness listening on http://{addr}\nwitness vkey: {}\n",
            witness.verifier()
        );
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(banner.as_bytes()).and_then(|()| out.flush());
        drop(out);
        service::serve(listener, witness, crate::shutdown_signal()).await?;
        say("truce witness: stopped");
        anyhow::Ok(())
    })
}
