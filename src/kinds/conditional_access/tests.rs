//! `ConditionalAccessPolicy` as the loader reads it, and as a collection plans it against
//! what Graph returns.

use serde_json::{Value, json};

use super::*;
use crate::kinds::collection;
use crate::kinds::declarable::testing::document;
use crate::policy::testing::{codes_at, load_str};
use crate::policy::{LoadOutcome, codes};
use crate::tenant::names::NameKind;

fn policy(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: mfactl/v1\nkind: ConditionalAccessPolicy\nmetadata: {{name: \"{name}\"}}\nspec:\n{spec}"
    )
}

/// The documentation's create example (FACTS-CA examples), as YAML.
const EXO: &str = "  state: enabled
  conditions:
    clientAppTypes: [mobileAppsAndDesktopClients, browser]
    applications:
      includeApplications: [00000002-0000-0ff1-ce00-000000000000]
    users:
      includeGroups: [ba8e7ded-8b0f-4836-ba06-8ff1ecc5c8ba]
    locations:
      includeLocations: [All]
      excludeLocations: [AllTrusted]
  grantControls:
    operator: OR
    builtInControls: [mfa]
";

fn declared(outcome: &LoadOutcome) -> Vec<DeclaredConditionalAccessPolicy> {
    outcome
        .set
        .as_ref()
        .map(|s| s.conditional_access_policies.clone())
        .unwrap_or_default()
}

/// A verbatim documentation payload (`tests/fixtures/conditional-access-examples`, kept equal
/// to the shared facts by `tests/it/fixtures.rs`).
fn example(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

const CREATE_REQUEST: &str = include_str!(
    "../../../tests/fixtures/conditional-access-examples/conditionalAccessPolicy.post.v1.request.json"
);
const CREATE_RESPONSE: &str = include_str!(
    "../../../tests/fixtures/conditional-access-examples/conditionalAccessPolicy.post.v1.response.json"
);

#[test]
fn the_documented_example_loads_as_the_documented_request() {
    let out = load_str(&policy("Access to EXO requires MFA", EXO));
    assert!(out.diagnostics.is_empty(), "{:?}", out.diagnostics);
    let items = declared(&out);
    let body = Value::Object(ConditionalAccessPolicy::properties(&items[0]));
    assert_eq!(body, example(CREATE_REQUEST));
}

#[test]
fn graphs_answer_to_the_documented_create_is_in_sync() {
    let response = example(CREATE_RESPONSE);
    let out = load_str(&policy("Access to EXO requires MFA", EXO));
    let plan = collection::plan::<ConditionalAccessPolicy>(&declared(&out), &[response], false);
    assert!(plan.changes.is_empty(), "{:?}", plan.changes);
}

#[test]
fn normalised_reads_are_not_drift_but_a_real_change_sends_the_whole_object() {
    let spec = "  state: enabled
  conditions:
    users: {includeUsers: [All], excludeGroups: [], excludeUsers: []}
    applications: {includeApplications: [All]}
    clientAppTypes: [all]
  grantControls: {operator: OR, authenticationStrength: 00000000-0000-0000-0000-000000000004}
";
    let items = declared(&load_str(&policy("Phishing-resistant MFA", spec)));
    let live = json!({
        "id": "p1", "displayName": "Phishing-resistant MFA", "state": "enabled", "templateId": null,
        "conditions": {
            "users": {"includeUsers": ["All"], "excludeGroups": null, "includeGroups": [], "includeRoles": []},
            "applications": {"includeApplications": ["All"], "excludeApplications": []},
            "platforms": null, "times": null
        },
        "grantControls": {"operator": "OR", "builtInControls": [], "termsOfUse": [],
            "authenticationStrength@odata.context": "https://graph.microsoft.com/v1.0/$metadata#…",
            "authenticationStrength": {"id": "00000000-0000-0000-0000-000000000004", "displayName": "Phishing-resistant MFA",
                "allowedCombinations": ["windowsHelloForBusiness", "fido2", "x509CertificateMultiFactor"]}}
    });
    let synced =
        collection::plan::<ConditionalAccessPolicy>(&items, std::slice::from_ref(&live), false);
    assert!(synced.changes.is_empty(), "{:?}", synced.changes);

    let mut excluded = live;
    excluded["conditions"]["users"]["excludeGroups"] =
        json!(["b6a1c1a0-0000-4000-8000-000000000001"]);
    let plan = collection::plan::<ConditionalAccessPolicy>(&items, &[excluded], false);
    assert_eq!(plan.changes.len(), 1);
    let patch = &plan.changes[0];
    assert_eq!(
        (patch.method.as_str(), patch.path.as_str()),
        ("PATCH", "/v1.0/identity/conditionalAccess/policies/p1")
    );
    let names: Vec<&str> = patch.properties.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["conditions"], "only the object that changed");
    let users = &patch.body["conditions"]["users"];
    assert_eq!(
        users["excludeGroups"],
        json!([]),
        "the declared empty list is sent"
    );
    assert_eq!(
        users["includeUsers"],
        json!(["All"]),
        "with its siblings: the object goes whole"
    );
    assert_eq!(
        patch.body["conditions"]["applications"]["includeApplications"],
        json!(["All"])
    );
}

#[test]
fn mistakes_in_a_policy_are_reported_where_they_are() {
    let nobody = "  state: enabled\n  conditions:\n    users: {excludeUsers: [All]}\n    applications: {includeApplications: [All]}\n  grantControls: {operator: OR, builtInControls: [mfa]}\n";
    assert_eq!(
        codes_at(&load_str(&policy("P", nobody))),
        [(codes::APPLIES_TO_NOTHING, 7, 5)]
    );
    let both = "  state: enabled\n  conditions:\n    users: {includeUsers: [All]}\n    applications: {includeApplications: [All]}\n  grantControls:\n    builtInControls: [mfa]\n    authenticationStrength: 00000000-0000-0000-0000-000000000002\n";
    assert_eq!(
        codes_at(&load_str(&policy("P", both))),
        [(codes::MFA_WITH_STRENGTH, 11, 5)]
    );
    let idle = "  state: disabled\n  conditions:\n    users: {includeUsers: [All]}\n    applications: {includeApplications: [All]}\n";
    assert_eq!(
        codes_at(&load_str(&policy("P", idle))),
        [(codes::APPLIES_TO_NOTHING, 4, 1)]
    );
    let missing = "  conditions:\n    users: {includeUsers: [All]}\n    applications: {includeApplications: [All]}\n  grantControls: {builtInControls: [block]}\n";
    assert_eq!(
        codes_at(&load_str(&policy("P", missing))),
        [(codes::MISSING_KEY, 4, 1)]
    );
    let bad_enum = format!(
        "{}  sessionControls: {{}}\n",
        EXO.replace("builtInControls: [mfa]", "builtInControls: [mfaa]")
    );
    assert_eq!(
        codes_at(&load_str(&policy("P", &bad_enum))),
        [(codes::UNKNOWN_ENUM_VALUE, 17, 23)]
    );
}

#[test]
fn a_microsoft_managed_policy_declares_only_its_state_and_exclusions() {
    let name = "Microsoft-managed: Multifactor authentication for admins accessing Microsoft Admin Portals";
    let ok =
        "  state: enabled\n  conditions:\n    users: {excludeGroups: [Break Glass Accounts]}\n";
    let out = load_str(&policy(name, ok));
    assert!(out.diagnostics.is_empty(), "{:?}", out.diagnostics);
    let more = "  state: enabled\n  conditions:\n    users: {includeUsers: [All], excludeGroups: [Break Glass Accounts]}\n  grantControls: {builtInControls: [mfa]}\n";
    let codes: Vec<&str> = codes_at(&load_str(&policy(name, more)))
        .iter()
        .map(|c| c.0)
        .collect();
    assert_eq!(codes, [codes::READ_ONLY, codes::READ_ONLY]);
    // Pruning never deletes one, nor a policy made from a template.
    let managed = json!({"id": "m1", "displayName": name, "state": "enabled", "templateId": null});
    let templated = json!({"id": "t1", "displayName": "From a template", "templateId": "a3d0a415-b068-4326-9251-f9cdf9feeb64"});
    let plan = collection::plan::<ConditionalAccessPolicy>(&[], &[managed, templated], true);
    assert!(plan.changes.is_empty(), "{:?}", plan.changes);
    assert_eq!(plan.unmanaged.len(), 2);
    assert!(plan.unmanaged.iter().all(|u| !u.deleted));
}

#[test]
fn group_names_and_upns_are_resolved_keywords_and_ids_are_not() {
    let spec = "  state: enabled\n  conditions:\n    users:\n      includeUsers: [All]\n      excludeUsers: [ada@contoso.com, 6b0e2c43-9b1f-4f0e-8a51-0f1d7f4b1c2a]\n      excludeGroups: [Break Glass Accounts]\n    applications: {includeApplications: [All]}\n  grantControls: {operator: OR, builtInControls: [mfa]}\n";
    let items = declared(&load_str(&policy("P", spec)));
    let pointers: Vec<&str> = items[0]
        .name_locations
        .iter()
        .map(|(p, _)| p.as_str())
        .collect();
    assert_eq!(
        pointers,
        [
            "/conditions/users/excludeUsers/0",
            "/conditions/users/excludeGroups/0"
        ]
    );
    let at = &items[0].name_locations[1].1;
    assert_eq!((at.line, at.column), (10, 23));
    let mut names = Names::default();
    ConditionalAccessPolicy::names(&items[0], &mut names);
    assert_eq!(names.len(), 2);
}

/// A policy writing a role, two locations and a strength by name, beside ids and keywords.
const NAMED: &str = "  state: enabled
  conditions:
    users:
      includeRoles: [Global Administrator, 62e90394-69f5-4237-9190-012177145e10]
      excludeRoles: [Helpdesk Administrator]
    applications: {includeApplications: [All], excludeApplications: [Office365, 00000002-0000-0ff1-ce00-000000000000]}
    locations:
      includeLocations: [all, Corporate network]
      excludeLocations: [AllTrusted, Home office]
  grantControls: {operator: OR, authenticationStrength: Phishing-resistant MFA}
";

#[test]
fn role_location_and_strength_names_are_resolved_keywords_and_ids_are_not() {
    let out = load_str(&policy("P", NAMED));
    assert!(out.diagnostics.is_empty(), "{:?}", out.diagnostics);
    let items = declared(&out);
    let pointers: Vec<(&str, usize, usize)> = items[0]
        .name_locations
        .iter()
        .map(|(p, at)| (p.as_str(), at.line, at.column))
        .collect();
    assert_eq!(
        pointers,
        [
            ("/conditions/users/includeRoles/0", 8, 22),
            ("/conditions/users/excludeRoles/0", 9, 22),
            ("/conditions/locations/includeLocations/1", 12, 31),
            ("/conditions/locations/excludeLocations/1", 13, 38),
            ("/grantControls/authenticationStrength/id", 14, 57),
        ]
    );
    let mut names = Names::default();
    ConditionalAccessPolicy::names(&items[0], &mut names);
    assert_eq!(names.len(), 5);

    let resolved = Resolution::of([
        (
            NameKind::Role,
            "Global Administrator",
            "62e90394-69f5-4237-9190-012177145e10",
        ),
        (
            NameKind::Role,
            "Helpdesk Administrator",
            "729827e3-9c14-49f7-bb1b-9608f156bbb8",
        ),
        (NameKind::Location, "Corporate network", "loc-1"),
        (
            NameKind::Location,
            "Home office",
            "{created:namedLocations/Home office}",
        ),
        (
            NameKind::Strength,
            "Phishing-resistant MFA",
            "00000000-0000-0000-0000-000000000004",
        ),
    ]);
    let desired = Value::Object(ConditionalAccessPolicy::desired(&items[0], &resolved).properties);
    assert_eq!(
        desired["conditions"]["users"],
        json!({
            "includeRoles": ["62e90394-69f5-4237-9190-012177145e10", "62e90394-69f5-4237-9190-012177145e10"],
            "excludeRoles": ["729827e3-9c14-49f7-bb1b-9608f156bbb8"]
        })
    );
    assert_eq!(
        desired["conditions"]["locations"],
        json!({"includeLocations": ["all", "loc-1"], "excludeLocations": ["AllTrusted", "{created:namedLocations/Home office}"]})
    );
    assert_eq!(
        desired["grantControls"]["authenticationStrength"],
        json!({"id": "00000000-0000-0000-0000-000000000004"})
    );
}

#[test]
fn a_name_that_did_not_resolve_is_kept_never_dropped() {
    let items = declared(&load_str(&policy("P", NAMED)));
    let desired = Value::Object(
        ConditionalAccessPolicy::desired(&items[0], &Resolution::default()).properties,
    );
    assert_eq!(
        desired["conditions"]["users"]["excludeRoles"],
        json!(["Helpdesk Administrator"])
    );
    assert_eq!(
        desired["conditions"]["locations"]["excludeLocations"],
        json!(["AllTrusted", "Home office"])
    );
}

#[test]
fn a_strength_is_written_by_name_or_id_alone_or_as_graphs_object() {
    for (written, id, at) in [
        ("Passwordless MFA", "Passwordless MFA", (9, 57)),
        ("{id: Registration}", "Registration", (9, 62)),
        (
            "{id: 00000000-0000-0000-0000-000000000002}",
            "00000000-0000-0000-0000-000000000002",
            (9, 62),
        ),
    ] {
        let spec = format!(
            "  state: enabled\n  conditions:\n    users: {{includeUsers: [All], excludeGroups: [Break Glass Accounts]}}\n    applications: {{includeApplications: [All]}}\n  grantControls: {{operator: OR, authenticationStrength: {written}}}\n"
        );
        let out = load_str(&policy("P", &spec));
        assert!(
            out.diagnostics.is_empty(),
            "{written}: {:?}",
            out.diagnostics
        );
        let items = declared(&out);
        assert_eq!(
            items[0].properties["grantControls"]["authenticationStrength"],
            json!({"id": id})
        );
        let strength = items[0]
            .name_locations
            .iter()
            .find(|(p, _)| p == "/grantControls/authenticationStrength/id")
            .map(|(_, l)| (l.line, l.column));
        assert_eq!(strength, (!is_guid_text(id)).then_some(at), "{written}");
    }
    let spec = "  state: enabled\n  conditions:\n    users: {includeUsers: [All]}\n    applications: {includeApplications: [All]}\n  grantControls: {operator: OR, authenticationStrength: {}}\n";
    assert_eq!(
        codes_at(&load_str(&policy("P", spec))),
        [(codes::WRONG_TYPE, 9, 57)]
    );
}

fn is_guid_text(s: &str) -> bool {
    crate::msgraph::schema::is_guid(s)
}

#[test]
fn an_application_is_an_app_id_or_a_keyword() {
    let spec = "  state: enabled\n  conditions:\n    users: {includeUsers: [All]}\n    applications:\n      includeApplications: [all, Outlook]\n      excludeApplications: [Office 365, 00000002-0000-0ff1-ce00-000000000000]\n  grantControls: {operator: OR, builtInControls: [mfa]}\n";
    let out = load_str(&policy("P", spec));
    assert_eq!(
        codes_at(&out),
        [
            (codes::UNKNOWN_ENUM_VALUE, 9, 29),
            (codes::UNKNOWN_ENUM_VALUE, 9, 34),
            (codes::UNKNOWN_ENUM_VALUE, 10, 29),
        ]
    );
    let helps: Vec<Option<&str>> = out.diagnostics.iter().map(|d| d.help.as_deref()).collect();
    assert_eq!(
        helps,
        [
            Some("did you mean `All`?"),
            Some(
                "write the application's appId (a GUID) or one of All, Office365, MicrosoftAdminPortals, None"
            ),
            Some("did you mean `Office365`?"),
        ]
    );
    assert!(declared(&out).is_empty());
}

#[test]
fn the_documented_response_exports_as_a_declaration_in_sync_with_it() {
    let live = example(CREATE_RESPONSE);
    let spec = export::declarable(&live);
    assert_eq!(
        Value::Object(spec.clone()),
        json!({
            "state": "enabled",
            "conditions": {
                "clientAppTypes": ["mobileAppsAndDesktopClients", "browser"],
                "applications": {"includeApplications": ["00000002-0000-0ff1-ce00-000000000000"]},
                "users": {"includeGroups": ["ba8e7ded-8b0f-4836-ba06-8ff1ecc5c8ba"]},
                "locations": {"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]}
            },
            "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}
        })
    );
    assert_eq!(
        export::references(&spec),
        [(
            "/conditions/users/includeGroups/0".to_string(),
            NameKind::Group
        )]
    );
    let text = document(
        ConditionalAccessPolicy::NAME,
        "Access to EXO requires MFA",
        &spec,
    );
    let out = load_str(&text);
    assert!(out.diagnostics.is_empty(), "{text}\n{:?}", out.diagnostics);
    let plan = collection::plan::<ConditionalAccessPolicy>(&declared(&out), &[live], false);
    assert!(plan.changes.is_empty(), "{:?}", plan.changes);
}

#[test]
fn an_exported_strength_is_its_id_and_a_managed_policy_its_state_and_exclusions() {
    let live = json!({
        "id": "p1", "displayName": "Admins", "state": "enabled", "templateId": null,
        "conditions": {"users": {"includeRoles": ["62e90394-69f5-4237-9190-012177145e10"], "excludeUsers": ["GuestsOrExternalUsers"]},
            "applications": {"includeApplications": ["All"]}, "clientAppTypes": ["all"], "times": null,
            "locations": {"includeLocations": ["All"], "excludeLocations": ["00000000-0000-0000-0000-000000000000", "3b1e9b5e-0000-4000-8000-000000000001"]}},
        "grantControls": {"operator": "OR", "builtInControls": [],
            "authenticationStrength@odata.context": "https://graph.microsoft.com/v1.0/$metadata#…",
            "authenticationStrength": {"id": "00000000-0000-0000-0000-000000000004", "displayName": "Phishing resistant MFA", "allowedCombinations": ["fido2"]}}
    });
    let spec = export::declarable(&live);
    assert_eq!(
        spec["grantControls"],
        json!({"operator": "OR", "authenticationStrength": "00000000-0000-0000-0000-000000000004"})
    );
    assert!(spec["conditions"].get("clientAppTypes").is_none());
    let references = export::references(&spec);
    let kinds: Vec<(&str, NameKind)> = references.iter().map(|(p, k)| (p.as_str(), *k)).collect();
    assert_eq!(
        kinds,
        [
            ("/conditions/users/includeRoles/0", NameKind::Role),
            (
                "/conditions/locations/excludeLocations/1",
                NameKind::Location
            ),
            ("/grantControls/authenticationStrength", NameKind::Strength),
        ]
    );

    let mut managed = live;
    managed["displayName"] = json!(
        "Microsoft-managed: Multifactor authentication for admins accessing Microsoft Admin Portals"
    );
    managed["conditions"]["users"]["excludeGroups"] =
        json!(["b6a1c1a0-0000-4000-8000-000000000001"]);
    let spec = export::declarable(&managed);
    assert_eq!(
        Value::Object(spec.clone()),
        json!({"state": "enabled", "conditions": {"users": {"excludeUsers": ["GuestsOrExternalUsers"], "excludeGroups": ["b6a1c1a0-0000-4000-8000-000000000001"]}}})
    );
    let out = load_str(&document(
        ConditionalAccessPolicy::NAME,
        managed["displayName"].as_str().unwrap(),
        &spec,
    ));
    assert!(out.diagnostics.is_empty(), "{:?}", out.diagnostics);
}
