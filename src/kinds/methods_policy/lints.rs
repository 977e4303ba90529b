//! The lints of an `AuthenticationMethodsPolicy` (MFA027–MFA031): legal settings that
//! weaken MFA, described in `crate::policy::lints`, where silencing is.

use serde_json::Value;

use crate::source::diagnostic::{Finding, codes};
use crate::source::spec::Spans;

/// The lints of an `AuthenticationMethodsPolicy` spec (properties plus `methods`, keyed as in
/// the YAML).
pub(crate) fn check(spec: &Value, spans: &Spans) -> Vec<Finding> {
    let mut out = Vec::new();
    sms_sign_in(spec, spans, &mut out);
    voice(spec, spans, &mut out);
    system_preferred(spec, spans, &mut out);
    campaign(spec, spans, &mut out);
    out
}

fn sms_sign_in(spec: &Value, spans: &Spans, out: &mut Vec<Finding>) {
    let sms = &spec["methods"]["sms"];
    if sms["state"] != "enabled" {
        return;
    }
    let help = "EIDSCA.AS04 recommends `isUsableForSignIn: false` on every SMS include target: \
                SMS stays a second factor but no longer replaces the password";
    for (i, target) in sms["includeTargets"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let base = format!("/methods/sms/includeTargets/{i}");
        let who = target["id"].as_str().unwrap_or("the target");
        match target.get("isUsableForSignIn") {
            Some(Value::Bool(false)) => {}
            Some(_) => out.push(
                Finding::new(
                    codes::SMS_SIGN_IN,
                    spans.value(&format!("{base}/isUsableForSignIn")),
                    format!("SMS is enabled as a way to sign in for `{who}`"),
                )
                .help(help),
            ),
            None => out.push(
                Finding::new(
                    codes::SMS_SIGN_IN,
                    spans.key(&base),
                    format!(
                        "SMS is enabled for `{who}` without `isUsableForSignIn: false`, and Graph's default is true: a text message alone signs in"
                    ),
                )
                .help(help),
            ),
        }
    }
}

fn voice(spec: &Value, spans: &Spans, out: &mut Vec<Finding>) {
    let voice = &spec["methods"]["voice"];
    let nobody = voice["includeTargets"]
        .as_array()
        .is_some_and(Vec::is_empty);
    if voice["state"] == "enabled" && !nobody {
        out.push(
            Finding::new(
                codes::VOICE_ENABLED,
                spans.value("/methods/voice/state"),
                "voice calls are enabled as a second factor: telephony is the weakest factor and has no number matching",
            )
            .help("EIDSCA.AV01 recommends voice `state: disabled`; prefer Microsoft Authenticator (number matching) or passkeys"),
        );
    }
}

fn system_preferred(spec: &Value, spans: &Spans, out: &mut Vec<Finding>) {
    let prefs = &spec["systemCredentialPreferences"];
    let base = "/systemCredentialPreferences";
    match prefs["state"].as_str() {
        Some("disabled") => out.push(
            Finding::new(
                codes::SYSTEM_PREFERRED_OFF,
                spans.value(&format!("{base}/state")),
                "system-preferred MFA is disabled: users are prompted with their default method, however weak",
            )
            .help("Microsoft recommends system-preferred MFA (no EIDSCA control covers it): write `state: enabled` with `includeTargets: [{group: all_users}]` and a break-glass group in excludeTargets"),
        ),
        Some(state @ ("enabled" | "default")) => {
            let help = "exclude the emergency-access (break-glass) accounts, as Microsoft's emergency access guidance recommends (no EIDSCA control covers it): `excludeTargets: [{group: Break Glass Accounts}]`";
            match prefs.get("excludeTargets") {
                None => out.push(
                    Finding::new(
                        codes::NO_BREAK_GLASS,
                        spans.key(&format!("{base}/state")),
                        format!("system-preferred MFA is `{state}` and no excludeTargets is declared for break-glass accounts"),
                    )
                    .help(help),
                ),
                Some(Value::Array(items)) if items.is_empty() => out.push(
                    Finding::new(
                        codes::NO_BREAK_GLASS,
                        spans.key(&format!("{base}/excludeTargets")),
                        format!("system-preferred MFA is `{state}` and excludes nobody: break-glass accounts are not exempt"),
                    )
                    .help(help),
                ),
                Some(_) => {}
            }
        }
        _ => {}
    }
}

fn campaign(spec: &Value, spans: &Spans, out: &mut Vec<Finding>) {
    let campaign = &spec["registrationEnforcement"]["authenticationMethodsRegistrationCampaign"];
    if campaign["state"] == "disabled" {
        out.push(
            Finding::new(
                codes::CAMPAIGN_OFF,
                spans.value("/registrationEnforcement/authenticationMethodsRegistrationCampaign/state"),
                "the registration campaign is disabled: users without Microsoft Authenticator are never asked to register it",
            )
            .help("Microsoft recommends the campaign to move users off SMS and voice (no EIDSCA control covers it): write `state: enabled` with `includeTargets: [{group: all_users, targetedAuthenticationMethod: microsoftAuthenticator}]`"),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::policy::testing::{codes_at, load_str, policy};
    use crate::policy::{LoadOutcome, codes};

    fn lint(spec: &str) -> LoadOutcome {
        load_str(&policy("", spec))
    }

    const SMS: &str = "  methods:\n    sms:\n      state: enabled\n      includeTargets:\n";

    #[test]
    fn sms_usable_for_sign_in() {
        let explicit = lint(&format!(
            "{SMS}        - group: all_users\n          isUsableForSignIn: true\n"
        ));
        assert_eq!(codes_at(&explicit), [(codes::SMS_SIGN_IN, 12, 30)]);
        assert!(explicit.set.is_some(), "a lint is a warning");
        let help = explicit.diagnostics[0].help.as_deref().unwrap();
        assert!(help.contains("EIDSCA.AS04"), "{help}");

        let by_default = lint(&format!(
            "{SMS}        - group: all_users\n          isUsableForSignIn: false\n        - group: Frontline Workers\n"
        ));
        assert_eq!(codes_at(&by_default), [(codes::SMS_SIGN_IN, 13, 11)]);
        assert!(
            by_default.diagnostics[0]
                .message
                .contains("`Frontline Workers`")
        );

        for quiet in [
            format!("{SMS}        - group: all_users\n          isUsableForSignIn: false\n"),
            // Disabled, or enabled for nobody, or with the tenant's own targets (unmanaged).
            "  methods:\n    sms:\n      state: disabled\n      includeTargets: [{group: all_users}]\n"
                .to_string(),
            format!("{SMS}        []\n").replace(":\n        []", ": []"),
            "  methods:\n    sms:\n      state: enabled\n".to_string(),
            "  methods:\n    sms:\n      includeTargets: [{group: all_users}]\n".to_string(),
        ] {
            let out = lint(&quiet);
            assert!(out.diagnostics.is_empty(), "{quiet}\n{:?}", out.diagnostics);
        }
    }

    #[test]
    fn voice_enabled() {
        let out = lint("  methods:\n    voice:\n      state: enabled\n");
        assert_eq!(codes_at(&out), [(codes::VOICE_ENABLED, 9, 14)]);
        assert!(
            out.diagnostics[0]
                .help
                .as_deref()
                .unwrap()
                .contains("EIDSCA.AV01")
        );
        for quiet in [
            "  methods:\n    voice:\n      state: disabled\n",
            "  methods:\n    voice:\n      state: enabled\n      includeTargets: []\n",
            "  methods:\n    voice:\n      isOfficePhoneAllowed: true\n",
        ] {
            assert!(lint(quiet).diagnostics.is_empty(), "{quiet}");
        }
    }

    #[test]
    fn system_preferred_mfa_disabled() {
        let out = lint("  systemCredentialPreferences:\n    state: disabled\n");
        assert_eq!(codes_at(&out), [(codes::SYSTEM_PREFERRED_OFF, 8, 12)]);
        let quiet = lint(
            "  systemCredentialPreferences:\n    state: enabled\n    excludeTargets: [{group: Break Glass Accounts}]\n",
        );
        assert!(quiet.diagnostics.is_empty(), "{:?}", quiet.diagnostics);
    }

    #[test]
    fn no_break_glass_exclusion() {
        let missing = lint(
            "  systemCredentialPreferences:\n    state: enabled\n    includeTargets: [{group: all_users}]\n",
        );
        assert_eq!(codes_at(&missing), [(codes::NO_BREAK_GLASS, 8, 5)]);
        let empty =
            lint("  systemCredentialPreferences:\n    state: default\n    excludeTargets: []\n");
        assert_eq!(codes_at(&empty), [(codes::NO_BREAK_GLASS, 9, 5)]);
        assert!(empty.diagnostics[0].message.contains("`default`"));
        for quiet in [
            "  systemCredentialPreferences:\n    excludeTargets: []\n",
            "  systemCredentialPreferences:\n    includeTargets: [{group: all_users}]\n",
            "  systemCredentialPreferences:\n    state: default\n    excludeTargets: [{user: bg1@contoso.com}]\n",
        ] {
            assert!(lint(quiet).diagnostics.is_empty(), "{quiet}");
        }
    }

    #[test]
    fn registration_campaign_off() {
        let campaign = "  registrationEnforcement:\n    authenticationMethodsRegistrationCampaign:\n      state: ";
        let out = lint(&format!("{campaign}disabled\n"));
        assert_eq!(codes_at(&out), [(codes::CAMPAIGN_OFF, 9, 14)]);
        for state in ["enabled", "default"] {
            assert!(lint(&format!("{campaign}{state}\n")).diagnostics.is_empty());
        }
        let undeclared = "  registrationEnforcement:\n    authenticationMethodsRegistrationCampaign:\n      snoozeDurationInDays: 1\n";
        assert!(lint(undeclared).diagnostics.is_empty());
    }
}
