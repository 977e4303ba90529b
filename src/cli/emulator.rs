//! `mfactl emulator`: serve the Graph emulator on its own, until SIGINT or SIGTERM. With the
//! sandbox, the only product code that reaches into `crate::emulator`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::ValueEnum;

use super::exit::ExitCode;
use crate::emulator::generate::{self, GenerateSpec};
use crate::emulator::throttle::ThrottleMode;
use crate::emulator::{Emulator, EmulatorConfig, EmulatorError, State};
use crate::printer;

/// `--throttle`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ThrottleArg {
    /// Graph's documented limits.
    Graph,
    /// No throttling.
    Off,
}

/// `mfactl emulator` flags.
#[derive(Debug, clap::Args)]
pub struct EmulatorArgs {
    /// Address to listen on (port 0 picks a free port; the first stdout line says which).
    #[arg(long, default_value = "127.0.0.1:8787")]
    pub listen: SocketAddr,
    /// Also serve HTTPS on the same port, with a test CA generated at start.
    #[arg(long)]
    pub tls: bool,
    /// Where to write the test CA certificate (PEM); a temporary file by default.
    #[arg(long, requires = "tls")]
    pub ca_file: Option<PathBuf>,
    /// Load tenants, apps, users, groups and policies from this JSON file.
    #[arg(long, conflicts_with = "generate")]
    pub state: Option<PathBuf>,
    /// Build synthetic tenants: users=N,groups=G,tenants=T,seed=S (defaults 50, 8, 1, 1).
    #[arg(long)]
    pub generate: Option<String>,
    /// Throttling model.
    #[arg(long, value_enum, default_value_t = ThrottleArg::Graph)]
    pub throttle: ThrottleArg,
    /// Latency added to every request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Seed for fault probabilities.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Keep at most this many entries in the request log.
    #[arg(long, default_value_t = 100_000)]
    pub request_log_limit: usize,
}

impl EmulatorArgs {
    /// Resolves the flags into an emulator configuration, reading the state file.
    pub fn into_config(self) -> Result<EmulatorConfig, EmulatorError> {
        let state = match (&self.state, &self.generate) {
            (Some(path), _) => load_state(path)?,
            (None, Some(spec)) => generate::generate(&spec.parse::<GenerateSpec>()?),
            (None, None) => generate::generate(&GenerateSpec::default()),
        };
        let mut config = EmulatorConfig::new(state);
        config.listen = self.listen;
        config.tls = self.tls;
        config.ca_file = self.ca_file;
        config.throttle = match self.throttle {
            ThrottleArg::Graph => ThrottleMode::Graph,
            ThrottleArg::Off => ThrottleMode::Off,
        };
        config.latency = Duration::from_millis(self.latency_ms);
        config.seed = self.seed;
        config.request_log_limit = self.request_log_limit;
        Ok(config)
    }
}

/// Reads a state file, reporting JSON and shape errors with file:line:column.
pub fn load_state(path: &std::path::Path) -> Result<State, EmulatorError> {
    let text = std::fs::read_to_string(path).map_err(|source| EmulatorError::ReadState {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| EmulatorError::InvalidState {
        path: path.to_path_buf(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })
}

/// Runs the emulator until SIGINT or SIGTERM, printing its endpoints as the first stdout line.
pub async fn serve(args: EmulatorArgs) -> Result<ExitCode, EmulatorError> {
    let tls = args.tls;
    let running = Emulator::start(args.into_config()?).await?;
    printer::data_line(
        &serde_json::to_string(&running.endpoints).map_err(EmulatorError::Endpoints)?,
    );
    if !tls {
        printer::status(&format!(
            "mfactl emulator: loginUrl {} is plain HTTP, which mfactl and the Azure identity libraries refuse as an authority; \
             to sign in, start it with --tls and pass AZURE_AUTHORITY_HOST=https://localhost:{} and SSL_CERT_FILE=<caFile>",
            running.endpoints.login_url,
            running.addr.port()
        ));
    }
    let stopped = wait_for_stop_signal().await;
    printer::status("mfactl emulator: stopping");
    running.shutdown().await;
    stopped.map_err(EmulatorError::Signal)?;
    Ok(ExitCode::Success)
}

async fn wait_for_stop_signal() -> std::io::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r,
        _ = term.recv() => Ok(()),
    }
}
