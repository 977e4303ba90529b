//! `NamedLocation` as the loader reads it, and as a collection plans it.

use serde_json::{Value, json};

use super::*;
use crate::kinds::collection;
use crate::kinds::declarable::testing::document;
use crate::policy::testing::{codes_at, load_str};
use crate::policy::{LoadOutcome, codes};

fn location(name: &str, spec: &str) -> String {
    format!("apiVersion: mfactl/v1\nkind: NamedLocation\nmetadata: {{name: {name}}}\nspec:\n{spec}")
}

fn declared(outcome: &LoadOutcome) -> Vec<DeclaredNamedLocation> {
    outcome
        .set
        .as_ref()
        .map(|s| s.named_locations.clone())
        .unwrap_or_default()
}

#[test]
fn ip_and_country_locations_load_in_graph_shape() {
    let out = load_str(&format!(
        "{}---\n{}",
        location(
            "Corporate network",
            "  ipRanges: [203.0.113.0/24, \"2001:db8::/48\"]\n  isTrusted: true\n"
        ),
        location(
            "Allowed countries",
            "  countriesAndRegions: [GB, IE]\n  includeUnknownCountriesAndRegions: false\n"
        )
    ));
    assert!(out.diagnostics.is_empty(), "{:?}", out.diagnostics);
    let items = declared(&out);
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].display_name, "Corporate network");
    assert_eq!(items[0].odata_type, "#microsoft.graph.ipNamedLocation");
    assert_eq!(
        Value::Object(items[0].properties.clone()),
        json!({"isTrusted": true, "ipRanges": [
            {"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "203.0.113.0/24"},
            {"@odata.type": "#microsoft.graph.iPv6CidrRange", "cidrAddress": "2001:db8::/48"}
        ]})
    );
    assert_eq!(items[1].odata_type, "#microsoft.graph.countryNamedLocation");
    assert_eq!(
        items[1].properties["countriesAndRegions"],
        json!(["GB", "IE"])
    );
}

#[test]
fn mistakes_are_reported_where_they_are() {
    let cases = [
        // Not a CIDR range, a prefix too long for IPv4.
        (
            "  ipRanges: [10.0.0.0, 10.0.0.0/33]\n",
            vec![(codes::WRONG_TYPE, 5, 14), (codes::WRONG_TYPE, 5, 24)],
        ),
        // Both kinds of location in one document.
        (
            "  ipRanges: [10.0.0.0/8]\n  countriesAndRegions: [GB]\n",
            vec![(codes::UNKNOWN_KEY, 6, 3)],
        ),
        // Neither.
        ("  isTrusted: true\n", vec![(codes::MISSING_KEY, 4, 1)]),
        // displayName is metadata.name.
        (
            "  ipRanges: [10.0.0.0/8]\n  displayName: Other\n",
            vec![(codes::READ_ONLY, 6, 3)],
        ),
        // A property of the other type, misspelt, and a bad country code.
        (
            "  countriesAndRegions: [gb]\n  isTrusted: true\n",
            vec![(codes::WRONG_TYPE, 5, 24), (codes::UNKNOWN_KEY, 6, 3)],
        ),
    ];
    for (spec, expected) in cases {
        let out = load_str(&location("L", spec));
        assert_eq!(codes_at(&out), expected, "{spec}");
        assert!(out.set.is_none(), "{spec}");
    }
}

#[test]
fn two_documents_for_one_name_are_an_error_naming_the_first() {
    let one = location("Office", "  ipRanges: [10.0.0.0/8]\n");
    let out = load_str(&format!("{one}---\n{one}"));
    assert_eq!(codes_at(&out), [(codes::DUPLICATE_KIND, 8, 7)]);
    let message = &out.diagnostics[0].message;
    assert!(
        message.contains("named `Office`") && message.contains("mem.yaml:2:7"),
        "{message}"
    );
    // Two names are two locations.
    let other = location("Branch", "  ipRanges: [10.1.0.0/16]\n");
    let out = load_str(&format!("{one}---\n{other}"));
    assert!(out.diagnostics.is_empty(), "{:?}", out.diagnostics);
    assert_eq!(declared(&out).len(), 2);
}

fn office(cidr: &str) -> DeclaredNamedLocation {
    let out = load_str(&location(
        "Office",
        &format!("  ipRanges: [{cidr}]\n  isTrusted: true\n"),
    ));
    declared(&out).remove(0)
}

/// A named location as Graph returns it: server-set members and annotations included.
fn live(id: &str, name: &str, cidr: &str) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.ipNamedLocation",
        "id": id,
        "displayName": name,
        "createdDateTime": "2026-01-01T00:00:00Z",
        "modifiedDateTime": null,
        "isTrusted": true,
        "ipRanges": [{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": cidr}]
    })
}

#[test]
fn a_missing_location_is_created_and_a_matching_one_is_in_sync() {
    let desired = [office("10.0.0.0/8")];
    let plan = collection::plan::<NamedLocation>(&desired, &[], false);
    assert_eq!(plan.changes.len(), 1);
    let create = &plan.changes[0];
    assert_eq!(
        (create.method.as_str(), create.path.as_str()),
        ("POST", NAMED_LOCATIONS_PATH)
    );
    assert_eq!(create.resource, "namedLocations/Office");
    assert_eq!(
        create.body,
        json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "Office", "isTrusted": true,
               "ipRanges": [{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "10.0.0.0/8"}]})
    );
    let synced =
        collection::plan::<NamedLocation>(&desired, &[live("a1", "Office", "10.0.0.0/8")], false);
    assert!(
        synced.changes.is_empty() && synced.unmanaged.is_empty(),
        "{synced:?}"
    );
}

#[test]
fn a_changed_range_list_is_sent_whole_with_its_type() {
    let desired = [office("10.0.0.0/8")];
    let plan =
        collection::plan::<NamedLocation>(&desired, &[live("a1", "Office", "192.0.2.0/24")], false);
    assert_eq!(plan.changes.len(), 1);
    let update = &plan.changes[0];
    assert_eq!(update.method, "PATCH");
    assert_eq!(update.path, format!("{NAMED_LOCATIONS_PATH}/a1"));
    assert_eq!(
        update.body,
        json!({"@odata.type": "#microsoft.graph.ipNamedLocation",
               "ipRanges": [{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "10.0.0.0/8"}]})
    );
    let names: Vec<&str> = update.properties.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["ipRanges"]);
}

#[test]
fn undeclared_items_are_listed_and_deleted_only_when_pruning() {
    let desired = [office("10.0.0.0/8")];
    let tenant = [
        live("a1", "Office", "10.0.0.0/8"),
        live("b2", "Old VPN", "198.51.100.0/24"),
    ];
    let kept = collection::plan::<NamedLocation>(&desired, &tenant, false);
    assert!(kept.changes.is_empty());
    assert_eq!(kept.unmanaged.len(), 1);
    assert_eq!(
        (
            kept.unmanaged[0].display_name.as_str(),
            kept.unmanaged[0].deleted
        ),
        ("Old VPN", false)
    );
    let pruned = collection::plan::<NamedLocation>(&desired, &tenant, true);
    assert_eq!(pruned.changes.len(), 1);
    let delete = &pruned.changes[0];
    assert_eq!(
        (delete.method.as_str(), delete.path.as_str()),
        (
            "DELETE",
            "/v1.0/identity/conditionalAccess/namedLocations/b2"
        )
    );
    assert!(pruned.unmanaged[0].deleted);
    // Verification after apply: a deleted item still listed has not converged.
    assert!(collection::changed::<NamedLocation>(delete, &tenant).is_some());
    assert!(collection::changed::<NamedLocation>(delete, &tenant[..1]).is_none());
}

#[test]
fn an_overlay_merges_into_the_location_of_its_name_only() {
    let base = format!(
        "{}---\n{}",
        location("Office", "  ipRanges: [10.0.0.0/8]\n  isTrusted: false\n"),
        location("Branch", "  ipRanges: [10.1.0.0/16]\n")
    );
    let overlay = "apiVersion: mfactl/v1\nkind: NamedLocation\nmetadata: {name: Office, overlay: true}\nspec:\n  isTrusted: true\n";
    let out = load_str(&format!("{base}---\n{overlay}"));
    assert!(out.diagnostics.is_empty(), "{:?}", out.diagnostics);
    let items = declared(&out);
    let trusted = |name: &str| {
        items
            .iter()
            .find(|l| l.display_name == name)
            .map(|l| l.properties.get("isTrusted").cloned())
    };
    assert_eq!(trusted("Office"), Some(Some(json!(true))));
    assert_eq!(
        trusted("Branch"),
        Some(None),
        "the other location is untouched"
    );
}

#[test]
fn a_listing_without_ids_is_not_understood() {
    let nameless =
        json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "Office"});
    assert!(matches!(
        collection::check_live::<NamedLocation>(&[nameless]),
        Err(crate::kinds::PlanError::UnexpectedCollectionShape {
            collection: "namedLocations"
        })
    ));
    assert!(collection::check_live::<NamedLocation>(&[live("a1", "Office", "10.0.0.0/8")]).is_ok());
}

#[test]
fn live_locations_export_as_declarations_in_sync_with_them() {
    let ip = json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "id": "l1", "displayName": "Office",
        "createdDateTime": "2025-01-01T00:00:00Z", "modifiedDateTime": null, "isTrusted": true,
        "ipRanges": [{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "203.0.113.0/24"},
                     {"@odata.type": "#microsoft.graph.iPv6CidrRange", "cidrAddress": "2001:db8::/48"}]});
    let country = json!({"@odata.type": "#microsoft.graph.countryNamedLocation", "id": "l2", "displayName": "Home",
        "countriesAndRegions": ["GB", "IE"], "includeUnknownCountriesAndRegions": false,
        "countryLookupMethod": "clientIpAddress"});
    let spec = export::declarable(&ip).unwrap();
    assert_eq!(
        Value::Object(spec.clone()),
        json!({"ipRanges": ["203.0.113.0/24", "2001:db8::/48"], "isTrusted": true})
    );
    let home = export::declarable(&country).unwrap();
    assert_eq!(
        Value::Object(home.clone()),
        json!({"countriesAndRegions": ["GB", "IE"], "includeUnknownCountriesAndRegions": false, "countryLookupMethod": "clientIpAddress"})
    );
    let text = format!(
        "{}---\n{}",
        document(NamedLocation::NAME, "Office", &spec),
        document(NamedLocation::NAME, "Home", &home)
    );
    let out = load_str(&text);
    assert!(out.diagnostics.is_empty(), "{text}\n{:?}", out.diagnostics);
    let plan = collection::plan::<NamedLocation>(&declared(&out), &[ip, country], false);
    assert!(plan.changes.is_empty(), "{:?}", plan.changes);

    let unknown = json!({"@odata.type": "#microsoft.graph.compliantNetworkNamedLocation", "id": "l3", "displayName": "X"});
    let empty = json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "id": "l4", "displayName": "Y", "ipRanges": []});
    assert_eq!(export::declarable(&unknown), None);
    assert_eq!(export::declarable(&empty), None);
}
