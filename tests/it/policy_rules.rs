//! The authentication methods policy's validation rules and write semantics (FACTS.md §2–§5,
//! §8, §11), one focused test each. Every rejection is checked for its status, its error code
//! and message, and — read back through the API — for leaving the stored state untouched.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{self, EXAMPLE_GROUPS, Harness, Reply, error_code};

const POLICY: &str = "/v1.0/policies/authenticationMethodsPolicy";
const BETA_POLICY: &str = "/beta/policies/authenticationMethodsPolicy";
const SECURITY_DEFAULTS: &str = "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy";
const PREFER_ALL_ENUMS: (&str, &str) = ("prefer", "include-unknown-enum-members");
/// FACTS.md §3, verbatim (the misspelling is the service's).
const NUMBER_MATCHING_MESSAGE: &str = "Persistance of policy failed with error: Microsoft Authenticator's number matching feature can no longer be toggled as part of featureSettings.";
/// A well-formed group id that names no group of the harness tenant.
const MISSING_GROUP: &str = "5b3a1c2e-9d4f-4e6a-8b7c-0a1b2c3d4e5f";

const SMS: &str = "#microsoft.graph.smsAuthenticationMethodConfiguration";
const TAP: &str = "#microsoft.graph.temporaryAccessPassAuthenticationMethodConfiguration";
const AUTHENTICATOR: &str =
    "#microsoft.graph.microsoftAuthenticatorAuthenticationMethodConfiguration";
const X509: &str = "#microsoft.graph.x509CertificateAuthenticationMethodConfiguration";
const FIDO2: &str = "#microsoft.graph.fido2AuthenticationMethodConfiguration";

fn config(id: &str) -> String {
    format!("{POLICY}/authenticationMethodConfigurations/{id}")
}

fn group() -> &'static str {
    EXAMPLE_GROUPS[0]
}

async fn send(
    h: &Harness,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> Reply {
    let mut req = h.http.request(method, h.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    common::reply(req.send().await.expect("request sent")).await
}

/// Everything a write here could change, read back through the API: the whole policy (beta,
/// so that beta-only settings are included, with evolvable enum members shown) and security
/// defaults.
async fn snapshot(h: &Harness, token: &str) -> Value {
    let policy = send(
        h,
        Method::GET,
        BETA_POLICY,
        Some(token),
        None,
        &[PREFER_ALL_ENUMS],
    )
    .await;
    assert_eq!(policy.status, 200, "{}", policy.body);
    let sd = h.get(SECURITY_DEFAULTS, token).await;
    assert_eq!(sd.status, 200, "{}", sd.body);
    json!({"policy": policy.body, "securityDefaults": sd.body})
}

/// Sends a write that must be refused, and checks status, `error.code`, a fragment of
/// `error.message`, and that nothing changed. Returns the reply for further checks.
#[allow(clippy::too_many_arguments)]
async fn assert_refused(
    h: &Harness,
    token: Option<&str>,
    method: Method,
    path: &str,
    body: Option<&Value>,
    status: u16,
    code: &str,
    fragment: &str,
) -> Reply {
    let reader = h.reader_token().await;
    let before = snapshot(h, &reader).await;
    let r = send(h, method.clone(), path, token, body, &[]).await;
    let what = format!(
        "{method} {path} {}",
        body.map(Value::to_string).unwrap_or_default()
    );
    assert_eq!(r.status.as_u16(), status, "{what}: {}", r.body);
    assert_eq!(error_code(&r), code, "{what}: {}", r.body);
    let message = r.body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(fragment),
        "{what}: message {message:?} lacks {fragment:?}"
    );
    assert_eq!(
        snapshot(h, &reader).await,
        before,
        "{what}: a refused write changed the stored state"
    );
    r
}

/// A PATCH that must be refused with 400 `BadRequest`.
async fn assert_bad_patch(h: &Harness, w: &str, path: &str, body: Value, fragment: &str) -> Reply {
    assert_refused(
        h,
        Some(w),
        Method::PATCH,
        path,
        Some(&body),
        400,
        "BadRequest",
        fragment,
    )
    .await
}

/// A PATCH that must succeed (204 for a configuration, 200 for the policy).
async fn assert_patched(h: &Harness, w: &str, path: &str, body: Value) {
    let r = h.patch(path, w, &body).await;
    let expected = if path.contains("/authenticationMethodConfigurations/") {
        204
    } else {
        200
    };
    assert_eq!(
        r.status.as_u16(),
        expected,
        "PATCH {path} {body}: {}",
        r.body
    );
}

async fn get_ok(h: &Harness, path: &str, token: &str) -> Value {
    let r = h.get(path, token).await;
    assert_eq!(r.status, 200, "GET {path}: {}", r.body);
    r.body
}

async fn setup() -> (Harness, String) {
    let h = Harness::small().await;
    let w = h.writer_token().await;
    (h, w)
}

// ---------------------------------------------------------------------------------------------
// Validation rules

#[tokio::test]
async fn configuration_patch_without_odata_type_is_refused() {
    let (h, w) = setup().await;
    assert_bad_patch(
        &h,
        &w,
        &config("sms"),
        json!({"state": "enabled"}),
        "'@odata.type'",
    )
    .await;
}

#[tokio::test]
async fn configuration_patch_with_another_methods_odata_type_is_refused() {
    let (h, w) = setup().await;
    assert_bad_patch(
        &h,
        &w,
        &config("sms"),
        json!({"@odata.type": FIDO2, "state": "enabled"}),
        "does not match",
    )
    .await;
}

#[tokio::test]
async fn unknown_property_is_refused() {
    let (h, w) = setup().await;
    assert_bad_patch(
        &h,
        &w,
        &config("sms"),
        json!({"@odata.type": SMS, "stat": "enabled"}),
        "'stat' does not exist",
    )
    .await;
    assert_bad_patch(
        &h,
        &w,
        POLICY,
        json!({"registrationEnforcement": {"campaign": {}}}),
        "'campaign' does not exist",
    )
    .await;
}

#[tokio::test]
async fn unknown_enum_values_are_refused() {
    let (h, w) = setup().await;
    // authenticationMethodState
    assert_bad_patch(
        &h,
        &w,
        &config("sms"),
        json!({"@odata.type": SMS, "state": "on"}),
        "'on'",
    )
    .await;
    // microsoftAuthenticatorAuthenticationMode, inside an include target
    let body = json!({"@odata.type": AUTHENTICATOR, "includeTargets": [
        {"id": "all_users", "targetType": "group", "authenticationMode": "passwordless"}
    ]});
    assert_bad_patch(
        &h,
        &w,
        &config("microsoftAuthenticator"),
        body,
        "'passwordless'",
    )
    .await;
    // authenticationMethodTargetType, inside an exclude target
    let body =
        json!({"@odata.type": SMS, "excludeTargets": [{"id": group(), "targetType": "device"}]});
    assert_bad_patch(&h, &w, &config("sms"), body, "'device'").await;
}

#[tokio::test]
async fn null_in_a_non_nullable_property_is_refused() {
    let (h, w) = setup().await;
    let body =
        json!({"@odata.type": SMS, "includeTargets": [{"id": "all_users", "targetType": null}]});
    assert_bad_patch(&h, &w, &config("sms"), body, "does not allow null values").await;
    // crlValidationConfiguration is Nullable="false" in the v1.0 CSDL.
    let body = json!({"@odata.type": X509, "crlValidationConfiguration": null});
    assert_bad_patch(
        &h,
        &w,
        &config("x509Certificate"),
        body,
        "does not allow null values",
    )
    .await;
    let body = json!({"registrationEnforcement": {"authenticationMethodsRegistrationCampaign": {"snoozeDurationInDays": null}}});
    assert_bad_patch(&h, &w, POLICY, body, "does not allow null values").await;
}

#[tokio::test]
async fn system_credential_preferences_take_one_include_and_one_exclude_target() {
    let (h, w) = setup().await;
    let scp = |include: Value, exclude: Value| json!({"systemCredentialPreferences": {"state": "enabled", "includeTargets": include, "excludeTargets": exclude}});
    let one = |id: &str| json!({"id": id, "targetType": "group"});
    let two_includes = scp(json!([one("all_users"), one(EXAMPLE_GROUPS[1])]), json!([]));
    assert_bad_patch(&h, &w, POLICY, two_includes, "only one include target").await;
    let two_excludes = scp(
        json!([one("all_users")]),
        json!([one(EXAMPLE_GROUPS[1]), one(EXAMPLE_GROUPS[2])]),
    );
    assert_bad_patch(&h, &w, POLICY, two_excludes, "only one exclude target").await;
    // One of each is the documented maximum.
    assert_patched(
        &h,
        &w,
        POLICY,
        scp(json!([one("all_users")]), json!([one(EXAMPLE_GROUPS[1])])),
    )
    .await;
    let got = get_ok(&h, POLICY, &w).await;
    assert_eq!(
        got["systemCredentialPreferences"]["excludeTargets"],
        json!([one(EXAMPLE_GROUPS[1])])
    );
}

#[tokio::test]
async fn number_matching_cannot_be_toggled_but_may_be_sent_unchanged() {
    let (h, w) = setup().await;
    let path = config("microsoftAuthenticator");
    let current = get_ok(&h, &path, &w).await["featureSettings"].clone();
    assert_eq!(
        current["numberMatchingRequiredState"]["state"], "enabled",
        "{current}"
    );

    let mut toggled = current.clone();
    toggled["numberMatchingRequiredState"]["state"] = json!("disabled");
    let r = assert_bad_patch(
        &h,
        &w,
        &path,
        json!({"@odata.type": AUTHENTICATOR, "featureSettings": toggled}),
        "number matching",
    )
    .await;
    assert_eq!(r.body["error"]["message"], NUMBER_MATCHING_MESSAGE);
    // Any change counts, not only its state.
    let mut retargeted = current.clone();
    retargeted["numberMatchingRequiredState"]["includeTarget"] =
        json!({"targetType": "group", "id": group()});
    let r = assert_bad_patch(
        &h,
        &w,
        &path,
        json!({"@odata.type": AUTHENTICATOR, "featureSettings": retargeted}),
        "number matching",
    )
    .await;
    assert_eq!(r.body["error"]["message"], NUMBER_MATCHING_MESSAGE);

    // Sent unchanged (as a client merging from the live value does), it is accepted.
    let mut merged = current.clone();
    merged["displayLocationInformationRequiredState"]["state"] = json!("enabled");
    assert_patched(
        &h,
        &w,
        &path,
        json!({"@odata.type": AUTHENTICATOR, "featureSettings": merged}),
    )
    .await;
    let got = get_ok(&h, &path, &w).await["featureSettings"].clone();
    assert_eq!(got, merged);
}

#[tokio::test]
async fn temporary_access_pass_default_length_is_8_to_48() {
    let (h, w) = setup().await;
    let path = config("temporaryAccessPass");
    for bad in [7, 49] {
        assert_bad_patch(
            &h,
            &w,
            &path,
            json!({"@odata.type": TAP, "defaultLength": bad}),
            "defaultLength",
        )
        .await;
    }
    for good in [8, 48] {
        assert_patched(
            &h,
            &w,
            &path,
            json!({"@odata.type": TAP, "defaultLength": good}),
        )
        .await;
        assert_eq!(get_ok(&h, &path, &w).await["defaultLength"], good);
    }
}

#[tokio::test]
async fn temporary_access_pass_lifetimes_are_10_to_43200_minutes() {
    let (h, w) = setup().await;
    let path = config("temporaryAccessPass");
    // Fresh tenant: minimum 60, default 60, maximum 480.
    let cases = [
        (
            json!({"minimumLifetimeInMinutes": 9, "defaultLifetimeInMinutes": 60}),
            "minimumLifetimeInMinutes",
        ),
        (
            json!({"maximumLifetimeInMinutes": 43201}),
            "maximumLifetimeInMinutes",
        ),
        (
            json!({"minimumLifetimeInMinutes": 9, "maximumLifetimeInMinutes": 9, "defaultLifetimeInMinutes": 9}),
            "LifetimeInMinutes",
        ),
        (
            json!({"maximumLifetimeInMinutes": 50000, "defaultLifetimeInMinutes": 45000}),
            "LifetimeInMinutes",
        ),
    ];
    for (mut bad, fragment) in cases {
        bad["@odata.type"] = json!(TAP);
        assert_bad_patch(&h, &w, &path, bad, fragment).await;
    }
    let edges = json!({"@odata.type": TAP, "minimumLifetimeInMinutes": 10, "defaultLifetimeInMinutes": 10, "maximumLifetimeInMinutes": 43200});
    assert_patched(&h, &w, &path, edges).await;
    let got = get_ok(&h, &path, &w).await;
    assert_eq!(
        (
            got["minimumLifetimeInMinutes"].clone(),
            got["maximumLifetimeInMinutes"].clone()
        ),
        (json!(10), json!(43200))
    );
}

#[tokio::test]
async fn temporary_access_pass_default_lifetime_lies_between_minimum_and_maximum() {
    let (h, w) = setup().await;
    let path = config("temporaryAccessPass");
    // Fresh tenant: minimum 60, maximum 480.
    for bad in [59, 481] {
        let body = json!({"@odata.type": TAP, "defaultLifetimeInMinutes": bad});
        assert_bad_patch(&h, &w, &path, body, "defaultLifetimeInMinutes").await;
    }
    // Checked against the limits the write leaves, not the stored ones.
    let shrink_past_default = json!({"@odata.type": TAP, "defaultLifetimeInMinutes": 200, "maximumLifetimeInMinutes": 100});
    assert_bad_patch(
        &h,
        &w,
        &path,
        shrink_past_default,
        "defaultLifetimeInMinutes",
    )
    .await;
    let shrink = json!({"@odata.type": TAP, "maximumLifetimeInMinutes": 100});
    assert_patched(&h, &w, &path, shrink).await;
    let stored_default_above_max = json!({"@odata.type": TAP, "maximumLifetimeInMinutes": 59});
    assert_bad_patch(&h, &w, &path, stored_default_above_max, "LifetimeInMinutes").await;
    for good in [60, 100] {
        assert_patched(
            &h,
            &w,
            &path,
            json!({"@odata.type": TAP, "defaultLifetimeInMinutes": good}),
        )
        .await;
        assert_eq!(
            get_ok(&h, &path, &w).await["defaultLifetimeInMinutes"],
            good
        );
    }
}

#[tokio::test]
async fn temporary_access_pass_minimum_lifetime_does_not_exceed_maximum() {
    let (h, w) = setup().await;
    let body = json!({"@odata.type": TAP, "minimumLifetimeInMinutes": 500, "maximumLifetimeInMinutes": 400, "defaultLifetimeInMinutes": 450});
    assert_bad_patch(
        &h,
        &w,
        &config("temporaryAccessPass"),
        body,
        "minimumLifetimeInMinutes",
    )
    .await;
}

#[tokio::test]
async fn read_only_policy_properties_are_refused() {
    let (h, w) = setup().await;
    for (prop, value) in [
        ("policyVersion", json!("9.9")),
        ("lastModifiedDateTime", json!("2020-01-01T00:00:00Z")),
        ("displayName", json!("Renamed")),
        ("description", json!("Changed")),
        ("id", json!("anotherPolicy")),
    ] {
        // Alongside a legitimate change, which must not be applied either.
        let body = json!({prop: value, "policyMigrationState": "migrationInProgress"});
        assert_bad_patch(&h, &w, POLICY, body, &format!("'{prop}' is read-only")).await;
    }
    // A configuration's id is read-only too.
    let body = json!({"@odata.type": SMS, "id": "Voice", "state": "enabled"});
    assert_bad_patch(&h, &w, &config("sms"), body, "'id' is read-only").await;
}

#[tokio::test]
async fn policy_patch_carrying_configurations_is_refused() {
    let (h, w) = setup().await;
    let body = json!({"authenticationMethodConfigurations": [{"@odata.type": SMS, "id": "Sms", "state": "enabled"}]});
    assert_bad_patch(&h, &w, POLICY, body, "authenticationMethodConfigurations").await;
}

#[tokio::test]
async fn registration_campaign_snooze_is_0_to_14_days() {
    let (h, w) = setup().await;
    let campaign = |days: i64| json!({"registrationEnforcement": {"authenticationMethodsRegistrationCampaign": {"snoozeDurationInDays": days}}});
    for bad in [-1, 15] {
        assert_bad_patch(&h, &w, POLICY, campaign(bad), "snoozeDurationInDays").await;
    }
    for good in [0, 14] {
        assert_patched(&h, &w, POLICY, campaign(good)).await;
        let got = get_ok(&h, POLICY, &w).await;
        assert_eq!(
            got["registrationEnforcement"]["authenticationMethodsRegistrationCampaign"]["snoozeDurationInDays"],
            good
        );
    }
}

#[tokio::test]
async fn registration_campaign_targets_only_microsoft_authenticator() {
    let (h, w) = setup().await;
    let campaign = |method: &str| {
        json!({"registrationEnforcement": {"authenticationMethodsRegistrationCampaign": {"state": "enabled", "includeTargets": [
            {"id": "all_users", "targetType": "group", "targetedAuthenticationMethod": method}
        ]}}})
    };
    assert_bad_patch(
        &h,
        &w,
        POLICY,
        campaign("sms"),
        "targetedAuthenticationMethod",
    )
    .await;
    assert_patched(&h, &w, POLICY, campaign("microsoftAuthenticator")).await;
}

#[tokio::test]
async fn targets_must_name_existing_groups_and_users() {
    let (h, w) = setup().await;
    let missing = json!([{"id": MISSING_GROUP, "targetType": "group"}]);
    let cases = [
        (
            config("sms"),
            json!({"@odata.type": SMS, "includeTargets": missing}),
        ),
        (
            config("sms"),
            json!({"@odata.type": SMS, "excludeTargets": missing}),
        ),
        (
            config("sms"),
            json!({"@odata.type": SMS, "excludeTargets": [{"id": MISSING_GROUP, "targetType": "user"}]}),
        ),
        (
            POLICY.to_string(),
            json!({"systemCredentialPreferences": {"state": "enabled", "includeTargets": [{"id": "all_users", "targetType": "group"}], "excludeTargets": missing}}),
        ),
        (
            POLICY.to_string(),
            json!({"registrationEnforcement": {"authenticationMethodsRegistrationCampaign": {"excludeTargets": missing}}}),
        ),
        (
            config("microsoftAuthenticator"),
            json!({"@odata.type": AUTHENTICATOR, "featureSettings": {"displayAppInformationRequiredState": {"state": "enabled", "includeTarget": {"targetType": "group", "id": MISSING_GROUP}}}}),
        ),
        (
            config("microsoftAuthenticator"),
            json!({"@odata.type": AUTHENTICATOR, "featureSettings": {"displayLocationInformationRequiredState": {"state": "enabled", "excludeTarget": {"targetType": "role", "id": MISSING_GROUP}}}}),
        ),
        (
            config("x509Certificate"),
            json!({"@odata.type": X509, "certificateAuthorityScopes": [{"subjectKeyIdentifier": "aabbcc", "includeTargets": missing}]}),
        ),
    ];
    for (path, body) in cases {
        assert_bad_patch(&h, &w, &path, body, MISSING_GROUP).await;
    }
    // The same places accept what exists: a group, a directory role's template id.
    let global_admin = "62e90394-69f5-4237-9190-012177145e10";
    assert_patched(
        &h,
        &w,
        &config("microsoftAuthenticator"),
        json!({"@odata.type": AUTHENTICATOR, "featureSettings": {"displayAppInformationRequiredState": {"state": "enabled", "includeTarget": {"targetType": "group", "id": group()}, "excludeTarget": {"targetType": "role", "id": global_admin}}}}),
    )
    .await;
    assert_patched(
        &h,
        &w,
        &config("x509Certificate"),
        json!({"@odata.type": X509, "certificateAuthorityScopes": [{"subjectKeyIdentifier": "aabbcc", "includeTargets": [{"id": group(), "targetType": "group"}]}]}),
    )
    .await;
    let present = json!([{"id": group(), "targetType": "group"}]);
    assert_patched(
        &h,
        &w,
        &config("sms"),
        json!({"@odata.type": SMS, "excludeTargets": present}),
    )
    .await;
    assert_eq!(
        get_ok(&h, &config("sms"), &w).await["excludeTargets"],
        present
    );
}

#[tokio::test]
async fn security_defaults_accept_only_is_enabled() {
    let (h, w) = setup().await;
    let before = get_ok(&h, SECURITY_DEFAULTS, &w).await["isEnabled"].clone();
    assert!(before.is_boolean());
    assert_bad_patch(
        &h,
        &w,
        SECURITY_DEFAULTS,
        json!({"displayName": "Mine"}),
        "'displayName'",
    )
    .await;
    assert_bad_patch(
        &h,
        &w,
        SECURITY_DEFAULTS,
        json!({"isEnabled": !before.as_bool().unwrap_or_default(), "description": "x"}),
        "'description'",
    )
    .await;
    let r = h
        .patch(
            SECURITY_DEFAULTS,
            &w,
            &json!({"isEnabled": !before.as_bool().unwrap_or_default()}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(
        get_ok(&h, SECURITY_DEFAULTS, &w).await["isEnabled"],
        !before.as_bool().unwrap_or_default()
    );
}

// ---------------------------------------------------------------------------------------------
// Behaviours

/// FACTS.md §3: the ids GET returns.
const DOCUMENTED_IDS: &[&str] = &[
    "Fido2",
    "MicrosoftAuthenticator",
    "Sms",
    "Voice",
    "Email",
    "TemporaryAccessPass",
    "SoftwareOath",
    "HardwareOath",
    "X509Certificate",
];

#[tokio::test]
async fn configuration_ids_match_case_insensitively_and_read_pascal_case() {
    let (h, w) = setup().await;
    for id in ["fido2", "FIDO2", "Fido2"] {
        let got = get_ok(&h, &config(id), &w).await;
        assert_eq!(got["id"], "Fido2", "GET {id}");
    }
    let ids: Vec<String> = get_ok(&h, POLICY, &w).await["authenticationMethodConfigurations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["id"].as_str().map(String::from))
        .collect();
    for id in DOCUMENTED_IDS {
        assert!(ids.iter().any(|x| x == id), "{id} missing from {ids:?}");
    }
    assert_patched(
        &h,
        &w,
        &config("FIDO2"),
        json!({"@odata.type": FIDO2, "isAttestationEnforced": true}),
    )
    .await;
    assert_eq!(
        get_ok(&h, &config("fido2"), &w).await["isAttestationEnforced"],
        true
    );
    assert_eq!(
        get_ok(&h, &config("fido2"), &w).await["id"],
        "Fido2",
        "a PATCH through another casing keeps the id"
    );
    let r = h
        .call(Method::DELETE, &config("fido2"), Some(&w), None)
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(
        get_ok(&h, &config("Fido2"), &w).await["isAttestationEnforced"],
        false
    );
}

#[tokio::test]
async fn include_targets_are_returned_inline_with_their_context() {
    let (h, w) = setup().await;
    for version in ["v1.0", "beta"] {
        let policy = get_ok(
            &h,
            &format!("/{version}/policies/authenticationMethodsPolicy"),
            &w,
        )
        .await;
        let keys: Vec<&String> = policy.as_object().expect("policy").keys().collect();
        let at = |k: &str| {
            keys.iter()
                .position(|x| *x == k)
                .unwrap_or_else(|| panic!("{version}: no {k}"))
        };
        assert!(
            at("authenticationMethodConfigurations@odata.context")
                < at("authenticationMethodConfigurations")
        );
        assert_eq!(
            policy["authenticationMethodConfigurations@odata.context"],
            format!(
                "https://graph.microsoft.com/{version}/$metadata#policies/authenticationMethodsPolicy/authenticationMethodConfigurations"
            )
        );
        let one = get_ok(&h, &format!("/{version}/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/fido2"), &w).await;
        let listed = policy["authenticationMethodConfigurations"]
            .as_array()
            .and_then(|l| l.iter().find(|c| c["id"] == "Fido2"))
            .cloned()
            .expect("Fido2");
        for c in [&one, &listed] {
            let keys: Vec<&String> = c.as_object().expect("configuration").keys().collect();
            let ctx = keys
                .iter()
                .position(|k| *k == "includeTargets@odata.context")
                .unwrap_or_else(|| panic!("{version}: no includeTargets@odata.context in {c}"));
            let targets = keys
                .iter()
                .position(|k| *k == "includeTargets")
                .expect("includeTargets inline");
            assert!(ctx < targets, "the annotation precedes the property");
            assert_eq!(
                c["includeTargets@odata.context"],
                format!(
                    "https://graph.microsoft.com/{version}/$metadata#policies/authenticationMethodsPolicy/authenticationMethodConfigurations('Fido2')/microsoft.graph.fido2AuthenticationMethodConfiguration/includeTargets"
                )
            );
            assert!(
                c["includeTargets"]
                    .as_array()
                    .is_some_and(|a| !a.is_empty()),
                "{c}"
            );
        }
    }
}

#[tokio::test]
async fn delete_resets_a_configuration_to_its_defaults() {
    let (h, w) = setup().await;
    let path = config("temporaryAccessPass");
    let fresh = get_ok(&h, &path, &w).await;
    let change = json!({"@odata.type": TAP, "state": "enabled", "defaultLength": 12, "isUsableOnce": true,
        "includeTargets": [{"id": group(), "targetType": "group"}], "excludeTargets": [{"id": EXAMPLE_GROUPS[1], "targetType": "group"}]});
    assert_patched(&h, &w, &path, change).await;
    assert_ne!(get_ok(&h, &path, &w).await, fresh);
    let r = h.call(Method::DELETE, &path, Some(&w), None).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert!(r.body.is_null(), "{}", r.body);
    assert_eq!(get_ok(&h, &path, &w).await, fresh);
}

#[tokio::test]
async fn hardware_oath_cannot_be_deleted() {
    let (h, w) = setup().await;
    assert_refused(
        &h,
        Some(&w),
        Method::DELETE,
        &config("hardwareOath"),
        None,
        405,
        "Request_BadRequest",
        "not allowed",
    )
    .await;
}

#[tokio::test]
async fn nested_object_patch_resets_omitted_members_to_defaults() {
    // Graph replaces a nested object whole: members the PATCH omits fall back to their
    // defaults rather than keeping their stored values. mfactl must merge from the live value.
    let (h, w) = setup().await;
    let path = config("microsoftAuthenticator");
    let fresh = get_ok(&h, &path, &w).await["featureSettings"].clone();
    let mut customised = fresh.clone();
    for member in [
        "displayAppInformationRequiredState",
        "displayLocationInformationRequiredState",
    ] {
        customised[member] = json!({"state": "enabled", "includeTarget": {"targetType": "group", "id": group()},
            "excludeTarget": {"targetType": "group", "id": EXAMPLE_GROUPS[1]}});
    }
    assert_patched(
        &h,
        &w,
        &path,
        json!({"@odata.type": AUTHENTICATOR, "featureSettings": customised}),
    )
    .await;
    assert_eq!(get_ok(&h, &path, &w).await["featureSettings"], customised);

    let one_member = json!({"@odata.type": AUTHENTICATOR, "featureSettings": {"companionAppAllowedState": {"state": "disabled"}}});
    assert_patched(&h, &w, &path, one_member).await;
    let got = get_ok(&h, &path, &w).await["featureSettings"].clone();
    let mut expected = fresh.clone();
    expected["companionAppAllowedState"]["state"] = json!("disabled");
    assert_eq!(
        got, expected,
        "siblings and the member's own omitted targets are back to their defaults"
    );

    // The same holds for the policy's own nested settings.
    let campaign = |c: Value| json!({"registrationEnforcement": {"authenticationMethodsRegistrationCampaign": c}});
    assert_patched(
        &h,
        &w,
        POLICY,
        campaign(json!({"snoozeDurationInDays": 5, "state": "enabled"})),
    )
    .await;
    assert_patched(&h, &w, POLICY, campaign(json!({"state": "enabled"}))).await;
    let got = get_ok(&h, POLICY, &w).await;
    assert_eq!(
        got["registrationEnforcement"]["authenticationMethodsRegistrationCampaign"]["snoozeDurationInDays"],
        1
    );

    // `null` replaces the object with one that sets nothing: all defaults, number matching kept.
    assert_patched(
        &h,
        &w,
        &path,
        json!({"@odata.type": AUTHENTICATOR, "featureSettings": customised}),
    )
    .await;
    assert_patched(
        &h,
        &w,
        &path,
        json!({"@odata.type": AUTHENTICATOR, "featureSettings": null}),
    )
    .await;
    assert_eq!(get_ok(&h, &path, &w).await["featureSettings"], fresh);
}

#[tokio::test]
async fn include_targets_get_defaults_for_omitted_members() {
    let (h, w) = setup().await;
    let path = config("microsoftAuthenticator");
    let body = json!({"@odata.type": AUTHENTICATOR, "includeTargets": [{"id": group(), "targetType": "group"}]});
    assert_patched(&h, &w, &path, body).await;
    let targets = get_ok(&h, &path, &w).await["includeTargets"].clone();
    assert_eq!(
        targets,
        json!([{"id": group(), "targetType": "group", "isRegistrationRequired": false, "authenticationMode": "any"}])
    );
    // The list is replaced whole.
    assert_eq!(targets.as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn evolvable_enum_members_need_the_prefer_header() {
    let (h, w) = setup().await;
    let path = config("x509Certificate");
    let rule = json!({"x509CertificateRuleType": "issuerSubjectAndPolicyOID", "issuerSubjectIdentifier": "CN=ContosoCA",
        "policyOidIdentifier": "1.2.3.4", "x509CertificateAuthenticationMode": "x509CertificateMultiFactor"});
    let body = json!({"@odata.type": X509, "authenticationModeConfiguration": {"x509CertificateAuthenticationDefaultMode": "x509CertificateSingleFactor", "rules": [rule]}});
    assert_patched(&h, &w, &path, body).await;
    let rule_type = |v: &Value| {
        v["authenticationModeConfiguration"]["rules"][0]["x509CertificateRuleType"].clone()
    };
    let in_policy = |v: &Value| {
        v["authenticationMethodConfigurations"]
            .as_array()
            .and_then(|l| l.iter().find(|c| c["id"] == "X509Certificate"))
            .cloned()
            .unwrap_or_default()
    };
    for version in ["v1.0", "beta"] {
        let one = format!(
            "/{version}/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/x509Certificate"
        );
        let all = format!("/{version}/policies/authenticationMethodsPolicy");
        let plain = send(&h, Method::GET, &one, Some(&w), None, &[]).await.body;
        assert_eq!(rule_type(&plain), "unknownFutureValue", "{version}");
        let plain = send(&h, Method::GET, &all, Some(&w), None, &[]).await.body;
        assert_eq!(
            rule_type(&in_policy(&plain)),
            "unknownFutureValue",
            "{version} policy"
        );
        let asked = send(&h, Method::GET, &one, Some(&w), None, &[PREFER_ALL_ENUMS])
            .await
            .body;
        assert_eq!(rule_type(&asked), "issuerSubjectAndPolicyOID", "{version}");
        let asked = send(&h, Method::GET, &all, Some(&w), None, &[PREFER_ALL_ENUMS])
            .await
            .body;
        assert_eq!(
            rule_type(&in_policy(&asked)),
            "issuerSubjectAndPolicyOID",
            "{version} policy"
        );
    }
}

#[tokio::test]
async fn per_user_authentication_settings_exist_on_beta_only() {
    let (h, w) = setup().await;
    let user = h.emu.core.world().tenants[0].tenant.users[0].id.clone();
    for segment in ["signInPreferences", "requirements"] {
        let v1 = format!("/v1.0/users/{user}/authentication/{segment}");
        let r = h.get(&v1, &w).await;
        assert_eq!(r.status, 400, "{v1}: {}", r.body);
        assert_eq!(
            r.body["error"]["message"],
            format!("Resource not found for the segment '{segment}'.")
        );
        let body = if segment == "requirements" {
            json!({"perUserMfaState": "enforced"})
        } else {
            json!({"isSystemPreferredAuthenticationMethodEnabled": true})
        };
        assert_refused(
            &h,
            Some(&w),
            Method::PATCH,
            &v1,
            Some(&body),
            400,
            "BadRequest",
            segment,
        )
        .await;
        let beta = format!("/beta/users/{user}/authentication/{segment}");
        assert_eq!(h.get(&beta, &w).await.status, 200, "{beta}");
    }
}

#[tokio::test]
async fn authenticator_platform_settings_are_beta_only() {
    let (h, w) = setup().await;
    let v1 = get_ok(&h, POLICY, &w).await;
    assert!(
        v1.get("microsoftAuthenticatorPlatformSettings").is_none(),
        "v1.0 returns it: {v1}"
    );
    let beta = get_ok(&h, BETA_POLICY, &w).await;
    let pin = &beta["microsoftAuthenticatorPlatformSettings"]["enforceAppPIN"];
    assert!(
        pin["includeTargets"].is_array() && pin["excludeTargets"].is_array(),
        "beta lacks it: {beta}"
    );

    // Written on beta; on v1.0 it is a property the type does not have.
    let settings = json!({"enforceAppPIN": {"includeTargets": [{"id": group(), "targetType": "group"}], "excludeTargets": []}});
    let body = json!({"microsoftAuthenticatorPlatformSettings": settings});
    assert_bad_patch(
        &h,
        &w,
        POLICY,
        body.clone(),
        "'microsoftAuthenticatorPlatformSettings' does not exist",
    )
    .await;
    assert_patched(&h, &w, BETA_POLICY, body).await;
    assert_eq!(
        get_ok(&h, BETA_POLICY, &w).await["microsoftAuthenticatorPlatformSettings"],
        settings
    );
    assert!(
        get_ok(&h, POLICY, &w)
            .await
            .get("microsoftAuthenticatorPlatformSettings")
            .is_none()
    );
}

#[tokio::test]
async fn a_body_may_name_its_own_odata_type() {
    // OData lets a request body carry `@odata.type`; only a type other than the resource's
    // own is an error (SDK serialisers send it).
    let (h, w) = setup().await;
    let policy = json!({"@odata.type": "#microsoft.graph.authenticationMethodsPolicy", "policyMigrationState": "migrationInProgress"});
    assert_patched(&h, &w, POLICY, policy).await;
    let got = get_ok(&h, POLICY, &w).await;
    assert_eq!(got["policyMigrationState"], "migrationInProgress");
    assert!(
        got.get("@odata.type").is_none(),
        "the annotation was stored as data: {got}"
    );
    let wrong = json!({"@odata.type": SMS, "policyMigrationState": "migrationComplete"});
    assert_bad_patch(&h, &w, POLICY, wrong, "@odata.type").await;

    let sd = json!({"@odata.type": "#microsoft.graph.identitySecurityDefaultsEnforcementPolicy", "isEnabled": false});
    let r = h.patch(SECURITY_DEFAULTS, &w, &sd).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(get_ok(&h, SECURITY_DEFAULTS, &w).await["isEnabled"], false);
    let wrong =
        json!({"@odata.type": "#microsoft.graph.authenticationMethodsPolicy", "isEnabled": true});
    assert_bad_patch(&h, &w, SECURITY_DEFAULTS, wrong, "@odata.type").await;
}

#[tokio::test]
async fn read_only_app_reads_but_cannot_write() {
    let (h, _) = setup().await;
    let r = h.reader_token().await;
    get_ok(&h, POLICY, &r).await;
    get_ok(&h, &config("sms"), &r).await;
    get_ok(&h, SECURITY_DEFAULTS, &r).await;
    let denied = "Insufficient privileges";
    let sms = json!({"@odata.type": SMS, "state": "enabled"});
    assert_refused(
        &h,
        Some(&r),
        Method::PATCH,
        &config("sms"),
        Some(&sms),
        403,
        "Authorization_RequestDenied",
        denied,
    )
    .await;
    let body = json!({"policyMigrationState": "migrationInProgress"});
    assert_refused(
        &h,
        Some(&r),
        Method::PATCH,
        POLICY,
        Some(&body),
        403,
        "Authorization_RequestDenied",
        denied,
    )
    .await;
    assert_refused(
        &h,
        Some(&r),
        Method::DELETE,
        &config("sms"),
        None,
        403,
        "Authorization_RequestDenied",
        denied,
    )
    .await;
    let body = json!({"isEnabled": false});
    assert_refused(
        &h,
        Some(&r),
        Method::PATCH,
        SECURITY_DEFAULTS,
        Some(&body),
        403,
        "Authorization_RequestDenied",
        denied,
    )
    .await;
}

#[tokio::test]
async fn missing_token_is_401() {
    let (h, _) = setup().await;
    let r = h.call(Method::GET, POLICY, None, None).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(error_code(&r), "InvalidAuthenticationToken");
    let sms = json!({"@odata.type": SMS, "state": "enabled"});
    assert_refused(
        &h,
        None,
        Method::PATCH,
        &config("sms"),
        Some(&sms),
        401,
        "InvalidAuthenticationToken",
        "Access token is empty",
    )
    .await;
}

#[tokio::test]
async fn unsupported_methods_are_405() {
    let (h, w) = setup().await;
    let empty = json!({});
    let sms = json!({"@odata.type": SMS, "state": "enabled"});
    for (method, path, body) in [
        (Method::POST, POLICY.to_string(), Some(&empty)),
        (Method::DELETE, POLICY.to_string(), None),
        (Method::PUT, config("sms"), Some(&sms)),
        (Method::POST, config("sms"), Some(&sms)),
        (Method::DELETE, SECURITY_DEFAULTS.to_string(), None),
    ] {
        assert_refused(
            &h,
            Some(&w),
            method,
            &path,
            body,
            405,
            "Request_BadRequest",
            "not allowed",
        )
        .await;
    }
}

#[tokio::test]
async fn last_modified_changes_after_each_successful_write() {
    let (h, w) = setup().await;
    let stamp = |v: &Value| {
        v["lastModifiedDateTime"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let mut last = stamp(&get_ok(&h, POLICY, &w).await);
    let writes: Vec<(Method, String, Option<Value>)> = vec![
        (
            Method::PATCH,
            config("sms"),
            Some(json!({"@odata.type": SMS, "state": "enabled"})),
        ),
        (
            Method::PATCH,
            POLICY.to_string(),
            Some(json!({"policyMigrationState": "migrationInProgress"})),
        ),
        (Method::DELETE, config("sms"), None),
    ];
    for (method, path, body) in writes {
        let r = h.call(method.clone(), &path, Some(&w), body.as_ref()).await;
        assert!(r.status.is_success(), "{method} {path}: {}", r.body);
        let now = stamp(&get_ok(&h, POLICY, &w).await);
        assert_ne!(
            now, last,
            "{method} {path} left lastModifiedDateTime at {last}"
        );
        time::OffsetDateTime::parse(&now, &time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|e| panic!("lastModifiedDateTime {now:?}: {e}"));
        last = now;
    }
}

#[tokio::test]
async fn nested_odata_type_must_fit_and_is_not_stored() {
    // SDK serialisers annotate nested values with their type. Naming the declared type is
    // harmless and, not being data, is not read back; naming an unrelated type is an error.
    let (h, w) = setup().await;
    let path = config("microsoftAuthenticator");
    let target = json!({"@odata.type": "#microsoft.graph.microsoftAuthenticatorAuthenticationMethodTarget",
        "id": group(), "targetType": "group"});
    let settings = json!({"@odata.type": "#microsoft.graph.microsoftAuthenticatorFeatureSettings",
        "companionAppAllowedState": {"@odata.type": "#microsoft.graph.authenticationMethodFeatureConfiguration", "state": "disabled"}});
    let body = json!({"@odata.type": AUTHENTICATOR, "includeTargets": [target], "featureSettings": settings});
    assert_patched(&h, &w, &path, body).await;
    let got = get_ok(&h, &path, &w).await;
    assert_eq!(got["includeTargets"][0]["id"], group());
    assert_eq!(
        got["featureSettings"]["companionAppAllowedState"]["state"],
        "disabled"
    );
    for stored in [
        &got["includeTargets"][0],
        &got["featureSettings"],
        &got["featureSettings"]["companionAppAllowedState"],
    ] {
        assert!(
            stored.get("@odata.type").is_none(),
            "annotation stored as data: {stored}"
        );
    }

    let alien = json!({"@odata.type": FIDO2, "id": "all_users"});
    let body = json!({"@odata.type": AUTHENTICATOR, "includeTargets": [alien]});
    assert_bad_patch(&h, &w, &path, body, "is not compatible").await;
}

#[tokio::test]
async fn boolean_strings_are_taken_only_where_documented() {
    let (h, w) = setup().await;
    // The documented fido2 request (FACTS.md §13 item 7) sends `"true"`.
    assert_patched(
        &h,
        &w,
        &config("fido2"),
        json!({"@odata.type": FIDO2, "isAttestationEnforced": "true"}),
    )
    .await;
    assert_eq!(
        get_ok(&h, &config("fido2"), &w).await["isAttestationEnforced"],
        json!(true)
    );
    for (path, body) in [
        (
            config("fido2"),
            json!({"@odata.type": FIDO2, "isSelfServiceRegistrationAllowed": "false"}),
        ),
        (
            config("sms"),
            json!({"@odata.type": SMS, "includeTargets": [{"id": "all_users", "targetType": "group", "isUsableForSignIn": "true"}]}),
        ),
        (SECURITY_DEFAULTS.to_string(), json!({"isEnabled": "false"})),
    ] {
        assert_bad_patch(&h, &w, &path, body, "to the expected type 'Edm.Boolean'").await;
    }
}

/// Microsoft's "Update fido2AuthenticationMethodConfiguration" page (v1.0 and beta) PATCHes the
/// passkey profiles inline in the configuration, and GET returns them inline (FACTS.md §3).
#[tokio::test]
async fn passkey_profiles_are_written_through_the_fido2_configuration_as_documented() {
    let (h, w) = setup().await;
    let profile = json!({
        "id": "00000000-0000-0000-0000-000000000001",
        "name": "Default passkey profile",
        "passkeyTypes": "deviceBound,synced",
        "attestationEnforcement": "disabled",
        "keyRestrictions": {"isEnforced": false, "enforcementType": "allow", "aaGuids": []}
    });
    let body = json!({
        "@odata.type": FIDO2,
        "includeTargets": [{"targetType": "group", "id": "all_users", "isRegistrationRequired": false,
            "allowedPasskeyProfiles": ["00000000-0000-0000-0000-000000000001"]}],
        "passkeyProfiles": [profile.clone()]
    });
    let r = h.patch(&config("fido2"), &w, &body).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let got = h.get(&config("fido2"), &w).await;
    assert_eq!(
        got.body["passkeyProfiles"],
        json!([profile]),
        "{}",
        got.body
    );
    assert_eq!(
        got.body["includeTargets"][0]["allowedPasskeyProfiles"],
        json!(["00000000-0000-0000-0000-000000000001"])
    );
}

#[tokio::test]
async fn an_unknown_segment_is_400_as_graph_answers_it() {
    let (h, w) = setup().await;
    for path in [
        "/v1.0/directory/authenticationMethodDevices/hardwareOathDevices",
        "/v1.0/policies/noSuchPolicy",
        "/beta/identity/conditionalAccess/templates",
    ] {
        let r = h.get(path, &w).await;
        assert_eq!(r.status, 400, "{path}: {}", r.body);
        assert_eq!(error_code(&r), "BadRequest", "{path}");
        assert!(
            r.body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .starts_with("Resource not found for the segment '"),
            "{path}: {}",
            r.body
        );
    }
}
