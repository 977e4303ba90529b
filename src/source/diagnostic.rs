//! Diagnostics: what is wrong with a declared policy, where, and how to fix it.
//!
//! Every problem has a stable code ([`CODES`]), a severity, the exact file, line and column
//! where the offending key or value is written, and often a `help` line, in the manner of
//! cargo-deny. The loader reports every problem it finds at once rather than stopping at the
//! first.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use crate::printer::{Level, Line};

/// A position in a policy file. Line and column are 1-based; the column counts characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Location {
    /// The file (or, for a path that cannot be read, the path as given).
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// How bad a diagnostic is. Any [`Severity::Error`] makes the whole policy set unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The policy cannot be applied as written.
    Error,
    /// Legal but suspicious; the policy is still usable.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One problem found in the declared policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Stable code, one of [`CODES`] (`MFA008`, ...).
    pub code: &'static str,
    /// Error or warning.
    pub severity: Severity,
    /// Where the offending key or value is written.
    pub location: Location,
    /// What is wrong, in one sentence.
    pub message: String,
    /// How to fix it, when there is something specific to say.
    pub help: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}[{}]: {}",
            self.location, self.severity, self.code, self.message
        )?;
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

impl Diagnostic {
    /// The printer's line for this diagnostic, at its severity, with its code and location as
    /// fields; `shown` is the text as it is to be shown (paths made relative by the caller).
    pub fn line(&self, shown: String) -> Line {
        let level = match self.severity {
            Severity::Error => Level::Error,
            Severity::Warning => Level::Warn,
        };
        Line {
            level,
            message: shown,
            fields: vec![
                ("code", self.code.into()),
                ("file", self.location.file.display().to_string().into()),
                ("line", self.location.line.into()),
                ("column", self.location.column.into()),
            ],
        }
    }
}

/// One row of the code table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CodeInfo {
    /// The stable code.
    pub code: &'static str,
    /// The severity the loader gives it.
    pub severity: Severity,
    /// One line saying what the code means.
    pub summary: &'static str,
}

/// Stable diagnostic codes. A code is never reused for another meaning.
pub mod codes {
    /// A path cannot be read, is not UTF-8, or a directory holds no `*.yaml`/`*.yml` file.
    pub const IO: &str = "MFA000";
    /// YAML syntax error, at the parser's own position.
    pub const YAML_SYNTAX: &str = "MFA001";
    /// The same key twice in one mapping, or a key that is not a scalar.
    pub const DUPLICATE_KEY: &str = "MFA002";
    /// A document, its `metadata` or its `spec` is not a mapping.
    pub const NOT_A_MAPPING: &str = "MFA003";
    /// `apiVersion` is missing or is not `mfactl/v1`.
    pub const API_VERSION: &str = "MFA004";
    /// `kind` is missing or names no known kind.
    pub const UNKNOWN_KIND: &str = "MFA005";
    /// `metadata` or `metadata.name` is missing or empty.
    pub const MISSING_NAME: &str = "MFA006";
    /// `spec` is missing.
    pub const MISSING_SPEC: &str = "MFA007";
    /// A key the Graph type (or the document format) does not define.
    pub const UNKNOWN_KEY: &str = "MFA008";
    /// A value of the wrong type (string for a boolean, scalar for a list, null where Graph forbids it, ...).
    pub const WRONG_TYPE: &str = "MFA009";
    /// A string that is not a member of the property's enum.
    pub const UNKNOWN_ENUM_VALUE: &str = "MFA010";
    /// A key under `methods` that is neither a built-in method nor an external method's GUID.
    pub const UNKNOWN_METHOD: &str = "MFA011";
    /// A read-only property or an OData annotation is declared.
    pub const READ_ONLY: &str = "MFA012";
    /// A second document of a kind that may appear only once in a policy set.
    pub const DUPLICATE_KIND: &str = "MFA013";
    /// A target without `group`, `user` or `id`, with more than one of them, or of a type the list does not take.
    pub const TARGET_FORM: &str = "MFA014";
    /// systemCredentialPreferences with more than one include or more than one exclude target.
    pub const TARGET_LIMIT: &str = "MFA015";
    /// The same group or user both included and excluded.
    pub const TARGET_CONFLICT: &str = "MFA016";
    /// Temporary Access Pass length or lifetimes outside the service's limits.
    pub const TAP_LIMITS: &str = "MFA017";
    /// `featureSettings.numberMatchingRequiredState` is declared; the service refuses to toggle it.
    pub const NUMBER_MATCHING: &str = "MFA018";
    /// Registration campaign `snoozeDurationInDays` outside 0–14.
    pub const SNOOZE_RANGE: &str = "MFA019";
    /// Registration campaign targeting a method other than Microsoft Authenticator.
    pub const CAMPAIGN_METHOD: &str = "MFA020";
    /// Every MFA-capable method is declared and none is enabled for anyone: a lockout.
    pub const LOCKOUT: &str = "MFA021";
    /// Every MFA-capable method is declared and only one is enabled for anyone.
    pub const SINGLE_METHOD: &str = "MFA022";
    /// A deprecated property is declared.
    pub const DEPRECATED: &str = "MFA023";
    /// A required key is missing.
    pub const MISSING_KEY: &str = "MFA024";
    /// Two SignInPreferences rules or two PerUserMfa exceptions name the same group or user:
    /// the later one (or the property both set) never applies.
    pub const SAME_TARGET: &str = "MFA025";
    /// A SignInPreferences rule property that an earlier `all_users` rule already sets.
    pub const AFTER_ALL_USERS: &str = "MFA026";
    /// Lint: SMS enabled with an include target that may use it to sign in (EIDSCA.AS04).
    pub const SMS_SIGN_IN: &str = "MFA027";
    /// Lint: voice calls enabled (EIDSCA.AV01).
    pub const VOICE_ENABLED: &str = "MFA028";
    /// Lint: system-preferred MFA declared `disabled`.
    pub const SYSTEM_PREFERRED_OFF: &str = "MFA029";
    /// Lint: system-preferred MFA declared on without an exclusion for break-glass accounts.
    pub const NO_BREAK_GLASS: &str = "MFA030";
    /// Lint: the registration campaign declared `disabled`.
    pub const CAMPAIGN_OFF: &str = "MFA031";
    /// Lint: per-user MFA enabled or enforced while security defaults are declared on.
    pub const PER_USER_WITH_DEFAULTS: &str = "MFA032";
    /// A `mfactl.io/silence-<code>` annotation whose reason is empty.
    pub const SILENCE_REASON: &str = "MFA033";
    /// A `mfactl.io/silence-<code>` annotation naming an unknown code or one that is no lint.
    pub const SILENCE_CODE: &str = "MFA034";
    /// Lint: security defaults declared off while nothing declared requires MFA instead.
    pub const DEFAULTS_OFF_UNREPLACED: &str = "MFA035";
    /// A policy file exceeds an input bound: its size, the nodes it expands to (aliases
    /// included), its aliases or its nesting depth.
    pub const INPUT_BOUND: &str = "MFA036";
    /// No policy document is declared in any file read.
    pub const NO_DOCUMENT: &str = "MFA037";
    /// A group display name or user principal name in a target that does not resolve in the
    /// tenant to exactly one object (found at plan time, against the tenant).
    pub const UNRESOLVED_NAME: &str = "MFA038";
    /// A Conditional Access policy that applies to nobody or to no resource, or does
    /// nothing (no grant or session control).
    pub const APPLIES_TO_NOTHING: &str = "MFA039";
    /// A Conditional Access policy requiring both `mfa` and an authentication strength,
    /// which are mutually exclusive.
    pub const MFA_WITH_STRENGTH: &str = "MFA040";
    /// Security defaults declared on together with a Conditional Access policy declared
    /// enabled, which Graph refuses.
    pub const DEFAULTS_WITH_ENABLED_POLICY: &str = "MFA041";
    /// Lint: a Conditional Access policy, enabled or report-only, that requires MFA of or
    /// blocks `All` users and excludes nobody (no break-glass exclusion).
    pub const POLICY_WITHOUT_BREAK_GLASS: &str = "MFA042";
    /// Lint: per-user MFA enabled or enforced while an enabled Conditional Access policy
    /// requires MFA.
    pub const PER_USER_WITH_POLICY: &str = "MFA043";
    /// Lint: security defaults declared off while no enabled Conditional Access policy
    /// blocks legacy authentication in their place.
    pub const LEGACY_AUTH_UNBLOCKED: &str = "MFA044";
    /// Lint: an authentication strength none of whose combinations can be used, every
    /// method it needs being declared off in the authentication methods policy.
    pub const STRENGTH_UNUSABLE: &str = "MFA045";
    /// A `HardwareOathTokens` holder who is a guest, found at plan time.
    pub const OATH_GUEST: &str = "MFA046";
    /// A user who would hold more than five OATH tokens or authenticator apps, found at
    /// plan time.
    pub const OATH_TOO_MANY: &str = "MFA047";
    /// A hardware OATH token assigned while the Hardware OATH method configuration (declared
    /// or live) is disabled or does not target its holder, found at plan time.
    pub const OATH_METHOD_OFF: &str = "MFA048";
}

/// The codes found only against a tenant, when `plan` resolves names, never by `load`.
pub const PLAN_TIME: &[&str] = &[
    codes::UNRESOLVED_NAME,
    codes::OATH_GUEST,
    codes::OATH_TOO_MANY,
    codes::OATH_METHOD_OFF,
];

/// The codes a document may silence with a `mfactl.io/silence-<code>` annotation: the lints.
pub const LINTS: &[&str] = &[
    codes::SMS_SIGN_IN,
    codes::VOICE_ENABLED,
    codes::SYSTEM_PREFERRED_OFF,
    codes::NO_BREAK_GLASS,
    codes::CAMPAIGN_OFF,
    codes::PER_USER_WITH_DEFAULTS,
    codes::DEFAULTS_OFF_UNREPLACED,
    codes::POLICY_WITHOUT_BREAK_GLASS,
    codes::PER_USER_WITH_POLICY,
    codes::LEGACY_AUTH_UNBLOCKED,
    codes::STRENGTH_UNUSABLE,
];

/// The code table, one line per code.
pub const CODES: &[CodeInfo] = &[
    row(
        codes::IO,
        Severity::Error,
        "a path cannot be read, is not UTF-8, or holds no *.yaml/*.yml file",
    ),
    row(codes::YAML_SYNTAX, Severity::Error, "YAML syntax error"),
    row(
        codes::DUPLICATE_KEY,
        Severity::Error,
        "the same key twice in one mapping, or a key that is not a scalar",
    ),
    row(
        codes::NOT_A_MAPPING,
        Severity::Error,
        "a document, its metadata or its spec is not a mapping",
    ),
    row(
        codes::API_VERSION,
        Severity::Error,
        "apiVersion is missing or is not mfactl/v1",
    ),
    row(
        codes::UNKNOWN_KIND,
        Severity::Error,
        "kind is missing or names no known kind",
    ),
    row(
        codes::MISSING_NAME,
        Severity::Error,
        "metadata or metadata.name is missing or empty",
    ),
    row(
        codes::MISSING_SPEC,
        Severity::Error,
        "spec is missing or empty",
    ),
    row(
        codes::UNKNOWN_KEY,
        Severity::Error,
        "a key the Graph type or the document format does not define",
    ),
    row(
        codes::WRONG_TYPE,
        Severity::Error,
        "a value of the wrong type (quoted \"true\", yes/no, null where Graph forbids it, ...)",
    ),
    row(
        codes::UNKNOWN_ENUM_VALUE,
        Severity::Error,
        "a value that is not a member of the property's enum",
    ),
    row(
        codes::UNKNOWN_METHOD,
        Severity::Error,
        "a methods key that is neither a built-in method nor a GUID",
    ),
    row(
        codes::READ_ONLY,
        Severity::Error,
        "a read-only property or an OData annotation is declared",
    ),
    row(
        codes::DUPLICATE_KIND,
        Severity::Error,
        "a second document of a kind allowed once per policy set, or of a name already declared for a keyed kind",
    ),
    row(
        codes::TARGET_FORM,
        Severity::Error,
        "a target without group/user/id, with several, or of a type the list does not take",
    ),
    row(
        codes::TARGET_LIMIT,
        Severity::Error,
        "systemCredentialPreferences with more than one include or exclude target",
    ),
    row(
        codes::TARGET_CONFLICT,
        Severity::Error,
        "the same group or user both included and excluded",
    ),
    row(
        codes::TAP_LIMITS,
        Severity::Error,
        "Temporary Access Pass length or lifetimes outside the service's limits",
    ),
    row(
        codes::NUMBER_MATCHING,
        Severity::Error,
        "featureSettings.numberMatchingRequiredState is declared",
    ),
    row(
        codes::SNOOZE_RANGE,
        Severity::Error,
        "registration campaign snoozeDurationInDays outside 0-14",
    ),
    row(
        codes::CAMPAIGN_METHOD,
        Severity::Error,
        "registration campaign targeting a method other than microsoftAuthenticator",
    ),
    row(
        codes::LOCKOUT,
        Severity::Error,
        "every MFA-capable method is declared and none is usable",
    ),
    row(
        codes::SINGLE_METHOD,
        Severity::Error,
        "every MFA-capable method is declared and fewer than two are usable (Entra requires two)",
    ),
    row(
        codes::DEPRECATED,
        Severity::Warning,
        "a deprecated property is declared",
    ),
    row(
        codes::MISSING_KEY,
        Severity::Error,
        "a required key is missing",
    ),
    row(
        codes::SAME_TARGET,
        Severity::Warning,
        "two SignInPreferences rules or PerUserMfa exceptions name the same group or user: the later one, or the property it repeats, never applies",
    ),
    row(
        codes::AFTER_ALL_USERS,
        Severity::Warning,
        "a SignInPreferences rule property after an all_users rule that sets it never applies",
    ),
    row(
        codes::SMS_SIGN_IN,
        Severity::Warning,
        "lint: SMS enabled with an include target that does not say isUsableForSignIn: false (EIDSCA.AS04)",
    ),
    row(
        codes::VOICE_ENABLED,
        Severity::Warning,
        "lint: voice calls enabled (EIDSCA.AV01 recommends disabled)",
    ),
    row(
        codes::SYSTEM_PREFERRED_OFF,
        Severity::Warning,
        "lint: system-preferred MFA (systemCredentialPreferences) declared disabled",
    ),
    row(
        codes::NO_BREAK_GLASS,
        Severity::Warning,
        "lint: system-preferred MFA declared on with no excludeTargets for break-glass accounts",
    ),
    row(
        codes::CAMPAIGN_OFF,
        Severity::Warning,
        "lint: the Authenticator registration campaign declared disabled",
    ),
    row(
        codes::PER_USER_WITH_DEFAULTS,
        Severity::Warning,
        "lint: per-user MFA enabled or enforced while security defaults are declared on",
    ),
    row(
        codes::SILENCE_REASON,
        Severity::Error,
        "a mfactl.io/silence-<code> annotation without a reason",
    ),
    row(
        codes::SILENCE_CODE,
        Severity::Error,
        "a mfactl.io/silence-<code> annotation naming an unknown code or a code that is not a lint",
    ),
    row(
        codes::DEFAULTS_OFF_UNREPLACED,
        Severity::Warning,
        "lint: security defaults declared off while nothing declared requires MFA in their place",
    ),
    row(
        codes::INPUT_BOUND,
        Severity::Error,
        "a policy file exceeds an input bound (size, nodes after alias expansion, aliases, nesting depth)",
    ),
    row(
        codes::NO_DOCUMENT,
        Severity::Error,
        "no policy document is declared in the files read",
    ),
    row(
        codes::UNRESOLVED_NAME,
        Severity::Error,
        "plan: a group name or UPN in a target does not resolve in the tenant to exactly one object",
    ),
    row(
        codes::APPLIES_TO_NOTHING,
        Severity::Error,
        "a Conditional Access policy applies to nobody or to no resource, or does nothing",
    ),
    row(
        codes::MFA_WITH_STRENGTH,
        Severity::Error,
        "a Conditional Access policy requires both `mfa` and an authentication strength",
    ),
    row(
        codes::DEFAULTS_WITH_ENABLED_POLICY,
        Severity::Error,
        "security defaults declared on together with an enabled Conditional Access policy",
    ),
    row(
        codes::POLICY_WITHOUT_BREAK_GLASS,
        Severity::Warning,
        "lint: a Conditional Access policy requiring MFA of or blocking All users excludes nobody (no break-glass exclusion)",
    ),
    row(
        codes::PER_USER_WITH_POLICY,
        Severity::Warning,
        "lint: per-user MFA enabled or enforced while an enabled Conditional Access policy requires MFA",
    ),
    row(
        codes::LEGACY_AUTH_UNBLOCKED,
        Severity::Warning,
        "lint: security defaults declared off while no enabled Conditional Access policy blocks legacy authentication",
    ),
    row(
        codes::STRENGTH_UNUSABLE,
        Severity::Warning,
        "lint: an authentication strength whose combinations all need a method declared off in the methods policy",
    ),
    row(
        codes::OATH_GUEST,
        Severity::Error,
        "a hardware OATH token assigned to a guest (plan time)",
    ),
    row(
        codes::OATH_TOO_MANY,
        Severity::Error,
        "a user who would hold more than five OATH tokens or authenticator apps (plan time)",
    ),
    row(
        codes::OATH_METHOD_OFF,
        Severity::Error,
        "a hardware OATH token assigned while the hardwareOath method configuration is disabled or does not target its holder (plan time)",
    ),
];

const fn row(code: &'static str, severity: Severity, summary: &'static str) -> CodeInfo {
    CodeInfo {
        code,
        severity,
        summary,
    }
}

/// The severity the code table gives `code` ([`Severity::Error`] for an unknown code).
pub fn severity_of(code: &str) -> Severity {
    CODES
        .iter()
        .find(|c| c.code == code)
        .map_or(Severity::Error, |c| c.severity)
}

/// A position inside one file; turned into a [`Location`] once the file is known. `file` is
/// 0 for "the file being read"; a node merged in from an overlay document carries its own
/// file's number (see [`file_number`]), so that a diagnostic about it names the overlay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub(crate) struct Pos {
    pub(crate) line: usize,
    pub(crate) column: usize,
    pub(crate) file: u32,
}

impl Pos {
    /// The start of a file.
    pub(crate) const START: Pos = Pos::new(1, 1);

    /// Line and column (1-based) in the file being read.
    pub(crate) const fn new(line: usize, column: usize) -> Pos {
        Pos {
            line,
            column,
            file: 0,
        }
    }

    /// The location, in `file` unless the position names its own.
    pub(crate) fn at(&self, file: &std::path::Path) -> Location {
        Location {
            file: numbered_file(self.file).unwrap_or_else(|| file.to_path_buf()),
            line: self.line,
            column: self.column,
        }
    }
}

fn files() -> &'static std::sync::Mutex<Vec<std::path::PathBuf>> {
    static FILES: std::sync::OnceLock<std::sync::Mutex<Vec<std::path::PathBuf>>> =
        std::sync::OnceLock::new();
    FILES.get_or_init(Default::default)
}

/// A number (from 1) for `path`, the same every time it is asked for in this process.
pub(crate) fn file_number(path: &std::path::Path) -> u32 {
    let mut files = files().lock().unwrap_or_else(|e| e.into_inner());
    let index = match files.iter().position(|f| f == path) {
        Some(i) => i,
        None => {
            files.push(path.to_path_buf());
            files.len() - 1
        }
    };
    u32::try_from(index + 1).unwrap_or(u32::MAX)
}

fn numbered_file(number: u32) -> Option<std::path::PathBuf> {
    let index = usize::try_from(number.checked_sub(1)?).ok()?;
    files()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(index)
        .cloned()
}

/// A diagnostic before its file is attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    pub(crate) code: &'static str,
    pub(crate) pos: Pos,
    pub(crate) message: String,
    pub(crate) help: Option<String>,
}

impl Finding {
    pub(crate) fn new(code: &'static str, pos: Pos, message: impl Into<String>) -> Self {
        Finding {
            code,
            pos,
            message: message.into(),
            help: None,
        }
    }

    pub(crate) fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds a help line only when there is one.
    pub(crate) fn maybe_help(mut self, help: Option<String>) -> Self {
        if help.is_some() {
            self.help = help;
        }
        self
    }

    pub(crate) fn in_file(self, file: &std::path::Path) -> Diagnostic {
        Diagnostic {
            code: self.code,
            severity: severity_of(self.code),
            location: self.pos.at(file),
            message: self.message,
            help: self.help,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_in_order() {
        for (i, c) in CODES.iter().enumerate() {
            assert_eq!(c.code, format!("MFA{i:03}"));
        }
        for code in PLAN_TIME {
            assert!(CODES.iter().any(|c| c.code == *code), "{code}");
        }
    }

    #[test]
    fn display_has_location_severity_code_and_help() {
        let d = Diagnostic {
            code: codes::UNKNOWN_KEY,
            severity: Severity::Error,
            location: Location {
                file: "policies/a.yaml".into(),
                line: 3,
                column: 5,
            },
            message: "unknown key `stat`".into(),
            help: Some("did you mean `state`?".into()),
        };
        assert_eq!(
            d.to_string(),
            "policies/a.yaml:3:5: error[MFA008]: unknown key `stat`\n  help: did you mean `state`?"
        );
    }
}
