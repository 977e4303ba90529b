//! Property tests of the plan engine against the emulator's own PATCH semantics (which
//! replace nested objects whole and reset what they omit): for random declared and live
//! states, applying the plan converges, a second plan is empty, and every PATCH body holds
//! only declared properties that differed.

use mfactl::emulator::generate::{self, GenerateSpec};
use mfactl::emulator::policy as emu;
use mfactl::emulator::state::Tenant;
use mfactl::msgraph::ApiVersion;
use mfactl::plan::{
    self, DesiredMethod, DesiredPolicy, DesiredState, LiveState, SECURITY_DEFAULTS_PATH,
};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

fn tenant() -> Tenant {
    generate::generate(&GenerateSpec {
        users: 20,
        groups: 6,
        tenants: 1,
        seed: 11,
    })
    .tenants
    .remove(0)
}

fn targets(choice: u8, groups: &[String]) -> Value {
    match choice % 4 {
        0 => json!([{"id": "all_users", "targetType": "group"}]),
        1 => json!([{"id": groups[0], "targetType": "group"}]),
        2 => {
            json!([{"id": groups[0], "targetType": "group"}, {"id": groups[1], "targetType": "group"}])
        }
        _ => json!([]),
    }
}

fn state(b: bool) -> Value {
    json!(if b { "enabled" } else { "disabled" })
}

fn tri(choice: u8) -> &'static str {
    ["default", "enabled", "disabled"][(choice % 3) as usize]
}

fn feature(choice: u8) -> Value {
    json!({"state": tri(choice)})
}

/// Authenticator: on, app-information state, location state, targets, companion-app state,
/// authentication mode.
type AuthenticatorKnobs = (bool, u8, u8, u8, Option<u8>, Option<u8>);

/// One random declaration or live edit: which knobs are touched and how.
#[derive(Debug, Clone)]
struct Knobs {
    sms: Option<(bool, u8, bool)>,
    fido2: Option<(bool, bool, u8)>,
    authenticator: Option<AuthenticatorKnobs>,
    tap: Option<(u8, u16, bool)>,
    voice: Option<(bool, bool)>,
    system_preferred: Option<(u8, u8, u8)>,
    campaign: Option<(u8, u8, Option<u8>)>,
    security_defaults: Option<bool>,
}

fn knobs() -> impl Strategy<Value = Knobs> {
    (
        proptest::option::of((any::<bool>(), any::<u8>(), any::<bool>())),
        proptest::option::of((any::<bool>(), any::<bool>(), any::<u8>())),
        proptest::option::of((
            any::<bool>(),
            any::<u8>(),
            any::<u8>(),
            any::<u8>(),
            proptest::option::of(any::<u8>()),
            proptest::option::of(any::<u8>()),
        )),
        proptest::option::of((8u8..=48, 60u16..=480, any::<bool>())),
        proptest::option::of((any::<bool>(), any::<bool>())),
        proptest::option::of((any::<u8>(), any::<u8>(), any::<u8>())),
        proptest::option::of((0u8..=14, any::<u8>(), proptest::option::of(any::<u8>()))),
        proptest::option::of(any::<bool>()),
    )
        .prop_map(
            |(
                sms,
                fido2,
                authenticator,
                tap,
                voice,
                system_preferred,
                campaign,
                security_defaults,
            )| Knobs {
                sms,
                fido2,
                authenticator,
                tap,
                voice,
                system_preferred,
                campaign,
                security_defaults,
            },
        )
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

/// The declaration (and, reused, the live edits) the knobs describe.
fn declaration(k: &Knobs, groups: &[String]) -> DesiredState {
    let mut properties = Map::new();
    let mut methods = Vec::new();
    let method = |key: &str, ty: &str, props: Value| DesiredMethod {
        key: key.into(),
        odata_type: format!("#microsoft.graph.{ty}AuthenticationMethodConfiguration"),
        properties: obj(props),
    };
    if let Some((on, t, usable)) = k.sms {
        let mut list = targets(t, groups);
        for target in list.as_array_mut().into_iter().flatten() {
            target["isUsableForSignIn"] = json!(usable);
        }
        methods.push(method(
            "sms",
            "sms",
            json!({"state": state(on), "includeTargets": list}),
        ));
    }
    if let Some((on, self_service, t)) = k.fido2 {
        methods.push(method(
            "fido2",
            "fido2",
            json!({"state": state(on), "isSelfServiceRegistrationAllowed": self_service, "excludeTargets": targets(t, groups)}),
        ));
    }
    if let Some((on, app, location, t, companion, mode)) = k.authenticator {
        let mut features = json!({"displayAppInformationRequiredState": feature(app), "displayLocationInformationRequiredState": feature(location)});
        if let Some(c) = companion {
            features["companionAppAllowedState"] = feature(c);
        }
        let mut list = targets(t, groups);
        if let Some(m) = mode {
            for target in list.as_array_mut().into_iter().flatten() {
                target["authenticationMode"] =
                    json!(["any", "push", "deviceBasedPush"][(m % 3) as usize]);
            }
        }
        methods.push(method(
            "microsoftAuthenticator",
            "microsoftAuthenticator",
            json!({"state": state(on), "featureSettings": features, "includeTargets": list}),
        ));
    }
    if let Some((length, lifetime, once)) = k.tap {
        methods.push(method(
            "temporaryAccessPass",
            "temporaryAccessPass",
            json!({"defaultLength": length, "defaultLifetimeInMinutes": lifetime, "isUsableOnce": once}),
        ));
    }
    if let Some((on, office)) = k.voice {
        methods.push(method(
            "voice",
            "voice",
            json!({"state": state(on), "isOfficePhoneAllowed": office}),
        ));
    }
    if let Some((s, include, exclude)) = k.system_preferred {
        let one = |c: u8| match c % 3 {
            0 => json!([{"id": "all_users", "targetType": "group"}]),
            1 => json!([{"id": groups[2], "targetType": "group"}]),
            _ => json!([]),
        };
        properties.insert(
            "systemCredentialPreferences".into(),
            json!({"state": tri(s), "includeTargets": one(include), "excludeTargets": one(exclude.wrapping_add(1))}),
        );
    }
    if let Some((snooze, s, exclude)) = k.campaign {
        let mut campaign = json!({"snoozeDurationInDays": snooze, "state": tri(s)});
        if let Some(e) = exclude {
            campaign["excludeTargets"] = targets(e, groups);
        }
        properties.insert(
            "registrationEnforcement".into(),
            json!({ "authenticationMethodsRegistrationCampaign": campaign }),
        );
    }
    DesiredState {
        methods_policy: Some(DesiredPolicy {
            properties,
            methods,
        }),
        security_defaults: k.security_defaults,
        ..DesiredState::default()
    }
}

/// Removes from `live` everything `declared` speaks about (recursively into nested objects),
/// and the volatile timestamp: what remains must not change when the plan is applied.
fn undeclared(live: &Value, declared: &Value) -> Value {
    match (live, declared) {
        (Value::Object(l), Value::Object(d)) => Value::Object(
            l.iter()
                .filter(|(k, _)| k.as_str() != "lastModifiedDateTime")
                .filter_map(|(k, v)| match d.get(k) {
                    None => Some((k.clone(), v.clone())),
                    Some(dv @ Value::Object(_)) => Some((k.clone(), undeclared(v, dv))),
                    Some(_) => None,
                })
                .collect(),
        ),
        _ => live.clone(),
    }
}

/// The declared state as one JSON tree shaped like the live policy (configurations by id).
fn declared_tree(desired: &DesiredState, live_policy: &Value) -> Value {
    let p = desired.methods_policy.as_ref().unwrap();
    let mut tree = Value::Object(p.properties.clone());
    let configs: Vec<Value> = live_policy["authenticationMethodConfigurations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            p.methods
                .iter()
                .find(|m| c["@odata.type"] == json!(m.odata_type))
                .map(|m| Value::Object(m.properties.clone()))
                .unwrap_or_else(|| json!({}))
        })
        .collect();
    tree["authenticationMethodConfigurations"] = Value::Array(configs);
    tree
}

fn untouched(live_policy: &Value, tree: &Value) -> Value {
    let mut rest = undeclared(live_policy, tree);
    let configs: Vec<Value> = live_policy["authenticationMethodConfigurations"]
        .as_array()
        .unwrap()
        .iter()
        .zip(
            tree["authenticationMethodConfigurations"]
                .as_array()
                .unwrap(),
        )
        .map(|(c, d)| undeclared(c, d))
        .collect();
    rest["authenticationMethodConfigurations"] = Value::Array(configs);
    rest
}

fn live(t: &Tenant) -> LiveState {
    let policy = emu::get_policy(ApiVersion::Beta, t, false);
    let defaults = emu::get_security_defaults(ApiVersion::V1, &t.security_defaults);
    LiveState {
        methods_policy: policy.json().cloned(),
        security_defaults: defaults.json().cloned(),
        ..LiveState::default()
    }
}

/// Sends a plan's bodies through the emulator's PATCH handlers.
fn apply(t: &mut Tenant, p: &plan::Plan) -> Result<(), String> {
    for c in &p.changes {
        let r = if c.path == SECURITY_DEFAULTS_PATH {
            emu::patch_security_defaults(ApiVersion::V1, &mut t.security_defaults, &c.body)
        } else if let Some(key) = c
            .path
            .rsplit_once("/authenticationMethodConfigurations/")
            .map(|(_, k)| k.to_string())
        {
            emu::patch_configuration(ApiVersion::Beta, t, &key, &c.body)
        } else {
            emu::patch_policy(ApiVersion::Beta, t, &c.body)
        };
        r.map_err(|e| format!("{} {}: {} {}", c.path, c.body, e.code, e.message))?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn applying_the_plan_converges_and_patches_only_declared_differences(declared in knobs(), drift in knobs()) {
        let mut t = tenant();
        let groups: Vec<String> = t.groups.iter().map(|g| g.id.clone()).collect();
        // Drift the live tenant through the same PATCH handlers, from another declaration.
        let drifted = plan::plan("t", &declaration(&drift, &groups), &live(&t)).unwrap();
        apply(&mut t, &drifted).unwrap();

        let desired = declaration(&declared, &groups);
        let before = live(&t);
        let first = plan::plan("t", &desired, &before).unwrap();
        let declared_policy = desired.methods_policy.as_ref().unwrap();
        for change in &first.changes {
            let declared_keys: Vec<&String> = if change.path == SECURITY_DEFAULTS_PATH {
                vec![]
            } else if change.resource == "authenticationMethodsPolicy" {
                declared_policy.properties.keys().collect()
            } else {
                let key = change.path.rsplit('/').next().unwrap();
                declared_policy.methods.iter().find(|m| m.key == key).unwrap().properties.keys().collect()
            };
            for (k, v) in change.body.as_object().unwrap() {
                if k == "@odata.type" || change.path == SECURITY_DEFAULTS_PATH {
                    continue;
                }
                prop_assert!(declared_keys.contains(&k), "{} sends undeclared {}", change.resource, k);
                // What is shown as the result holds exactly what is sent (plus what the
                // service keeps without being sent).
                prop_assert!(change
                    .properties
                    .iter()
                    .any(|p| &p.name == k && plan::diff::satisfied(v, Some(&p.after), Some(k))));
                prop_assert!(change.properties.iter().all(|p| p.before != p.after));
            }
            prop_assert!(!serde_json::to_string(&change.body).unwrap().contains("numberMatchingRequiredState"));
        }
        apply(&mut t, &first).map_err(TestCaseError::fail)?;
        let after = live(&t);
        let second = plan::plan("t", &desired, &after).unwrap();
        prop_assert!(second.in_sync, "not converged: {:#?}", second.changes);
        // Nothing the declaration leaves out changed, not even inside nested objects.
        let (b, a) = (before.methods_policy.unwrap(), after.methods_policy.unwrap());
        let tree = declared_tree(&desired, &b);
        prop_assert_eq!(untouched(&b, &tree), untouched(&a, &tree));
        if desired.security_defaults.is_none() {
            prop_assert_eq!(before.security_defaults, after.security_defaults);
        }
    }
}

#[test]
fn a_change_to_one_feature_setting_keeps_its_siblings() {
    let mut t = tenant();
    let groups: Vec<String> = t.groups.iter().map(|g| g.id.clone()).collect();
    // Live: location display enabled for a group.
    let live_edit = json!({
        "@odata.type": "#microsoft.graph.microsoftAuthenticatorAuthenticationMethodConfiguration",
        "featureSettings": {"displayLocationInformationRequiredState": {"state": "enabled", "includeTarget": {"id": groups[1], "targetType": "group"}}}
    });
    emu::patch_configuration(
        ApiVersion::Beta,
        &mut t,
        "microsoftAuthenticator",
        &live_edit,
    )
    .unwrap();
    // Declared: only app information.
    let desired = DesiredState {
        methods_policy: Some(DesiredPolicy {
            properties: Map::new(),
            methods: vec![DesiredMethod {
                key: "microsoftAuthenticator".into(),
                odata_type:
                    "#microsoft.graph.microsoftAuthenticatorAuthenticationMethodConfiguration"
                        .into(),
                properties: obj(
                    json!({"featureSettings": {"displayAppInformationRequiredState": {"state": "enabled"}}}),
                ),
            }],
        }),
        security_defaults: None,
        ..DesiredState::default()
    };
    let p = plan::plan("t", &desired, &live(&t)).unwrap();
    apply(&mut t, &p).unwrap();
    let after = live(&t);
    let auth = after.methods_policy.unwrap()["authenticationMethodConfigurations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "MicrosoftAuthenticator")
        .cloned()
        .unwrap();
    let location = &auth["featureSettings"]["displayLocationInformationRequiredState"];
    assert_eq!(location["state"], json!("enabled"), "sibling kept");
    assert_eq!(location["includeTarget"]["id"], json!(groups[1]));
    assert_eq!(
        auth["featureSettings"]["displayAppInformationRequiredState"]["state"],
        json!("enabled")
    );
    assert_eq!(
        auth["featureSettings"]["numberMatchingRequiredState"]["state"],
        json!("enabled")
    );
}
