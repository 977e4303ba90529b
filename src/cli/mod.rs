//! Command-line definitions, and their resolution into settings before any network I/O.
//!
//! The verbs: settings → load and validate → read → plan → render → apply → verify. Every
//! stage before the first PATCH can stop the run, and nothing is sent until the policy is
//! valid and every name resolves.

pub mod apply;
pub mod common;
pub mod emulator;
pub mod exit;
pub mod explain;
pub mod export;
mod fleet;
pub mod notify;
pub mod plan;
pub mod reconcile;
pub mod tap;
pub mod validate;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

use crate::controller::Mode;
use crate::report::Format;

pub use crate::printer::ColorChoice;
pub use emulator::EmulatorArgs;

/// The version line of `mfactl version` and `--version`: the package version, the git commit
/// it was built from (`-dirty` with uncommitted changes, `unknown` without git) and the
/// build date, captured by `build.rs`.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("MFACTL_GIT_COMMIT"),
    ", built ",
    env!("MFACTL_BUILD_DATE"),
    ")"
);

/// The line under every `--help`: where the whole reference is.
const REFERENCE: &str = "Reference: docs/cli.md (every command and flag), docs/exit-codes.md.";

/// GitOps for Microsoft Entra ID multifactor-authentication policy.
#[derive(Debug, Parser)]
#[command(name = "mfactl", version = VERSION, about, after_help = REFERENCE)]
pub struct Cli {
    /// More log output on stderr (-v debug, -vv trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Log format on stderr: text for people, json (one object a line) for container platforms.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// Colour and cursor escapes: auto (only on a terminal, never with NO_COLOR set or
    /// TERM=dumb), always, or never.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true)]
    pub color: ColorChoice,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The completion script for `shell`, for `mfactl completions SHELL`.
pub fn completions(shell: clap_complete::Shell) -> String {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "mfactl", &mut script);
    String::from_utf8_lossy(&script).into_owned()
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the policy files offline: every problem, with file:line:column.
    #[command(after_help = REFERENCE)]
    Validate(ValidateArgs),
    /// Show what would change in the tenant (exit 0 in sync, 1 drift).
    #[command(after_help = REFERENCE)]
    Plan(PlanArgs),
    /// Send the minimal PATCHes, then re-read and verify.
    #[command(after_help = REFERENCE)]
    Apply(ApplyArgs),
    /// Keep the tenant in line: reconcile on every change to the policy files, every
    /// interval, and again after an error; or once (`--once`) for CronJobs and CI.
    #[command(after_help = REFERENCE)]
    Reconcile(ReconcileArgs),
    /// Who will be prompted with which MFA method: per user, from the declared policy (as
    /// it will be once applied) or the live tenant (`--live`).
    #[command(after_help = REFERENCE)]
    Explain(ExplainArgs),
    /// Write the live tenant's authentication methods policy and security defaults as policy
    /// files that plan in sync against it.
    #[command(after_help = REFERENCE)]
    Export(ExportArgs),
    /// Drift alerts.
    #[command(subcommand)]
    #[command(after_help = REFERENCE)]
    Notify(NotifyCommand),
    /// Temporary Access Passes for onboarding: issue (one user, or a group's members into a
    /// file) and revoke.
    #[command(subcommand)]
    Tap(tap::TapCommand),
    /// Serve a local Microsoft Graph and Entra token endpoint for tests, demos and benchmarks.
    #[command(after_help = REFERENCE)]
    Emulator(EmulatorArgs),
    /// Print the version, the git commit it was built from and the build date.
    #[command(after_help = REFERENCE)]
    Version,
    /// Print a shell completion script (e.g. `mfactl completions bash > /etc/bash_completion.d/mfactl`).
    #[command(after_help = REFERENCE)]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Which configuration, tenant and policy files.
#[derive(Debug, Clone, clap::Args)]
pub struct SourceArgs {
    /// The configuration file (default ./mfactl.yaml or MFACTL_CONFIG; without one, the Azure
    /// SDK's environment variables describe one tenant).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The tenant's name in mfactl.yaml (needed when it lists several).
    #[arg(long)]
    pub tenant: Option<String>,
    /// Policy files or directories to use instead of the configured ones.
    #[arg(long = "policies", value_name = "PATH")]
    pub policies: Vec<PathBuf>,
    /// Every tenant in mfactl.yaml, several at once (see --concurrency); each line or
    /// section names its tenant.
    #[arg(long, conflicts_with = "tenant")]
    pub all_tenants: bool,
    /// Only this worker's share of the tenants, I of N (0-based), e.g. a Kubernetes Indexed
    /// Job's "$(JOB_COMPLETION_INDEX)/4"; a tenant's share depends on its name alone.
    #[arg(long, value_name = "I/N", conflicts_with = "tenant")]
    pub shard: Option<crate::config::Shard>,
    /// With several tenants: how many are worked on at once.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,
}

impl SourceArgs {
    /// Whether the run works on several tenants (`--all-tenants` or `--shard`).
    pub fn many(&self) -> bool {
        self.all_tenants || self.shard.is_some()
    }
}

/// Which tenant and which policies, or the sandbox.
#[derive(Debug, Clone, clap::Args)]
pub struct TargetArgs {
    /// Configuration, tenant and policies.
    #[command(flatten)]
    pub source: SourceArgs,
    /// Run against the built-in sandbox tenant: an in-process emulator with a drifted demo
    /// tenant; no credentials, no network.
    #[arg(long)]
    pub sandbox: bool,
}

/// `mfactl validate` flags.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Configuration, tenant and policies (default: the configured ones, or ./policies).
    #[command(flatten)]
    pub source: SourceArgs,
    /// Diagnostics on stdout: human (on stderr, as every verb prints them), json, sarif
    /// (SARIF 2.1.0, for code-scanning uploads) or github (workflow commands, to annotate the
    /// pull request's lines).
    #[arg(short, long, value_enum, default_value_t = crate::report::diagnostics::DiagnosticsFormat::Human)]
    pub output: crate::report::diagnostics::DiagnosticsFormat,
}

/// `mfactl plan` flags.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// Tenant and policies.
    #[command(flatten)]
    pub target: TargetArgs,
    /// Output format on stdout.
    #[arg(short, long, value_enum, default_value_t = Format::Human)]
    pub output: Format,
    /// Also save the plan (JSON) to this file, for `mfactl apply PLANFILE`.
    #[arg(long, value_name = "FILE", value_parser = parse_plan_file)]
    pub out: Option<PathBuf>,
    /// Plan only this declared resource (repeatable): KIND for a kind declared once
    /// (`SecurityDefaults`), KIND/NAME for one item of a collection
    /// (`ConditionalAccessPolicy/Require MFA for all users`); not for routine use.
    #[arg(long = "target", value_name = "KIND[/NAME]")]
    pub targets: Vec<crate::plan::target::ResourceTarget>,
}

/// `mfactl explain` flags.
#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// Tenant and policies.
    #[command(flatten)]
    pub target: TargetArgs,
    /// One user's reasoning, step by step.
    #[arg(long, value_name = "UPN")]
    pub user: Option<String>,
    /// Explain the tenant as it is now, ignoring the policy files.
    #[arg(long)]
    pub live: bool,
    /// Output format on stdout.
    #[arg(short, long, value_enum, default_value_t = crate::report::explain::ExplainFormat::Human)]
    pub output: crate::report::explain::ExplainFormat,
}

/// Which tenant of which configuration, for the verbs that work on one configured tenant
/// without policy files (`export`, `tap`).
#[derive(Debug, Clone, clap::Args)]
pub struct TenantArgs {
    /// The configuration file (default ./mfactl.yaml or MFACTL_CONFIG; without one, the Azure
    /// SDK's environment variables describe one tenant).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The tenant's name in mfactl.yaml (needed when it lists several).
    #[arg(long)]
    pub tenant: Option<String>,
}

/// `mfactl export` flags.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Which tenant.
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// Export the built-in sandbox tenant (an in-process emulator; no credentials).
    #[arg(long)]
    pub sandbox: bool,
    /// Where to write authentication-methods.yaml and security-defaults.yaml.
    #[arg(long, default_value = "policies")]
    pub dir: PathBuf,
    /// Leave out every property and method that still has Microsoft's default value.
    #[arg(long)]
    pub only_changed: bool,
    /// Overwrite files that already exist.
    #[arg(long)]
    pub force: bool,
}

/// `mfactl reconcile` flags.
#[derive(Debug, clap::Args)]
pub struct ReconcileArgs {
    /// Tenant and policies.
    #[command(flatten)]
    pub target: TargetArgs,
    /// One cycle, then exit with the codes of `plan` (observe) or `apply` (enforce).
    #[arg(long)]
    pub once: bool,
    /// Report drift only (observe), or apply and verify (enforce); overrides the tenant's
    /// `mode:` in mfactl.yaml (default: that, else observe). Enforce still waits for the
    /// tenant's change windows.
    #[arg(long, value_enum)]
    pub mode: Option<Mode>,
    /// Reconcile at least this often, to catch changes made in the portal (30s, 15m, 1h).
    #[arg(long, default_value = "15m", value_parser = parse_duration)]
    pub interval: Duration,
    /// After a failed cycle, retry after this long, doubling up to the interval.
    #[arg(long, default_value = "1m", value_parser = parse_duration)]
    pub retry_interval: Duration,
    /// Where to serve /healthz, /readyz and /metrics.
    #[arg(long, default_value = "127.0.0.1:9090")]
    pub listen: SocketAddr,
    /// Where alert state is kept (which drift was already reported), so that runs that
    /// start fresh, such as CronJobs, do not alert twice.
    #[arg(long, default_value = ".mfactl")]
    pub state_dir: PathBuf,
    /// Send the same drift again after this long (e.g. 24h); overrides
    /// `notifications.remindAfter` in mfactl.yaml; never when neither is set.
    #[arg(long, value_parser = parse_duration)]
    pub remind_after: Option<Duration>,
    /// How many users an enforced plan may leave unprotected or lock out.
    #[command(flatten)]
    pub allow: AllowArgs,
}

/// `mfactl notify` subcommands.
#[derive(Debug, Subcommand)]
pub enum NotifyCommand {
    /// Send a sample alert to every configured provider (`notifications:` in mfactl.yaml,
    /// plus MFACTL_TEAMS_WEBHOOK, MFACTL_SLACK_WEBHOOK, MFACTL_WEBHOOK_URL).
    #[command(after_help = REFERENCE)]
    Test {
        /// The configuration file (default ./mfactl.yaml or MFACTL_CONFIG; without one, only
        /// the MFACTL_* variables).
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

pub use crate::config::parse_duration;

/// The names of output formats, which `--out` refuses as a file name.
const FORMAT_NAMES: &[&str] = &[
    "human", "markdown", "md", "json", "sarif", "github", "csv", "text", "yaml",
];

/// `plan --out FILE`: a path, but not a format's name (`--out json` meant `-o json`).
fn parse_plan_file(value: &str) -> Result<PathBuf, String> {
    if FORMAT_NAMES.contains(&value.to_ascii_lowercase().as_str()) {
        return Err(format!(
            "'{value}' is an output format's name, not a file: choose the format with -o {value}; \
             --out takes the file to save the plan in, e.g. --out plan.json"
        ));
    }
    Ok(PathBuf::from(value))
}

/// `mfactl apply` flags.
#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    /// A plan saved by `plan --out`; refused if the tenant changed since.
    pub plan_file: Option<PathBuf>,
    /// Tenant and policies.
    #[command(flatten)]
    pub target: TargetArgs,
    /// Apply without asking.
    #[arg(long)]
    pub yes: bool,
    /// Plan and apply only this declared resource (repeatable), as `plan --target`; not for
    /// routine use.
    #[arg(
        long = "target",
        value_name = "KIND[/NAME]",
        conflicts_with = "plan_file"
    )]
    pub targets: Vec<crate::plan::target::ResourceTarget>,
    /// Refuse (exit 7) a plan with more changes (properties set to a new value) than this.
    #[arg(long)]
    pub max_changes: Option<usize>,
    /// Output format on stdout: human, or json (what was applied, failed and not attempted,
    /// per tenant; the lines for people stay on stderr).
    #[arg(short, long, value_enum, default_value_t = crate::report::applied::ApplyFormat::Human)]
    pub output: crate::report::applied::ApplyFormat,
    /// How many users the plan may leave unprotected or lock out.
    #[command(flatten)]
    pub allow: AllowArgs,
}

/// The guard's allowances, for `apply` and `reconcile`.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct AllowArgs {
    /// Apply even though the plan locks out up to N users: newly left with no usable MFA
    /// method (not those who had none before), newly blocked, or newly required a strength they cannot satisfy (the plan lists them);
    /// by default any such user makes apply refuse (exit 7).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub allow_lockout: usize,
    /// Apply even though the plan leaves up to N enabled members without an MFA requirement
    /// they had (security defaults, a policy or per-user MFA; deliberate exclusions apart);
    /// by default any such member makes apply refuse (exit 7).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub allow_unprotected: usize,
}

impl AllowArgs {
    /// As the guard takes them.
    pub fn allowance(self) -> crate::plan::guard::Allowance {
        crate::plan::guard::Allowance {
            unprotected: self.allow_unprotected,
            lockout: self.allow_lockout,
        }
    }
}
