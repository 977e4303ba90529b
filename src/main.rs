//! The `mfactl` binary: parse the command line, run the library, map the outcome to an exit
//! code.

use clap::Parser;
use mfactl::cli::exit::{self, ExitCode};
use mfactl::cli::{self, Cli, ColorChoice, Command, LogFormat};
use mfactl::config::Env;
use mfactl::printer;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.log_format, cli.color);
    // One TLS provider for the whole process (ring: smaller and faster to build).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            printer::error(&e);
            return ExitCode::Graph.into();
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code.into(),
        Err(e) => {
            printer::error(e.as_ref());
            exit::for_error(e.as_ref()).into()
        }
    }
}

/// One decision for every stderr line: the printer's own lines and tracing's share the
/// format (`--log-format`), the colour decision and a writer that survives a closed pipe.
fn init_logging(verbose: u8, format: LogFormat, color: ColorChoice) {
    printer::init(format == LogFormat::Json, color);
    let default = match verbose {
        0 => "warn",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(printer::colour(printer::Stream::Stderr))
        .with_writer(|| printer::LogWriter);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Validate(args) => Ok(cli::validate::validate(args, Env::from_process()).await?),
        Command::Plan(args) => Ok(cli::plan::plan(args, Env::from_process()).await?),
        Command::Apply(args) => Ok(cli::apply::apply(args, Env::from_process()).await?),
        Command::Reconcile(args) => Ok(cli::reconcile::reconcile(args, Env::from_process()).await?),
        Command::Explain(args) => Ok(cli::explain::explain(args, Env::from_process()).await?),
        Command::Export(args) => Ok(cli::export::export(args, Env::from_process()).await?),
        Command::Notify(command) => {
            Ok(cli::notify::notify_command(command, Env::from_process()).await?)
        }
        Command::Tap(command) => Ok(cli::tap::tap(command, Env::from_process()).await?),
        Command::Emulator(args) => Ok(cli::emulator::serve(args).await?),
        Command::Version => {
            printer::data(&format!("mfactl {}\n", cli::VERSION));
            Ok(ExitCode::Success)
        }
        Command::Completions { shell } => {
            printer::data(&cli::completions(shell));
            Ok(ExitCode::Success)
        }
    }
}
