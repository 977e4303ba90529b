//! The service's documented rules (FACTS.md §3–§4) and mfactl's safety rules, checked on the
//! declared spec before anything is sent.
//!
//! Every rule looks only at what is declared: a value the YAML does not mention is unknown
//! here (it is whatever the tenant holds), so a rule fires only when the declaration alone
//! makes it certain.
//!
//! - **Target limit** (MFA015): systemCredentialPreferences takes at most one include and
//!   one exclude target.
//! - **Target conflict** (MFA016): in any include/exclude pair, the same id (and target
//!   type) on both sides. The "nobody" placeholder GUID is exempt.
//! - **Temporary Access Pass** (MFA017): defaultLength 8–48; each lifetime 10–43200 minutes;
//!   minimum ≤ maximum; the default lifetime within whichever bounds are declared.
//! - **Number matching** (MFA018): `numberMatchingRequiredState` may not be declared at all.
//! - **Snooze** (MFA019): registration campaign snoozeDurationInDays 0–14.
//! - **Campaign method** (MFA020): the registration campaign can target only
//!   microsoftAuthenticator.
//! - **Lockout** (MFA021) and **single method** (MFA022), both errors: when every built-in
//!   method able to satisfy MFA ([`MFA_CAPABLE`]) is declared with a `state`, the usable ones
//!   are counted: `state: enabled` and not `includeTargets: []`, plus every declared external
//!   method that is usable the same way. None usable locks everyone out of MFA; one usable
//!   leaves no fallback, and Entra requires at least two. If any MFA-capable method is left
//!   undeclared, its tenant state decides and nothing is certain, so neither rule fires.
//! - **Deprecated** (MFA023, warning): fido2 `isAttestationEnforced` and `keyRestrictions`
//!   (replaced by passkey profiles as of 2025-10-15).

use serde_json::Value;

use crate::msgraph::schema::is_guid;
use crate::source::diagnostic::{Finding, codes};
use crate::source::spec::{Spans, child};

/// Built-in methods that can satisfy an MFA prompt on their own, by `methods` key. Email OTP,
/// Temporary Access Pass (temporary by design), QR code + PIN and verifiable credentials are
/// not counted. Certificates count whatever their mode, so the lockout rule stays certain.
pub const MFA_CAPABLE: &[&str] = &[
    "fido2",
    "microsoftAuthenticator",
    "sms",
    "voice",
    "softwareOath",
    "hardwareOath",
    "x509Certificate",
];

/// The "nobody" placeholder id used in featureSettings targets.
const NOBODY: &str = "00000000-0000-0000-0000-000000000000";

/// Checks the declared spec (properties plus `methods`, keyed as in the YAML).
pub(crate) fn check(spec: &Value, spans: &Spans, methods_pointer: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    system_credential_limits(spec, spans, &mut out);
    conflicts(spec, "", spans, &mut out);
    temporary_access_pass(spec, spans, &mut out);
    number_matching(spec, spans, &mut out);
    registration_campaign(spec, spans, &mut out);
    lockout(spec, spans, methods_pointer, &mut out);
    deprecated(spec, spans, &mut out);
    out
}

fn system_credential_limits(spec: &Value, spans: &Spans, out: &mut Vec<Finding>) {
    for (list, what) in [("includeTargets", "include"), ("excludeTargets", "exclude")] {
        let Some(items) = spec["systemCredentialPreferences"][list].as_array() else {
            continue;
        };
        if items.len() > 1 {
            let pointer = format!("/systemCredentialPreferences/{list}/1");
            out.push(
                Finding::new(
                    codes::TARGET_LIMIT,
                    spans.key(&pointer),
                    format!(
                        "systemCredentialPreferences takes one {what} target; {} are declared",
                        items.len()
                    ),
                )
                .help("Microsoft allows one group here: use a single (nested or dynamic) group"),
            );
        }
    }
}

fn target_key(target: &Value) -> Option<(String, String)> {
    let id = target["id"].as_str()?;
    if id == NOBODY {
        return None;
    }
    let kind = target["targetType"].as_str().unwrap_or("group");
    Some((kind.to_string(), id.to_lowercase()))
}

fn conflicts(value: &Value, pointer: &str, spans: &Spans, out: &mut Vec<Finding>) {
    match value {
        Value::Object(map) => {
            for (include, exclude) in [
                ("includeTargets", "excludeTargets"),
                ("includeTarget", "excludeTarget"),
            ] {
                // (pointer, target) of each target under `key`, borrowed.
                let as_list = |key: &str| -> Vec<(String, &Value)> {
                    match map.get(key) {
                        Some(Value::Array(items)) => items
                            .iter()
                            .enumerate()
                            .map(|(i, t)| (format!("{}/{i}", child(pointer, key)), t))
                            .collect(),
                        Some(t @ Value::Object(_)) => vec![(child(pointer, key), t)],
                        _ => Vec::new(),
                    }
                };
                // A set, so that long include and exclude lists cost their lengths, not
                // their product.
                let included: std::collections::HashSet<(String, String)> = as_list(include)
                    .into_iter()
                    .filter_map(|(_, t)| target_key(t))
                    .collect();
                for (at, target) in as_list(exclude) {
                    let Some(key) = target_key(target) else {
                        continue;
                    };
                    if included.contains(&key) {
                        let id_pointer = format!("{at}/id");
                        out.push(
                            Finding::new(
                                codes::TARGET_CONFLICT,
                                spans.key(&id_pointer),
                                format!(
                                    "{} `{}` is both included and excluded",
                                    key.0,
                                    target["id"].as_str().unwrap_or_default()
                                ),
                            )
                            .help(
                                "exclusion wins, so the include has no effect: remove one of them",
                            ),
                        );
                    }
                }
            }
            for (key, v) in map {
                conflicts(v, &child(pointer, key), spans, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                conflicts(v, &format!("{pointer}/{i}"), spans, out);
            }
        }
        _ => {}
    }
}

fn temporary_access_pass(spec: &Value, spans: &Spans, out: &mut Vec<Finding>) {
    let tap = &spec["methods"]["temporaryAccessPass"];
    let base = "/methods/temporaryAccessPass";
    let int = |k: &str| tap[k].as_i64();
    let at = |k: &str| spans.value(&format!("{base}/{k}"));
    if let Some(len) = int("defaultLength")
        && !(8..=48).contains(&len)
    {
        out.push(
            Finding::new(
                codes::TAP_LIMITS,
                at("defaultLength"),
                format!("defaultLength is {len}; a Temporary Access Pass has 8 to 48 characters"),
            )
            .help("choose a length from 8 to 48"),
        );
    }
    let mut in_range = |k: &str| match int(k) {
        Some(v) if !(10..=43_200).contains(&v) => {
            out.push(
                Finding::new(
                    codes::TAP_LIMITS,
                    at(k),
                    format!("{k} is {v}; lifetimes are 10 to 43200 minutes (30 days)"),
                )
                .help("choose a lifetime from 10 to 43200 minutes"),
            );
            None
        }
        other => other,
    };
    let min = in_range("minimumLifetimeInMinutes");
    let max = in_range("maximumLifetimeInMinutes");
    let default = in_range("defaultLifetimeInMinutes");
    if let (Some(min), Some(max)) = (min, max)
        && min > max
    {
        out.push(
            Finding::new(
                codes::TAP_LIMITS,
                at("minimumLifetimeInMinutes"),
                format!("minimumLifetimeInMinutes ({min}) is greater than maximumLifetimeInMinutes ({max})"),
            )
            .help("swap them, or lower the minimum"),
        );
        return;
    }
    if let Some(d) = default {
        let below = min
            .filter(|m| d < *m)
            .map(|m| format!("below minimumLifetimeInMinutes ({m})"));
        let above = max
            .filter(|m| d > *m)
            .map(|m| format!("above maximumLifetimeInMinutes ({m})"));
        if let Some(why) = below.or(above) {
            out.push(
                Finding::new(
                    codes::TAP_LIMITS,
                    at("defaultLifetimeInMinutes"),
                    format!("defaultLifetimeInMinutes ({d}) is {why}"),
                )
                .help("the default lifetime must lie between the minimum and the maximum"),
            );
        }
    }
}

fn number_matching(spec: &Value, spans: &Spans, out: &mut Vec<Finding>) {
    let Some(methods) = spec["methods"].as_object() else {
        return;
    };
    for (key, method) in methods {
        if method["featureSettings"]
            .get("numberMatchingRequiredState")
            .is_some()
        {
            let pointer = format!(
                "{}/featureSettings/numberMatchingRequiredState",
                child("/methods", key)
            );
            out.push(
                Finding::new(
                    codes::NUMBER_MATCHING,
                    spans.key(&pointer),
                    "numberMatchingRequiredState cannot be declared: Microsoft refuses to toggle number matching",
                )
                .help("remove it: number matching is always on"),
            );
        }
    }
}

fn registration_campaign(spec: &Value, spans: &Spans, out: &mut Vec<Finding>) {
    let base = "/registrationEnforcement/authenticationMethodsRegistrationCampaign";
    let campaign = &spec["registrationEnforcement"]["authenticationMethodsRegistrationCampaign"];
    if let Some(days) = campaign["snoozeDurationInDays"].as_i64()
        && !(0..=14).contains(&days)
    {
        out.push(
            Finding::new(
                codes::SNOOZE_RANGE,
                spans.value(&format!("{base}/snoozeDurationInDays")),
                format!("snoozeDurationInDays is {days}; the campaign allows 0 to 14 days"),
            )
            .help("choose 0 (prompt at every sign-in) to 14"),
        );
    }
    for (i, target) in campaign["includeTargets"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        if let Some(method) = target["targetedAuthenticationMethod"].as_str()
            && !method.eq_ignore_ascii_case("microsoftAuthenticator")
        {
            out.push(
                Finding::new(
                    codes::CAMPAIGN_METHOD,
                    spans.value(&format!("{base}/includeTargets/{i}/targetedAuthenticationMethod")),
                    format!("the registration campaign cannot target `{method}`"),
                )
                .help("only microsoftAuthenticator can be targeted: write `targetedAuthenticationMethod: microsoftAuthenticator`"),
            );
        }
    }
}

/// Whether a method declared with this `state` and these `includeTargets` is usable:
/// `state: enabled` and not `includeTargets: []`.
pub(crate) fn usable(state: &Value, include_targets: &Value) -> bool {
    state == "enabled" && include_targets.as_array().is_none_or(|t| !t.is_empty())
}

fn lockout(spec: &Value, spans: &Spans, methods_pointer: &str, out: &mut Vec<Finding>) {
    let Some(methods) = spec["methods"].as_object() else {
        return;
    };
    let all_declared = MFA_CAPABLE
        .iter()
        .all(|k| methods.get(*k).is_some_and(|m| m["state"].is_string()));
    if !all_declared {
        return;
    }
    let usable: Vec<&str> = methods
        .iter()
        .filter(|(k, m)| {
            (MFA_CAPABLE.contains(&k.as_str()) || is_guid(k))
                && usable(&m["state"], &m["includeTargets"])
        })
        .map(|(k, _)| k.as_str())
        .collect();
    let at = spans.key(methods_pointer);
    match usable.as_slice() {
        [] => out.push(
            Finding::new(
                codes::LOCKOUT,
                at,
                "no method able to satisfy MFA is enabled for anyone: every user would be locked out of MFA",
            )
            .help(format!("enable at least one of {}, ideally two", MFA_CAPABLE.join(", "))),
        ),
        [only] => out.push(
            Finding::new(
                codes::SINGLE_METHOD,
                at,
                format!("`{only}` is the only method able to satisfy MFA that is enabled; Entra requires at least two"),
            )
            .help("enable a second MFA-capable method so that users have a fallback"),
        ),
        _ => {}
    }
}

fn deprecated(spec: &Value, spans: &Spans, out: &mut Vec<Finding>) {
    for key in ["isAttestationEnforced", "keyRestrictions"] {
        if spec["methods"]["fido2"].get(key).is_some() {
            out.push(
                Finding::new(
                    codes::DEPRECATED,
                    spans.key(&format!("/methods/fido2/{key}")),
                    format!("fido2 `{key}` is deprecated since 2025-10-15 and stops working on 2027-10-15"),
                )
                .help("use passkey profiles (passkeyProfiles and defaultPasskeyProfile) instead"),
            );
        }
    }
}
