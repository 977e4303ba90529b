//! Lints: legal settings that weaken MFA, reported as warnings with a code each, and how a
//! document silences one.
//!
//! Like the rules in [`rules`](super::rules), a lint looks only at what is declared: a
//! property the YAML leaves out is unmanaged (whatever the tenant holds) and is never linted.
//! Each help line cites the recommendation: the EIDSCA control from the published
//! authentication-methods baseline where one exists, Microsoft's guidance otherwise.
//!
//! - **SMS usable for sign-in** (MFA027): `methods.sms` declared `state: enabled` with
//!   declared `includeTargets`, one of which says `isUsableForSignIn: true` or leaves it out
//!   (Graph's default for it is `true`). Reported at the `true` value, or at the target that
//!   leaves it out. EIDSCA.AS04.
//! - **Voice enabled** (MFA028): `methods.voice` declared `state: enabled` and not
//!   `includeTargets: []`. A voice call can never be used to sign in, only as a second factor;
//!   it is linted because it is telephony without number matching, which EIDSCA.AV01
//!   recommends turning off. Reported at the `enabled` value.
//! - **System-preferred MFA off** (MFA029): `systemCredentialPreferences.state` declared
//!   `disabled`. Reported at the value.
//! - **No break-glass exclusion** (MFA030): `systemCredentialPreferences.state` declared
//!   `enabled` or `default` (Microsoft-managed, which is on) while `excludeTargets` is
//!   declared empty or not declared at all: turning system-preferred MFA on without writing
//!   down the emergency-access exclusion next to it. Reported at `excludeTargets: []`, or at
//!   the `state` key when `excludeTargets` is missing.
//! - **Registration campaign off** (MFA031):
//!   `registrationEnforcement.authenticationMethodsRegistrationCampaign.state` declared
//!   `disabled`. Reported at the value.
//! - **Per-user MFA with security defaults** (MFA032): a `PerUserMfa` document whose `state`
//!   or any exception is `enabled` or `enforced`, and a `SecurityDefaults` document with
//!   `enabled: true`, in the same policy set. Reported at the PerUserMfa `state` key (or the
//!   first such exception when `state` is not the culprit); the message names where
//!   security defaults are enabled.
//!
//! # Silencing
//!
//! A document silences a lint reported inside it with an annotation whose value says why:
//!
//! ```yaml
//! metadata:
//!   name: authentication-methods
//!   annotations:
//!     mfactl.io/silence-MFA028: "voice stays on for the call centre until Q3"
//! ```
//!
//! A silenced lint is not printed; [`LoadOutcome::silenced`](super::LoadOutcome::silenced)
//! lists it with its reason. An empty reason is an error (MFA033), and so is a code that is
//! unknown or not a lint (MFA034): errors and other warnings cannot be silenced. MFA032 is
//! reported in (and so silenced by) the `PerUserMfa` document.

use serde::Serialize;

use crate::kinds::conditional_access::DeclaredConditionalAccessPolicy;
use crate::kinds::per_user_mfa::DeclaredPerUserMfa;
use crate::kinds::security_defaults::DeclaredSecurityDefaults;
use crate::msgraph::PerUserMfaState;
use crate::source::diagnostic::{CODES, Diagnostic, Finding, LINTS, Location, Pos, codes};
use crate::source::suggest;
use crate::source::yaml::Entry;

/// The prefix of an annotation that silences a lint: `mfactl.io/silence-MFA027`.
pub const SILENCE_PREFIX: &str = "mfactl.io/silence-";

/// A lint a document silences, read from its annotations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Silence {
    pub(crate) code: &'static str,
    pub(crate) reason: String,
}

/// A lint that was found and silenced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Silenced {
    /// The lint's code.
    pub code: &'static str,
    /// Where the lint would have been reported.
    pub location: Location,
    /// The lint's message.
    pub message: String,
    /// The reason given in the annotation.
    pub reason: String,
}

/// Whether `key` is a silencing annotation.
pub(crate) fn is_silence(key: &str) -> bool {
    key.starts_with(SILENCE_PREFIX)
}

/// Reads one `mfactl.io/silence-<code>` annotation; reports an unknown code, a code that is
/// no lint, and an empty or missing reason.
pub(crate) fn silence(entry: &Entry, findings: &mut Vec<Finding>) -> Option<Silence> {
    let given = &entry.key[SILENCE_PREFIX.len()..];
    let Some(info) = CODES.iter().find(|c| c.code.eq_ignore_ascii_case(given)) else {
        let help = suggest::help(given, LINTS.iter().copied())
            .unwrap_or_else(|| format!("the lints are {}", LINTS.join(", ")));
        findings.push(
            Finding::new(
                codes::SILENCE_CODE,
                entry.key_pos,
                format!(
                    "`{}` silences `{given}`, which is no diagnostic code",
                    entry.key
                ),
            )
            .help(help),
        );
        return None;
    };
    if !LINTS.contains(&info.code) {
        findings.push(
            Finding::new(
                codes::SILENCE_CODE,
                entry.key_pos,
                format!(
                    "{} is not a lint and cannot be silenced: {}",
                    info.code, info.summary
                ),
            )
            .help(format!(
                "only lints can be silenced ({}); fix the policy instead",
                LINTS.join(", ")
            )),
        );
        return None;
    }
    match entry.value.as_str().map(str::trim) {
        Some(reason) if !reason.is_empty() => Some(Silence {
            code: info.code,
            reason: reason.to_string(),
        }),
        _ => {
            let pos = if entry.value.is_null() {
                entry.key_pos
            } else {
                entry.value.pos
            };
            findings.push(
                Finding::new(
                    codes::SILENCE_REASON,
                    pos,
                    format!(
                        "silencing {} needs a reason, found {}",
                        info.code,
                        entry.value.describe()
                    ),
                )
                .help(format!(
                    "say why the setting is acceptable here: `{SILENCE_PREFIX}{}: \"<reason>\"`",
                    info.code
                )),
            );
            None
        }
    }
}

fn on(state: PerUserMfaState) -> bool {
    matches!(state, PerUserMfaState::Enabled | PerUserMfaState::Enforced)
}

/// MFA032: per-user MFA left on in a set that also enables security defaults. The finding's
/// location is in the `PerUserMfa` document.
pub(crate) fn per_user_with_defaults(
    per_user: &DeclaredPerUserMfa,
    defaults: &DeclaredSecurityDefaults,
) -> Option<(Location, Finding)> {
    if !defaults.is_enabled {
        return None;
    }
    let (at, what) = match (per_user.state, &per_user.state_location) {
        (Some(state), Some(at)) if on(state) => {
            (at.clone(), format!("per-user MFA is `{}`", state.as_str()))
        }
        _ => {
            let e = per_user.exceptions.iter().find(|e| on(e.state))?;
            (
                e.location.clone(),
                format!(
                    "per-user MFA is `{}` for {}",
                    e.state.as_str(),
                    e.target.describe()
                ),
            )
        }
    };
    let pos = Pos::new(at.line, at.column);
    let finding = Finding::new(
        codes::PER_USER_WITH_DEFAULTS,
        pos,
        format!(
            "{what} while security defaults are enabled at {}",
            defaults.location
        ),
    )
    .help("Microsoft recommends turning per-user MFA off when security defaults (or Conditional Access) require MFA: write `state: disabled` and drop the enabled/enforced exceptions, or turn security defaults off");
    Some((at, finding))
}

/// MFA035: security defaults declared off while nothing declared requires MFA in their
/// place. Security defaults are what requires MFA of every user in a tenant without
/// Conditional Access; Microsoft's guidance is to turn them off only for something that
/// replaces them: an enabled Conditional Access policy requiring MFA of all users for all
/// resources, or per-user MFA `enabled` or `enforced` for everyone no exception names (the
/// `PerUserMfa` document's `state`).
pub(crate) fn defaults_off_unreplaced(
    defaults: &DeclaredSecurityDefaults,
    per_user: Option<&DeclaredPerUserMfa>,
    policies: &[DeclaredConditionalAccessPolicy],
) -> Option<Finding> {
    let replaced = policies
        .iter()
        .any(|p| p.enabled() && p.requires_mfa_of_everyone());
    if defaults.is_enabled || replaced || per_user.and_then(|p| p.state).is_some_and(on) {
        return None;
    }
    let at = &defaults.location;
    Some(
        Finding::new(
            codes::DEFAULTS_OFF_UNREPLACED,
            Pos::new(at.line, at.column),
            "security defaults are declared off, and nothing declared requires MFA in their place: once applied, users who had to do MFA no longer must",
        )
        .help(
            "leave security defaults out of the policy set (they stay as the tenant has them), or declare what replaces them \
             (an enabled ConditionalAccessPolicy requiring MFA of All users for All resources, or PerUserMfa `state: enforced`); \
             if Conditional Access outside mfactl requires MFA, silence this with `mfactl.io/silence-MFA035: \"<reason>\"`",
        ),
    )
}

/// MFA041: security defaults declared on together with an enabled Conditional Access
/// policy, which Graph refuses (FACTS-CA item 28). Reported at the policy, once per policy.
pub(crate) fn defaults_with_enabled_policies(
    defaults: &DeclaredSecurityDefaults,
    policies: &[DeclaredConditionalAccessPolicy],
) -> Vec<Diagnostic> {
    if !defaults.is_enabled {
        return Vec::new();
    }
    policies
        .iter()
        .filter(|p| p.enabled())
        .map(|p| {
            Finding::new(
                codes::DEFAULTS_WITH_ENABLED_POLICY,
                Pos::new(p.location.line, p.location.column),
                format!(
                    "`{}` is declared enabled while security defaults are declared on at {}: Graph refuses an enabled Conditional Access policy while security defaults are on",
                    p.display_name, defaults.location
                ),
            )
            .help("declare security defaults `enabled: false` (mfactl turns them off once the policies are in place), or this policy `state: enabledForReportingButNotEnforced`")
            .in_file(&p.location.file)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::policy::testing::{codes_at, load_str, policy};
    use crate::policy::{LoadOutcome, codes};

    fn silenced_at(outcome: &LoadOutcome) -> Vec<(&'static str, usize, usize, &str)> {
        outcome
            .silenced
            .iter()
            .map(|s| {
                (
                    s.code,
                    s.location.line,
                    s.location.column,
                    s.reason.as_str(),
                )
            })
            .collect()
    }

    const DEFAULTS_ON: &str = "apiVersion: mfactl/v1\nkind: SecurityDefaults\nmetadata: {name: sd}\nspec:\n  enabled: true\n";

    fn per_user(annotations: &str, spec: &str) -> String {
        format!(
            "apiVersion: mfactl/v1\nkind: PerUserMfa\nmetadata:\n  name: pu\n  annotations: {{{annotations}}}\nspec:\n{spec}"
        )
    }

    #[test]
    fn per_user_mfa_with_security_defaults() {
        let out = load_str(&format!(
            "{DEFAULTS_ON}---\n{}",
            per_user("", "  state: enabled\n")
        ));
        assert_eq!(codes_at(&out), [(codes::PER_USER_WITH_DEFAULTS, 13, 3)]);
        assert_eq!(
            out.diagnostics[0].message,
            "per-user MFA is `enabled` while security defaults are enabled at mem.yaml:5:3"
        );
        // The document order does not matter; an exception is enough.
        let exception = load_str(&format!(
            "{}---\n{DEFAULTS_ON}",
            per_user(
                "",
                "  state: disabled\n  exceptions:\n    - group: Legacy VPN Users\n      state: enforced\n"
            )
        ));
        assert_eq!(
            codes_at(&exception),
            [(codes::PER_USER_WITH_DEFAULTS, 9, 7)]
        );
        assert!(
            exception.diagnostics[0]
                .message
                .starts_with("per-user MFA is `enforced` for group 'Legacy VPN Users' while")
        );
        for quiet in [
            format!("{DEFAULTS_ON}---\n{}", per_user("", "  state: disabled\n")),
            format!(
                "{}---\n{}",
                DEFAULTS_ON.replace("true", "false"),
                per_user("", "  state: enforced\n")
            ),
            per_user("", "  state: enforced\n"),
        ] {
            let out = load_str(&quiet);
            assert!(out.diagnostics.is_empty(), "{quiet}\n{:?}", out.diagnostics);
        }
    }

    #[test]
    fn each_lint_is_silenced_by_its_document_with_a_reason() {
        let out = load_str(&policy(
            "mfactl.io/silence-MFA028: \"call centre\", mfactl.io/silence-MFA029: pilot",
            "  systemCredentialPreferences: {state: disabled}\n  methods:\n    voice: {state: enabled}\n",
        ));
        assert!(out.diagnostics.is_empty(), "{:?}", out.diagnostics);
        assert_eq!(
            silenced_at(&out),
            [
                (codes::SYSTEM_PREFERRED_OFF, 7, 40),
                (codes::VOICE_ENABLED, 9, 20),
            ]
            .map(|(c, l, col)| (
                c,
                l,
                col,
                if c == codes::VOICE_ENABLED {
                    "call centre"
                } else {
                    "pilot"
                }
            ))
        );
        assert_eq!(
            out.silenced_note().as_deref(),
            Some("2 lint warning(s) silenced by mfactl.io/silence-<code> annotations.")
        );
        // Only the silenced code: the others are still reported.
        let partly = load_str(&policy(
            "mfactl.io/silence-MFA031: \"onboarding portal\"",
            "  systemCredentialPreferences: {state: disabled}\n  registrationEnforcement:\n    authenticationMethodsRegistrationCampaign: {state: disabled}\n",
        ));
        assert_eq!(codes_at(&partly), [(codes::SYSTEM_PREFERRED_OFF, 7, 40)]);
        assert_eq!(
            silenced_at(&partly),
            [(codes::CAMPAIGN_OFF, 9, 56, "onboarding portal")]
        );
        // A silence with nothing to silence is harmless.
        let unused = load_str(&policy(
            "mfactl.io/silence-MFA027: \"no SMS here\"",
            "  policyMigrationState: migrationComplete\n",
        ));
        assert!(unused.diagnostics.is_empty() && unused.silenced.is_empty());
    }

    #[test]
    fn per_user_lint_is_silenced_by_the_per_user_document_only() {
        let silenced = load_str(&format!(
            "{DEFAULTS_ON}---\n{}",
            per_user(
                "mfactl.io/silence-MFA032: NPS extension",
                "  state: enforced\n"
            )
        ));
        assert!(
            silenced.diagnostics.is_empty(),
            "{:?}",
            silenced.diagnostics
        );
        assert_eq!(
            silenced_at(&silenced),
            [(codes::PER_USER_WITH_DEFAULTS, 13, 3, "NPS extension")]
        );
        let elsewhere = load_str(&format!(
            "{}---\n{}",
            DEFAULTS_ON.replace(
                "{name: sd}",
                "{name: sd, annotations: {mfactl.io/silence-MFA032: why}}"
            ),
            per_user("", "  state: enforced\n")
        ));
        assert_eq!(
            codes_at(&elsewhere),
            [(codes::PER_USER_WITH_DEFAULTS, 13, 3)]
        );
    }

    #[test]
    fn a_silence_needs_a_reason() {
        let spec = "  methods:\n    voice: {state: enabled}\n";
        for (annotation, column) in [
            ("mfactl.io/silence-MFA028: \"\"", 43),
            ("mfactl.io/silence-MFA028: \"  \"", 43),
            ("mfactl.io/silence-MFA028: true", 43),
        ] {
            let out = load_str(&policy(annotation, spec));
            assert_eq!(
                codes_at(&out),
                [
                    (codes::SILENCE_REASON, 5, column),
                    (codes::VOICE_ENABLED, 8, 20)
                ],
                "{annotation}"
            );
            assert!(out.set.is_none(), "a silence without a reason is an error");
            assert!(out.silenced.is_empty());
        }
        let null = load_str(&policy("mfactl.io/silence-MFA028: ", spec));
        assert_eq!(
            codes_at(&null),
            [
                (codes::SILENCE_REASON, 5, 17),
                (codes::VOICE_ENABLED, 8, 20)
            ]
        );
        assert!(null.diagnostics[0].message.contains("MFA028"));
    }

    #[test]
    fn only_known_lints_can_be_silenced() {
        let spec = "  policyMigrationState: migrationComplete\n";
        for (annotation, help) in [
            ("mfactl.io/silence-MFA999: x", "did you mean `MFA029`?"),
            ("mfactl.io/silence-MFA0027: x", "did you mean `MFA027`?"),
            ("mfactl.io/silence-: x", "the lints are MFA027"),
            (
                "mfactl.io/silence-MFA023: deprecated",
                "only lints can be silenced",
            ),
            (
                "mfactl.io/silence-MFA021: lockout",
                "only lints can be silenced",
            ),
        ] {
            let out = load_str(&policy(annotation, spec));
            assert_eq!(
                codes_at(&out),
                [(codes::SILENCE_CODE, 5, 17)],
                "{annotation}"
            );
            let got = out.diagnostics[0].help.as_deref().unwrap();
            assert!(got.contains(help), "{annotation}: {got}");
            assert!(out.set.is_none());
        }
        // Other annotations are left alone; codes are case-insensitive.
        let other = load_str(&policy(
            "owner: identity, mfactl.io/silence-mfa027: ok",
            spec,
        ));
        assert!(other.diagnostics.is_empty(), "{:?}", other.diagnostics);
    }

    #[test]
    fn security_defaults_off_are_replaced_only_by_an_enabled_policy_for_everyone() {
        let off = "apiVersion: mfactl/v1\nkind: SecurityDefaults\nmetadata: {name: sd}\nspec:\n  enabled: false\n";
        let ca = |state: &str, extra: &str| {
            format!(
                "---\napiVersion: mfactl/v1\nkind: ConditionalAccessPolicy\nmetadata: {{name: MFA for all}}\nspec:\n  state: {state}\n  conditions:\n    users: {{includeUsers: [All], excludeGroups: [Break Glass Accounts]}}\n    applications: {{includeApplications: [All]{extra}}}\n  grantControls: {{operator: OR, builtInControls: [mfa]}}\n"
            )
        };
        let replaced = load_str(&format!("{off}{}", ca("enabled", "")));
        assert!(
            replaced.diagnostics.is_empty(),
            "{:?}",
            replaced.diagnostics
        );
        for (state, extra) in [
            ("enabledForReportingButNotEnforced", ""),
            ("disabled", ""),
            (
                "enabled",
                ", excludeApplications: [00000002-0000-0ff1-ce00-000000000000]",
            ),
        ] {
            let out = load_str(&format!("{off}{}", ca(state, extra)));
            assert_eq!(
                codes_at(&out),
                [(codes::DEFAULTS_OFF_UNREPLACED, 5, 3)],
                "{state}{extra}"
            );
        }
        // Security defaults on with an enabled policy: Graph refuses it.
        let on = off.replace("enabled: false", "enabled: true");
        let refused = load_str(&format!("{on}{}", ca("enabled", "")));
        assert_eq!(
            codes_at(&refused),
            [(codes::DEFAULTS_WITH_ENABLED_POLICY, 7, 1)]
        );
        assert!(refused.set.is_none());
        let staged = load_str(&format!(
            "{on}{}",
            ca("enabledForReportingButNotEnforced", "")
        ));
        assert!(staged.diagnostics.is_empty(), "{:?}", staged.diagnostics);
    }
}
