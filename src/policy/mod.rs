//! The declared policy: YAML documents in `policies/*.yaml`, loaded and validated.
//!
//! Documents are Kubernetes-shaped (`apiVersion: mfactl/v1`, `kind`, `metadata.name`,
//! `spec`), several per file. Four kinds exist, each at most once per policy set:
//!
//! - `AuthenticationMethodsPolicy`: the spec holds Graph's own properties of
//!   `authenticationMethodsPolicy` (systemCredentialPreferences, registrationEnforcement,
//!   reportSuspiciousActivitySettings, policyMigrationState, ...) and, under `methods:`, one
//!   entry per method configuration, keyed by its documented path segment (`fido2`, `sms`,
//!   ...) or, for an external method, its GUID.
//! - `SecurityDefaults`: `spec: {enabled: true|false}`.
//! - `PerUserMfa`: legacy per-user MFA state (beta `users/{id}/authentication/requirements`),
//!   `spec: {state, exceptions: [{group | user, state}]}`.
//! - `SignInPreferences`: each user's default MFA method and system-preferred flag (beta
//!   `users/{id}/authentication/signInPreferences`), `spec: {rules: [{group | user, ...}]}`.
//!
//! The last two, their values and the order in which their exceptions and rules apply are
//! described in [`per_user`].
//!
//! Keys and values are checked against the Graph CSDL (through the emulator's
//! [`Schema`](crate::emulator::schema::Schema)); targets are normalised to Graph's
//! `{id, targetType}` ([`targets`]); then the service's documented rules and mfactl's safety
//! rules run ([`rules`]). Every problem is reported at once, with a stable code and the file,
//! line and column where it is written.
//!
//! # Diagnostic codes
//!
//! | code | severity | meaning |
//! |---|---|---|
//! | MFA000 | error | a path cannot be read, is not UTF-8, or holds no `*.yaml`/`*.yml` file |
//! | MFA001 | error | YAML syntax error (at the parser's position) |
//! | MFA002 | error | the same key twice in one mapping, or a key that is not a scalar |
//! | MFA003 | error | a document, its `metadata` or its `spec` is not a mapping |
//! | MFA004 | error | `apiVersion` missing or not `mfactl/v1` |
//! | MFA005 | error | `kind` missing or unknown (did you mean) |
//! | MFA006 | error | `metadata` / `metadata.name` missing or empty |
//! | MFA007 | error | `spec` missing or empty |
//! | MFA008 | error | unknown key (did you mean) |
//! | MFA009 | error | wrong value type (quoted `"true"`, YAML 1.2 `yes`, null where Graph forbids it, ...) |
//! | MFA010 | error | value not in the property's enum (did you mean) |
//! | MFA011 | error | unknown key under `methods` (did you mean) |
//! | MFA012 | error | read-only property or OData annotation declared |
//! | MFA013 | error | second document of the same kind (names both locations) |
//! | MFA014 | error | target without `group`/`user`/`id`, with several, or of a type the list does not take |
//! | MFA015 | error | systemCredentialPreferences with more than one include or exclude target |
//! | MFA016 | error | the same group or user both included and excluded |
//! | MFA017 | error | Temporary Access Pass length/lifetimes outside the limits |
//! | MFA018 | error | `numberMatchingRequiredState` declared |
//! | MFA019 | error | registration campaign snoozeDurationInDays outside 0–14 |
//! | MFA020 | error | registration campaign targeting a method other than microsoftAuthenticator |
//! | MFA021 | error | every MFA-capable method declared and none usable (lockout) |
//! | MFA022 | error | every MFA-capable method declared and fewer than two usable (Entra requires two) |
//! | MFA023 | warning | deprecated property declared |
//! | MFA024 | error | required key missing |
//! | MFA025 | warning | two SignInPreferences rules or PerUserMfa exceptions name the same group or user: the later exception, or the property the later rule repeats, never applies |
//! | MFA026 | warning | a SignInPreferences rule property that an earlier `all_users` rule already sets never applies |
//!
//! The same table is [`CODES`], for `mfactl explain`.

mod diagnostic;
mod document;
mod graph_types;
mod methods_policy;
pub mod per_user;
pub mod rules;
mod security_defaults;
mod spec;
mod suggest;
pub mod targets;
mod yaml;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use diagnostic::{CODES, CodeInfo, Diagnostic, Location, Severity, codes, severity_of};
pub use document::{API_VERSION, Kind};
pub use methods_policy::{DeclaredMethod, DeclaredMethodsPolicy, EXTERNAL_METHOD_TYPE};
pub use per_user::{
    DeclaredPerUserMfa, DeclaredSignInPreferences, PerUserMfaException, RuleTarget, SignInRule,
};
pub use security_defaults::DeclaredSecurityDefaults;
pub use targets::{ALL_USERS, UnresolvedTarget, unresolved_targets};

use diagnostic::{Finding, Pos};
use document::Declared;

/// Everything declared across the loaded files.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PolicySet {
    /// Every file read, in the order read.
    pub files: Vec<PathBuf>,
    /// The `AuthenticationMethodsPolicy` document, if one is declared.
    pub methods_policy: Option<DeclaredMethodsPolicy>,
    /// The `SecurityDefaults` document, if one is declared.
    pub security_defaults: Option<DeclaredSecurityDefaults>,
    /// The `PerUserMfa` document, if one is declared.
    pub per_user_mfa: Option<DeclaredPerUserMfa>,
    /// The `SignInPreferences` document, if one is declared.
    pub sign_in_preferences: Option<DeclaredSignInPreferences>,
}

/// The result of [`load`]: the policy set if it is usable, and every diagnostic.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadOutcome {
    /// `None` if any diagnostic is an error.
    pub set: Option<PolicySet>,
    /// Errors and warnings, sorted by file, line and column.
    pub diagnostics: Vec<Diagnostic>,
}

impl LoadOutcome {
    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }
}

/// Loads and validates policy files. Each path is a file, or a directory whose `*.yaml` and
/// `*.yml` files (recursively, sorted by path) are read.
pub fn load(paths: &[PathBuf]) -> LoadOutcome {
    let mut loader = Loader::default();
    let mut files = Vec::new();
    for path in paths {
        collect_files(path, &mut files, &mut loader.diagnostics);
    }
    let mut seen = std::collections::HashSet::new();
    files.retain(|f| seen.insert(f.clone()));
    for file in &files {
        match std::fs::read_to_string(file) {
            Ok(source) => loader.read(file, &source),
            Err(err) => loader.diagnostics.push(io_error(
                file,
                &format!("cannot read {}: {err}", file.display()),
            )),
        }
    }
    loader.finish(files)
}

/// The documents read so far, across files.
#[derive(Default)]
struct Loader {
    diagnostics: Vec<Diagnostic>,
    methods_policy: Option<DeclaredMethodsPolicy>,
    security_defaults: Option<DeclaredSecurityDefaults>,
    per_user_mfa: Option<DeclaredPerUserMfa>,
    sign_in_preferences: Option<DeclaredSignInPreferences>,
    /// Where the first document of each kind is.
    first: BTreeMap<Kind, Location>,
}

impl Loader {
    /// Reads every document of one file's text.
    fn read(&mut self, file: &Path, source: &str) {
        let source = source.strip_prefix('\u{feff}').unwrap_or(source);
        let (documents, mut findings) = yaml::parse(source);
        for doc in &documents {
            let Some(read) = document::read(doc, file, &mut findings) else {
                continue;
            };
            if let Some(earlier) = self.first.get(&read.kind) {
                findings.push(
                    Finding::new(
                        codes::DUPLICATE_KIND,
                        read.kind_pos,
                        format!(
                            "a second {} document; the first is at {earlier}",
                            read.kind.name()
                        ),
                    )
                    .help(format!(
                        "a policy set holds one {} document: merge the two",
                        read.kind.name()
                    )),
                );
                continue;
            }
            self.first.insert(read.kind, read.kind_pos.at(file));
            match read.declared {
                Some(Declared::MethodsPolicy(p)) => self.methods_policy = Some(p),
                Some(Declared::SecurityDefaults(s)) => self.security_defaults = Some(s),
                Some(Declared::PerUserMfa(p)) => self.per_user_mfa = Some(p),
                Some(Declared::SignInPreferences(s)) => self.sign_in_preferences = Some(s),
                None => {}
            }
        }
        self.diagnostics
            .extend(findings.into_iter().map(|f| f.in_file(file)));
    }

    /// The outcome: diagnostics sorted by location, and the set unless one is an error.
    fn finish(mut self, files: Vec<PathBuf>) -> LoadOutcome {
        self.diagnostics.sort_by(|a, b| a.location.cmp(&b.location));
        let usable = !self
            .diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error);
        let set = usable.then(|| PolicySet {
            files,
            methods_policy: self.methods_policy,
            security_defaults: self.security_defaults,
            per_user_mfa: self.per_user_mfa,
            sign_in_preferences: self.sign_in_preferences,
        });
        LoadOutcome {
            set,
            diagnostics: self.diagnostics,
        }
    }
}

fn io_error(path: &Path, message: &str) -> Diagnostic {
    Finding::new(codes::IO, Pos::START, message).in_file(path)
}

fn is_policy_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"))
}

fn collect_files(path: &Path, files: &mut Vec<PathBuf>, diagnostics: &mut Vec<Diagnostic>) {
    let metadata = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(err) => {
            diagnostics.push(io_error(
                path,
                &format!("cannot read {}: {err}", path.display()),
            ));
            return;
        }
    };
    if !metadata.is_dir() {
        files.push(path.to_path_buf());
        return;
    }
    let mut found = Vec::new();
    let mut pending = vec![path.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(err) => {
                diagnostics.push(io_error(
                    &dir,
                    &format!("cannot read {}: {err}", dir.display()),
                ));
                continue;
            }
        };
        for entry in entries {
            match entry {
                Ok(entry) => {
                    let p = entry.path();
                    if p.is_dir() {
                        pending.push(p);
                    } else if is_policy_file(&p) {
                        found.push(p);
                    }
                }
                Err(err) => diagnostics.push(io_error(
                    &dir,
                    &format!("cannot read {}: {err}", dir.display()),
                )),
            }
        }
    }
    if found.is_empty() {
        diagnostics.push(
            Finding::new(
                codes::IO,
                Pos::START,
                format!("{} holds no *.yaml or *.yml file", path.display()),
            )
            .help("point mfactl at the directory holding the policy files, or at a file")
            .in_file(path),
        );
    }
    found.sort();
    files.extend(found);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn load_str(source: &str) -> LoadOutcome {
        let mut loader = Loader::default();
        let file = PathBuf::from("mem.yaml");
        loader.read(&file, source);
        loader.finish(vec![file])
    }

    fn codes_at(outcome: &LoadOutcome) -> Vec<(&'static str, usize, usize)> {
        outcome
            .diagnostics
            .iter()
            .map(|d| (d.code, d.location.line, d.location.column))
            .collect()
    }

    const HEAD: &str =
        "apiVersion: mfactl/v1\nkind: AuthenticationMethodsPolicy\nmetadata: {name: t}\nspec:\n";

    #[test]
    fn several_documents_in_one_file_make_one_set() {
        let out = load_str(&format!(
            "{HEAD}  methods:\n    sms: {{state: disabled}}\n---\napiVersion: mfactl/v1\nkind: SecurityDefaults\nmetadata: {{name: sd}}\nspec: {{enabled: true}}\n"
        ));
        assert!(out.diagnostics.is_empty(), "{:?}", out.diagnostics);
        let set = out.set.unwrap();
        let policy = set.methods_policy.unwrap();
        assert_eq!(policy.name, "t");
        assert_eq!(policy.methods[0].id, "Sms");
        assert_eq!(
            policy.methods[0].properties,
            json!({"state": "disabled"}).as_object().cloned().unwrap()
        );
        assert!(set.security_defaults.unwrap().is_enabled);
    }

    #[test]
    fn a_second_document_of_a_kind_names_the_first() {
        let sd = "apiVersion: mfactl/v1\nkind: SecurityDefaults\nmetadata: {name: sd}\nspec: {enabled: true}\n";
        let out = load_str(&format!("{sd}---\n{sd}"));
        assert_eq!(codes_at(&out), [(codes::DUPLICATE_KIND, 7, 7)]);
        assert!(out.diagnostics[0].message.contains("mem.yaml:2:7"));
    }

    #[test]
    fn problems_in_envelope_and_spec_are_all_reported_in_order() {
        let out = load_str(
            "apiVersion: v2\nkind: AuthenticationMethodsPolicy\nspec:\n  methods:\n    fido: {}\n    sms: {state: on}\n",
        );
        assert_eq!(
            codes_at(&out),
            [
                (codes::MISSING_NAME, 1, 1),
                (codes::API_VERSION, 1, 13),
                (codes::UNKNOWN_METHOD, 5, 5),
                (codes::UNKNOWN_ENUM_VALUE, 6, 18),
            ]
        );
        assert!(out.set.is_none());
    }

    #[test]
    fn lockout_needs_every_mfa_method_declared() {
        let partial = load_str(&format!(
            "{HEAD}  methods:\n    sms: {{state: disabled}}\n    fido2: {{state: disabled}}\n"
        ));
        assert!(
            partial.diagnostics.is_empty(),
            "undeclared methods keep their tenant state"
        );
        let all: String = rules::MFA_CAPABLE
            .iter()
            .map(|m| format!("    {m}: {{state: disabled}}\n"))
            .collect();
        let locked = load_str(&format!("{HEAD}  methods:\n{all}"));
        assert_eq!(codes_at(&locked), [(codes::LOCKOUT, 5, 3)]);
        let external = load_str(&format!(
            "{HEAD}  methods:\n{all}    6c3e9a1b-2d4f-4e8a-9b0c-1d2e3f4a5b6c: {{state: enabled}}\n"
        ));
        assert_eq!(codes_at(&external), [(codes::SINGLE_METHOD, 5, 3)]);
        assert!(
            external.set.is_none(),
            "fewer than two usable methods is an error"
        );
    }

    #[test]
    fn empty_sources_declare_nothing() {
        for source in ["", "# only a comment\n", "---\n---\n", "\u{feff}"] {
            let out = load_str(source);
            assert!(out.diagnostics.is_empty(), "{source:?}");
            let set = out.set.unwrap();
            assert!(set.methods_policy.is_none() && set.security_defaults.is_none());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Whatever the text, the loader returns diagnostics with real positions, never panics.
        #[test]
        fn arbitrary_text_never_panics(body in "[a-zA-Z0-9:{}\\[\\],\"'&*!|>#@ \n-]{0,200}") {
            let out = load_str(&format!("{HEAD}{body}"));
            for d in &out.diagnostics {
                prop_assert!(d.location.line >= 1 && d.location.column >= 1, "{}", d);
            }
            prop_assert_eq!(out.set.is_none(), out.has_errors());
        }
    }
}
