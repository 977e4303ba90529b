//! Per-tenant overlays on a shared base: documents with `metadata.overlay: true` merge into
//! the document of their kind — mappings merge, lists replace, null removes a key.

use std::path::{Path, PathBuf};

use mfactl::policy::{Severity, load};
use serde_json::json;

struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn dir(files: &[(&str, &str)]) -> Dir {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let root = std::env::temp_dir().join(format!(
        "mfactl-it-overlay-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    for (name, text) in files {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    Dir(root)
}

const BASE: &str = "apiVersion: mfactl/v1
kind: AuthenticationMethodsPolicy
metadata: {name: shared}
spec:
  policyMigrationState: migrationComplete
  reportSuspiciousActivitySettings:
    state: enabled
    includeTarget: {group: all_users}
  methods:
    sms:
      state: disabled
    fido2:
      state: enabled
      isSelfServiceRegistrationAllowed: true
      includeTargets:
        - group: all_users
";

const OVERLAY: &str = "apiVersion: mfactl/v1
kind: AuthenticationMethodsPolicy
metadata: {name: contoso, overlay: true}
spec:
  reportSuspiciousActivitySettings: null
  methods:
    sms:
      state: enabled
    fido2:
      includeTargets:
        - group: 6e1d4c2a-0b7f-4a55-9c3e-2f1a8b7d9e01
";

fn paths(d: &Dir, names: &[&str]) -> Vec<PathBuf> {
    names.iter().map(|n| d.0.join(n)).collect()
}

#[test]
fn maps_merge_lists_replace_and_null_removes() {
    let d = dir(&[
        ("base/methods.yaml", BASE),
        ("contoso/methods.yaml", OVERLAY),
    ]);
    let out = load(&paths(&d, &["base", "contoso"]));
    assert!(out.diagnostics.is_empty(), "{:?}", out.diagnostics);
    let policy = out.set.unwrap().methods_policy.unwrap();
    assert_eq!(policy.name, "shared", "the base document's name");
    assert_eq!(
        serde_json::Value::Object(policy.properties.clone()),
        json!({"policyMigrationState": "migrationComplete"}),
        "reportSuspiciousActivitySettings removed, the rest kept"
    );
    let method = |id: &str| {
        policy
            .methods
            .iter()
            .find(|m| m.key == id)
            .map(|m| serde_json::Value::Object(m.properties.clone()))
            .unwrap()
    };
    assert_eq!(method("sms"), json!({"state": "enabled"}));
    assert_eq!(
        method("fido2"),
        json!({
            "state": "enabled",
            "isSelfServiceRegistrationAllowed": true,
            "includeTargets": [{"id": "6e1d4c2a-0b7f-4a55-9c3e-2f1a8b7d9e01", "targetType": "group"}]
        }),
        "the list replaced whole, its siblings kept"
    );
    // Without the overlay, the base alone.
    let base = load(&paths(&d, &["base"]))
        .set
        .unwrap()
        .methods_policy
        .unwrap();
    assert_eq!(
        base.methods
            .iter()
            .find(|m| m.key == "sms")
            .unwrap()
            .properties["state"],
        json!("disabled")
    );
}

#[test]
fn overlays_apply_in_order_and_one_without_a_base_declares_its_kind() {
    let second = "apiVersion: mfactl/v1\nkind: AuthenticationMethodsPolicy\nmetadata: {name: late, overlay: true}\nspec:\n  methods:\n    sms: {state: disabled}\n";
    let sd = "apiVersion: mfactl/v1\nkind: SecurityDefaults\nmetadata: {name: sd, overlay: true}\nspec: {enabled: false}\n";
    let d = dir(&[
        ("base/methods.yaml", BASE),
        ("a/methods.yaml", OVERLAY),
        ("b/methods.yaml", second),
        ("b/sd.yaml", sd),
    ]);
    let set = load(&paths(&d, &["base", "a", "b"])).set.unwrap();
    let policy = set.methods_policy.unwrap();
    assert_eq!(
        policy
            .methods
            .iter()
            .find(|m| m.key == "sms")
            .unwrap()
            .properties["state"],
        json!("disabled"),
        "the later overlay wins"
    );
    assert!(!set.security_defaults.unwrap().is_enabled);
}

#[test]
fn a_problem_in_an_overlay_is_reported_once_at_the_overlay() {
    let bad = OVERLAY.replace("      state: enabled\n", "      stat: enabled\n");
    let dd = dir(&[("base/methods.yaml", BASE), ("contoso/methods.yaml", &bad)]);
    let out = load(&paths(&dd, &["base", "contoso"]));
    assert!(out.set.is_none());
    let errors: Vec<String> = out
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| {
            format!(
                "{}:{}:{} {}",
                rel(&d.location.file, &dd.0),
                d.location.line,
                d.location.column,
                d.code
            )
        })
        .collect();
    assert_eq!(
        errors,
        ["contoso/methods.yaml:8:7 MFA008"],
        "{:?}",
        out.diagnostics
    );
}

fn rel(file: &Path, root: &Path) -> String {
    file.strip_prefix(root)
        .unwrap_or(file)
        .display()
        .to_string()
}

#[test]
fn a_non_boolean_overlay_flag_is_an_error() {
    let d = dir(&[(
        "x.yaml",
        "apiVersion: mfactl/v1\nkind: SecurityDefaults\nmetadata: {name: sd, overlay: \"yes\"}\nspec: {enabled: true}\n",
    )]);
    let out = load(&[d.0.join("x.yaml")]);
    assert_eq!(
        out.diagnostics
            .iter()
            .map(|d| (d.code, d.location.line, d.location.column))
            .collect::<Vec<_>>(),
        [("MFA009", 3, 31)]
    );
}
