//! `mfactl explain` output: a summary by method and one row per user (human, JSON, CSV),
//! streamed; or one user's reasoning step by step.

use std::io::Write;

use serde::Serialize;

use crate::plan::names::{ObjectNames, annotate};
use crate::simulate::directory::{UserState, format_guid};
use crate::simulate::explain::{Outcome, Simulation, Source, SystemPreferred};
use crate::simulate::impact::summary;
use crate::simulate::protection::{Protection, Side, Verdict};

/// Who must do MFA, for the side `explain` shows; `None` when it could not be read.
pub type Access<'a> = Option<(&'a Protection, Side)>;

/// Version of the JSON explain format.
pub const FORMAT_VERSION: u32 = 1;

/// Output formats of `explain` (`-o`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExplainFormat {
    /// A summary by method and a table, for people.
    Human,
    /// `formatVersion`, `summary` and `users`.
    Json,
    /// One row per user, with a header.
    Csv,
}

/// One user's result, as written in JSON.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserResult<'a> {
    /// UPN.
    pub user_principal_name: &'a str,
    /// Object id.
    pub id: String,
    /// The method prompted first, or `none`.
    pub method: &'static str,
    /// Where it comes from.
    pub source: Source,
    /// Whether system-preferred MFA applies, and why.
    pub system_preferred: SystemPreferred,
    /// What system-preferred MFA would prompt.
    pub system_preferred_method: &'static str,
    /// The user's default method, if set.
    pub default_method: Option<&'static str>,
    /// Usable methods, most preferred first.
    pub usable_methods: Vec<&'static str>,
    /// What requires MFA (`mfaRequired`, `requiredBy`, ...), when it was read.
    #[serde(flatten)]
    pub mfa: Option<Verdict>,
    /// Whether SMS sign-in (first factor) is open to the user.
    pub sms_sign_in: bool,
    /// The reasoning, step by step (only for `--user`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<String>>,
}

fn result<'a>(
    sim: &'a Simulation<'_>,
    access: Access<'_>,
    i: u32,
    state: &UserState,
    o: &Outcome,
) -> UserResult<'a> {
    let user = &sim.directory.users()[i as usize];
    UserResult {
        user_principal_name: &user.upn,
        id: format_guid(user.id),
        method: o.method(),
        source: o.source,
        system_preferred: o.system_preferred,
        system_preferred_method: o.most_preferred_method(),
        default_method: state.preferred.map(|p| p.as_str()),
        usable_methods: o.usable_methods(),
        mfa: access.map(|(p, side)| p.verdict(side, sim.directory, i, state)),
        sms_sign_in: o.sms_sign_in,
        steps: None,
    }
}

fn word<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Where the output of one tenant goes: alone, or as one of several (`--all-tenants`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The whole output.
    Alone,
    /// One tenant of several: CSV rows begin with a `tenant` column (the header only with
    /// the first); the JSON object is one element of the caller's `tenants` array.
    Tenant {
        /// Whether this is the first tenant written.
        first: bool,
    },
}

/// What heads one tenant's explanation: its name, what it is simulated from, and where it
/// goes.
#[derive(Debug, Clone, Copy)]
pub struct Heading<'a> {
    /// The tenant's name.
    pub tenant: &'a str,
    /// `live tenant`, or the declared policy as it will be once applied.
    pub basis: &'a str,
    /// Alone, or one tenant of several.
    pub part: Part,
}

/// Writes every user with registration details: summary and rows.
pub fn write_all(
    out: &mut dyn Write,
    format: ExplainFormat,
    heading: Heading<'_>,
    sim: &Simulation<'_>,
    access: Access<'_>,
    state: &[UserState],
) -> std::io::Result<()> {
    let Heading {
        tenant,
        basis,
        part,
    } = heading;
    let default = UserState::default();
    let rows = || {
        sim.directory
            .users()
            .iter()
            .enumerate()
            .filter(|(_, u)| u.in_report)
            .map(|(i, _)| {
                let st = state.get(i).unwrap_or(&default);
                (i as u32, *st, sim.outcome(i as u32, st))
            })
    };
    let counts = summary(sim, state);
    match format {
        ExplainFormat::Json => {
            write!(
                out,
                "{{\"formatVersion\":{FORMAT_VERSION},\"tenant\":{},\"basis\":{},\"summary\":{},\"users\":[",
                serde_json::to_string(tenant).unwrap_or_default(),
                serde_json::to_string(basis).unwrap_or_default(),
                serde_json::to_string(&counts).unwrap_or_default()
            )?;
            for (n, (i, st, o)) in rows().enumerate() {
                if n > 0 {
                    out.write_all(b",")?;
                }
                out.write_all(b"\n")?;
                serde_json::to_writer(&mut *out, &result(sim, access, i, &st, &o))?;
            }
            out.write_all(match part {
                Part::Alone => b"\n]}\n".as_slice(),
                Part::Tenant { .. } => b"\n]}",
            })
        }
        ExplainFormat::Csv => {
            let column = match part {
                Part::Alone => None,
                Part::Tenant { first } => {
                    if first {
                        writeln!(out, "tenant,{CSV_HEADER}")?;
                    }
                    Some(csv_field(tenant))
                }
            };
            if column.is_none() {
                writeln!(out, "{CSV_HEADER}")?;
            }
            for (i, st, o) in rows() {
                if let Some(t) = &column {
                    write!(out, "{t},")?;
                }
                csv_row(out, &result(sim, access, i, &st, &o))?;
            }
            Ok(())
        }
        ExplainFormat::Human => {
            let total: usize = counts.values().sum();
            writeln!(
                out,
                "Tenant {tenant} ({basis}): first MFA prompt of {total} user(s)\n"
            )?;
            let mut by_count: Vec<(&&str, &usize)> = counts.iter().collect();
            by_count.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            for (method, n) in by_count {
                writeln!(
                    out,
                    "  {method:<24} {:>9}",
                    crate::printer::thousands(*n as u64)
                )?;
            }
            writeln!(
                out,
                "\n{:<48} {:<24} {:<16} mfa required",
                "user", "method", "why"
            )?;
            for (i, st, o) in rows() {
                let r = result(sim, access, i, &st, &o);
                writeln!(
                    out,
                    "{:<48} {:<24} {:<16} {}",
                    r.user_principal_name,
                    r.method,
                    word(&r.source),
                    mfa_word(&r)
                )?;
            }
            Ok(())
        }
    }
}

/// Writes one user's reasoning, each object id in it followed by its name from `names`.
pub fn write_user(
    out: &mut dyn Write,
    format: ExplainFormat,
    (sim, names): (&Simulation<'_>, &ObjectNames),
    access: Access<'_>,
    index: u32,
    state: &UserState,
) -> std::io::Result<()> {
    let o = sim.outcome(index, state);
    let mut r = result(sim, access, index, state, &o);
    let mut steps = sim.steps(index, state);
    match &r.mfa {
        Some(verdict) => steps.push(verdict.describe()),
        None => steps.push(
            "MFA required: unknown: security defaults, the Conditional Access policies or the authentication strengths could not be read.".into(),
        ),
    }
    let steps: Vec<String> = steps.iter().map(|s| annotate(s, names)).collect();
    match format {
        ExplainFormat::Json => {
            r.steps = Some(steps);
            serde_json::to_writer_pretty(&mut *out, &r)?;
            out.write_all(b"\n")
        }
        ExplainFormat::Csv => {
            writeln!(out, "{CSV_HEADER}")?;
            csv_row(out, &r)
        }
        ExplainFormat::Human => {
            writeln!(out, "{} ({})", r.user_principal_name, r.id)?;
            for (n, step) in steps.iter().enumerate() {
                writeln!(out, "  {}. {step}", n + 1)?;
            }
            Ok(())
        }
    }
}

const CSV_HEADER: &str = "userPrincipalName,id,method,source,systemPreferred,systemPreferredMethod,defaultMethod,usableMethods,mfaRequired,mfaRequiredBy,smsSignIn";

/// `mfaRequired` in one word (`unknown` when it could not be read), and what requires it.
fn mfa_word(r: &UserResult<'_>) -> String {
    match &r.mfa {
        Some(v) if v.required_by.is_empty() => word(&v.mfa_required),
        Some(v) => format!("{} ({})", word(&v.mfa_required), v.required_by.join(", ")),
        None => "unknown".into(),
    }
}

fn csv_row(out: &mut dyn Write, r: &UserResult<'_>) -> std::io::Result<()> {
    writeln!(
        out,
        "{},{},{},{},{},{},{},{},{},{},{}",
        csv_field(r.user_principal_name),
        r.id,
        r.method,
        word(&r.source),
        word(&r.system_preferred),
        r.system_preferred_method,
        r.default_method.unwrap_or(""),
        csv_field(&r.usable_methods.join(" ")),
        r.mfa
            .as_ref()
            .map_or_else(|| "unknown".into(), |v| word(&v.mfa_required)),
        csv_field(
            &r.mfa
                .as_ref()
                .map(|v| v.required_by.join("; "))
                .unwrap_or_default()
        ),
        r.sms_sign_in
    )
}
