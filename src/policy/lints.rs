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
//! - **Security defaults off, unreplaced** (MFA035): `SecurityDefaults` `enabled: false`
//!   while nothing declared requires MFA of everyone in their place. Reported at
//!   `enabled`.
//! - **Conditional Access without a break-glass exclusion** (MFA042): a
//!   `ConditionalAccessPolicy`, `enabled` or report-only, that requires MFA (`mfa` or a
//!   strength) of `includeUsers: [All]` or blocks them, and declares no `excludeUsers`,
//!   `excludeGroups` or `excludeRoles`. Microsoft recommends exempting the emergency-access
//!   accounts (FACTS-CA items 31, 34). Reported at `All`, by the kind's own
//!   `crate::kinds::conditional_access::lints`.
//! - **Per-user MFA with Conditional Access** (MFA043): a `PerUserMfa` `state` or exception
//!   `enabled` or `enforced` while an enabled `ConditionalAccessPolicy` requires MFA; per-user
//!   MFA is to be turned off once Conditional Access is in place. Reported where MFA032 is;
//!   the message names the policy.
//! - **Legacy authentication unblocked** (MFA044): `SecurityDefaults` `enabled: false` while
//!   no enabled `ConditionalAccessPolicy` blocks legacy authentication (`block` for
//!   `clientAppTypes` with `exchangeActiveSync` or `other`), which security defaults did
//!   (FACTS-CA items 31, 37). Reported at `enabled`, where MFA035 is.
//! - **A strength nobody can use** (MFA045): a custom `AuthenticationStrength` each of whose
//!   combinations needs a method the declared `AuthenticationMethodsPolicy` turns off; only
//!   methods declared with a `state` count. Reported at `allowedCombinations`.
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
//! unknown or not a lint (MFA034): errors and other warnings cannot be silenced. A lint that
//! needs two documents is reported in (and so silenced by) one of them: MFA032 and MFA043 by
//! the `PerUserMfa` document, MFA035 and MFA044 by the `SecurityDefaults` document, MFA045 by
//! the `AuthenticationStrength`; MFA042 by its `ConditionalAccessPolicy`.

use serde::Serialize;
use serde_json::Value;

use crate::kinds::authentication_strength::DeclaredStrength;
use crate::kinds::conditional_access::DeclaredConditionalAccessPolicy;
use crate::kinds::methods_policy::{DeclaredMethod, DeclaredMethodsPolicy};
use crate::kinds::per_user_mfa::DeclaredPerUserMfa;
use crate::kinds::security_defaults::DeclaredSecurityDefaults;
use crate::msgraph::PerUserMfaState;
use crate::msgraph::modes::{combination_modes, mode_configurations};
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

/// Where per-user MFA is declared on (`enabled` or `enforced`), and what to say of it: its
/// `state`, or else its first exception that turns it on.
fn per_user_on(per_user: &DeclaredPerUserMfa) -> Option<(Location, String)> {
    match (per_user.state, &per_user.state_location) {
        (Some(state), Some(at)) if on(state) => {
            Some((at.clone(), format!("per-user MFA is `{}`", state.as_str())))
        }
        _ => {
            let e = per_user.exceptions.iter().find(|e| on(e.state))?;
            Some((
                e.location.clone(),
                format!(
                    "per-user MFA is `{}` for {}",
                    e.state.as_str(),
                    e.target.describe()
                ),
            ))
        }
    }
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
    let (at, what) = per_user_on(per_user)?;
    let finding = Finding::new(
        codes::PER_USER_WITH_DEFAULTS,
        Pos::new(at.line, at.column),
        format!(
            "{what} while security defaults are enabled at {}",
            defaults.location
        ),
    )
    .help("Microsoft recommends turning per-user MFA off when security defaults (or Conditional Access) require MFA: write `state: disabled` and drop the enabled/enforced exceptions, or turn security defaults off");
    Some((at, finding))
}

/// MFA043: per-user MFA left on in a set where an enabled Conditional Access policy
/// requires MFA (`mfa` or a strength). Per-user MFA prompts its users at every sign-in,
/// whatever a policy's conditions, and the seed documents say to turn it off once
/// Conditional Access (or security defaults) is in place. The finding's location is in the
/// `PerUserMfa` document, where MFA032's is.
pub(crate) fn per_user_with_policies(
    per_user: &DeclaredPerUserMfa,
    policies: &[DeclaredConditionalAccessPolicy],
) -> Option<(Location, Finding)> {
    let policy = policies.iter().find(|p| p.enabled() && p.requires_mfa())?;
    let (at, what) = per_user_on(per_user)?;
    let finding = Finding::new(
        codes::PER_USER_WITH_POLICY,
        Pos::new(at.line, at.column),
        format!(
            "{what} while the Conditional Access policy `{}` at {} requires MFA",
            policy.display_name, policy.location
        ),
    )
    .help(
        "Microsoft recommends that per-user MFA be neither enabled nor enforced where Conditional Access policies are in use: \
         it prompts at every sign-in, whatever the policies' conditions; once Conditional Access requires MFA of these users, \
         write `state: disabled` and drop the enabled/enforced exceptions (if per-user MFA must stay, silence this with \
         `mfactl.io/silence-MFA043: \"<reason>\"`)",
    );
    Some((at, finding))
}

/// Where a lint about security defaults declared off is reported, their `enabled: false`;
/// `None` when they are declared on, or when what the lint misses is `replaced`.
fn off_unless(defaults: &DeclaredSecurityDefaults, replaced: bool) -> Option<Pos> {
    let at = &defaults.location;
    (!defaults.is_enabled && !replaced).then(|| Pos::new(at.line, at.column))
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
        .any(|p| p.enabled() && p.requires_mfa_of_everyone())
        || per_user.and_then(|p| p.state).is_some_and(on);
    Some(
        Finding::new(
            codes::DEFAULTS_OFF_UNREPLACED,
            off_unless(defaults, replaced)?,
            "security defaults are declared off, and nothing declared requires MFA in their place: once applied, users who had to do MFA no longer must",
        )
        .help(
            "leave security defaults out of the policy set (they stay as the tenant has them), or declare what replaces them \
             (an enabled ConditionalAccessPolicy requiring MFA of All users for All resources, or PerUserMfa `state: enforced`); \
             if Conditional Access outside mfactl requires MFA, silence this with `mfactl.io/silence-MFA035: \"<reason>\"`",
        ),
    )
}

/// MFA044: security defaults declared off while no enabled Conditional Access policy
/// blocks legacy authentication. Security defaults block it; Microsoft's "Block legacy
/// authentication" policy is the one that replaces them (FACTS-CA items 11, 31, 37), so
/// turning them off without it lets clients that cannot do MFA sign in with a password
/// again. Reported at `SecurityDefaults`' `enabled: false`, where MFA035 is.
pub(crate) fn defaults_off_legacy_open(
    defaults: &DeclaredSecurityDefaults,
    policies: &[DeclaredConditionalAccessPolicy],
) -> Option<Finding> {
    let blocked = policies
        .iter()
        .any(|p| p.enabled() && p.blocks_legacy_authentication());
    Some(
        Finding::new(
            codes::LEGACY_AUTH_UNBLOCKED,
            off_unless(defaults, blocked)?,
            "security defaults are declared off, and no enabled Conditional Access policy blocks legacy authentication in their place: \
             once applied, clients that cannot do MFA (IMAP, POP, SMTP AUTH, older Exchange ActiveSync) sign in with a password alone",
        )
        .help(
            "declare an enabled ConditionalAccessPolicy like Microsoft's \"Block legacy authentication\": \
             `conditions: {users: {includeUsers: [All], excludeGroups: [Break Glass Accounts]}, applications: {includeApplications: [All]}, \
             clientAppTypes: [exchangeActiveSync, other]}` with `grantControls: {operator: OR, builtInControls: [block]}`; \
             if a policy outside mfactl blocks it, silence this with `mfactl.io/silence-MFA044: \"<reason>\"`",
        ),
    )
}

/// MFA045: a custom authentication strength that no one can satisfy through the declared
/// authentication methods policy: each of its allowed combinations has a mode whose every
/// method configuration ([`mode_configurations`]) is declared off (`disabled`, or enabled
/// for `includeTargets: []`). A policy requiring it then blocks everyone it applies to. A
/// method the declaration leaves out, or declares without a `state`, is whatever the tenant
/// holds, so it may be on: no finding. Modes no configuration governs (the password,
/// Windows Hello for Business, federated sign-in) and modes mfactl does not know count as
/// usable. The built-in strengths need no check: each allows `windowsHelloForBusiness`
/// (FACTS-CA item 6), which no method configuration governs. The finding's location is the
/// strength's `allowedCombinations`, in its own document.
pub(crate) fn unusable_strength(
    methods: &DeclaredMethodsPolicy,
    strength: &DeclaredStrength,
) -> Option<(Location, Finding)> {
    let off = |id: &str| {
        methods
            .methods
            .iter()
            .find(|m| m.id == id && m.usable() == Some(false))
    };
    // What stops a mode: every method configuration that offers it, each declared off.
    let stopping = |mode: &str| -> Option<Vec<&DeclaredMethod>> {
        let ids = mode_configurations(mode).filter(|ids| !ids.is_empty())?;
        ids.iter().map(|id| off(id)).collect()
    };
    let combinations = strength.properties.get("allowedCombinations")?.as_array()?;
    if combinations.is_empty() {
        return None;
    }
    let mut stops: Vec<&DeclaredMethod> = Vec::new();
    for combination in combinations.iter().filter_map(Value::as_str) {
        // A combination with no stopped mode can be used: no finding.
        for m in combination_modes(combination).find_map(stopping)? {
            if !stops.iter().any(|s| s.id == m.id) {
                stops.push(m);
            }
        }
    }
    let named: Vec<String> = stops
        .iter()
        .map(|m| format!("`{}` at {}", m.key, m.location))
        .collect();
    let at = strength.combinations_location.clone();
    let finding = Finding::new(
        codes::STRENGTH_UNUSABLE,
        Pos::new(at.line, at.column),
        format!(
            "no combination the strength `{}` allows can be used: each needs a method the authentication methods policy declares off ({})",
            strength.display_name,
            named.join(", ")
        ),
    )
    .help(
        "a Conditional Access policy requiring this strength would block everyone it applies to: \
         enable one of these methods in the AuthenticationMethodsPolicy, or allow a combination of methods that are on",
    );
    Some((at, finding))
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
    use crate::policy::codes;
    use crate::policy::testing::{
        assert_quiet, assert_silenced, codes_at, load_str, policy, silenced_at,
    };

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
            // (Security defaults off: per-user MFA replaces them, not their block of legacy
            // authentication, MFA044.)
            format!(
                "{}---\n{}",
                DEFAULTS_ON.replace("true", "false").replace(
                    "{name: sd}",
                    "{name: sd, annotations: {mfactl.io/silence-MFA044: app passwords are off}}"
                ),
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
        assert_silenced(
            &format!(
                "{DEFAULTS_ON}---\n{}",
                per_user(
                    "mfactl.io/silence-MFA032: NPS extension",
                    "  state: enforced\n"
                )
            ),
            &[(codes::PER_USER_WITH_DEFAULTS, 13, 3, "NPS extension")],
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
        let off = "apiVersion: mfactl/v1\nkind: SecurityDefaults\nmetadata: {name: sd, annotations: {mfactl.io/silence-MFA044: elsewhere}}\nspec:\n  enabled: false\n";
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

    /// A Conditional Access policy document (after `---`) for All users with a break-glass
    /// exclusion: `grant` is its grantControls, `more` adds to its conditions.
    fn ca(name: &str, state: &str, more: &str, grant: &str) -> String {
        format!(
            "---\napiVersion: mfactl/v1\nkind: ConditionalAccessPolicy\nmetadata: {{name: {name}}}\nspec:\n  state: {state}\n  conditions:\n    users: {{includeUsers: [All], excludeGroups: [Break Glass Accounts]}}\n    applications: {{includeApplications: [All]}}\n{more}  grantControls: {grant}\n"
        )
    }

    const MFA: &str = "{operator: OR, builtInControls: [mfa]}";
    const BLOCK: &str = "{operator: OR, builtInControls: [block]}";
    const LEGACY: &str = "    clientAppTypes: [exchangeActiveSync, other]\n";

    #[test]
    fn per_user_mfa_with_a_policy_requiring_mfa() {
        let enforced = per_user("", "  state: enforced\n");
        let out = load_str(&format!(
            "{enforced}{}",
            ca("MFA for all", "enabled", "", MFA)
        ));
        assert_eq!(codes_at(&out), [(codes::PER_USER_WITH_POLICY, 7, 3)]);
        assert!(out.set.is_some(), "a lint is a warning");
        assert_eq!(
            out.diagnostics[0].message,
            "per-user MFA is `enforced` while the Conditional Access policy `MFA for all` at mem.yaml:9:1 requires MFA"
        );
        assert!(
            out.diagnostics[0]
                .help
                .as_deref()
                .is_some_and(|h| h.contains("state: disabled"))
        );
        // An exception is enough, and so is a strength; the policy may come first.
        let strength = ca(
            "Strong for all",
            "enabled",
            "",
            "{authenticationStrength: 00000000-0000-0000-0000-000000000004}",
        );
        let exception = per_user(
            "",
            "  state: disabled\n  exceptions:\n    - group: Legacy VPN Users\n      state: enabled\n",
        );
        let exception = load_str(&format!(
            "{}---\n{exception}",
            strength.trim_start_matches("---\n")
        ));
        assert_eq!(codes_at(&exception), [(codes::PER_USER_WITH_POLICY, 19, 7)]);
        for quiet in [
            format!(
                "{enforced}{}",
                ca("Report only", "enabledForReportingButNotEnforced", "", MFA)
            ),
            format!("{enforced}{}", ca("Off", "disabled", "", MFA)),
            format!("{enforced}{}", ca("Blocked", "enabled", LEGACY, BLOCK)),
            format!(
                "{}{}",
                per_user("", "  state: disabled\n"),
                ca("MFA for all", "enabled", "", MFA)
            ),
        ] {
            assert_quiet(&quiet);
        }
        assert_silenced(
            &format!(
                "{}{}",
                per_user(
                    "mfactl.io/silence-MFA043: \"the NPS extension reads it\"",
                    "  state: enforced\n"
                ),
                ca("MFA for all", "enabled", "", MFA)
            ),
            &[(
                codes::PER_USER_WITH_POLICY,
                7,
                3,
                "the NPS extension reads it",
            )],
        );
    }

    #[test]
    fn security_defaults_off_without_a_policy_blocking_legacy_authentication() {
        let off = "apiVersion: mfactl/v1\nkind: SecurityDefaults\nmetadata: {name: sd}\nspec:\n  enabled: false\n";
        let alone = load_str(off);
        assert_eq!(
            codes_at(&alone),
            [
                (codes::DEFAULTS_OFF_UNREPLACED, 5, 3),
                (codes::LEGACY_AUTH_UNBLOCKED, 5, 3)
            ]
        );
        let help = alone.diagnostics[1].help.as_deref().unwrap_or_default();
        assert!(
            help.contains("clientAppTypes: [exchangeActiveSync, other]"),
            "{help}"
        );
        assert_quiet(&format!(
            "{off}{}{}",
            ca("MFA for all", "enabled", "", MFA),
            ca("Block legacy authentication", "enabled", LEGACY, BLOCK)
        ));
        for (state, more, grant) in [
            ("enabledForReportingButNotEnforced", LEGACY, BLOCK),
            ("enabled", "    clientAppTypes: [browser]\n", BLOCK),
            ("enabled", LEGACY, MFA),
        ] {
            let out = load_str(&format!(
                "{off}{}{}",
                ca("MFA for all", "enabled", "", MFA),
                ca("Legacy", state, more, grant)
            ));
            assert_eq!(
                codes_at(&out),
                [(codes::LEGACY_AUTH_UNBLOCKED, 5, 3)],
                "{state} {more} {grant}"
            );
        }
        // `other` alone is legacy authentication too.
        assert_quiet(&format!(
            "{off}{}{}",
            ca("MFA for all", "enabled", "", MFA),
            ca(
                "Block other clients",
                "enabled",
                "    clientAppTypes: [other]\n",
                BLOCK
            )
        ));
        let silenced = load_str(
            &off.replace(
                "{name: sd}",
                "{name: sd, annotations: {mfactl.io/silence-MFA044: \"blocked by a policy outside mfactl\"}}",
            ),
        );
        assert_eq!(
            codes_at(&silenced),
            [(codes::DEFAULTS_OFF_UNREPLACED, 5, 3)]
        );
        assert_eq!(
            silenced_at(&silenced),
            [(
                codes::LEGACY_AUTH_UNBLOCKED,
                5,
                3,
                "blocked by a policy outside mfactl"
            )]
        );
    }

    /// An AuthenticationMethodsPolicy declaring `methods` (its first method on line 7), then a
    /// strength whose `allowedCombinations` key is on line 15 when `methods` takes two lines.
    fn strength_with(annotations: &str, methods: &str, combinations: &str) -> String {
        format!(
            "{}---\napiVersion: mfactl/v1\nkind: AuthenticationStrength\nmetadata: {{name: Passkeys only, annotations: {{{annotations}}}}}\nspec:\n  allowedCombinations: {combinations}\n",
            policy("", &format!("  methods:\n{methods}"))
        )
    }

    const PASSKEYS_OFF: &str =
        "    fido2: {state: disabled}\n    x509Certificate: {state: enabled, includeTargets: []}\n";

    #[test]
    fn a_strength_whose_every_method_is_declared_off() {
        let out = load_str(&strength_with(
            "",
            PASSKEYS_OFF,
            "[fido2, x509CertificateMultiFactor]",
        ));
        assert_eq!(codes_at(&out), [(codes::STRENGTH_UNUSABLE, 15, 3)]);
        assert!(out.set.is_some(), "a lint is a warning");
        assert_eq!(
            out.diagnostics[0].message,
            "no combination the strength `Passkeys only` allows can be used: each needs a method the authentication methods policy declares off (`fido2` at mem.yaml:8:5, `x509Certificate` at mem.yaml:9:5)"
        );
        // A software OATH code needs both its configurations off.
        let oath =
            "    softwareOath: {state: disabled}\n    microsoftAuthenticator: {state: disabled}\n";
        let out = load_str(&strength_with("", oath, "[\"password, softwareOath\"]"));
        assert_eq!(codes_at(&out), [(codes::STRENGTH_UNUSABLE, 15, 3)]);
        for (methods, combinations) in [
            // Windows Hello for Business and federated sign-in need no method configuration.
            (PASSKEYS_OFF, "[fido2, windowsHelloForBusiness]"),
            (PASSKEYS_OFF, "[fido2, federatedMultiFactor]"),
            // A method left out, or declared without a state, may be on in the tenant.
            (PASSKEYS_OFF, "[fido2, \"password, sms\"]"),
            (
                "    fido2: {includeTargets: [{group: all_users}]}\n    sms: {state: disabled}\n",
                "[fido2]",
            ),
            (
                PASSKEYS_OFF.replace("disabled", "enabled").as_str(),
                "[fido2]",
            ),
            (
                "    softwareOath: {state: disabled}\n    sms: {state: disabled}\n",
                "[\"password, softwareOath\"]",
            ),
        ] {
            assert_quiet(&strength_with("", methods, combinations));
        }
    }

    #[test]
    fn a_strength_is_checked_only_against_a_declared_methods_policy() {
        let alone = "apiVersion: mfactl/v1\nkind: AuthenticationStrength\nmetadata: {name: Passkeys only}\nspec:\n  allowedCombinations: [fido2]\n";
        assert_quiet(alone);
        // A built-in strength always allows Windows Hello for Business.
        assert_quiet(&format!(
            "{}{}",
            policy("", &format!("  methods:\n{PASSKEYS_OFF}")),
            ca(
                "Phishing resistant",
                "enabled",
                "",
                "{authenticationStrength: 00000000-0000-0000-0000-000000000004}"
            )
        ));
        assert_silenced(
            &strength_with(
                "mfactl.io/silence-MFA045: \"passkeys are enabled next quarter\"",
                PASSKEYS_OFF,
                "[fido2]",
            ),
            &[(
                codes::STRENGTH_UNUSABLE,
                15,
                3,
                "passkeys are enabled next quarter",
            )],
        );
    }
}
