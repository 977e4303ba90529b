//! The declared policy: YAML documents in `policies/*.yaml`, loaded and validated.
//!
//! Documents are Kubernetes-shaped (`apiVersion: mfactl/v1`, `kind`, `metadata.name`,
//! `spec`), several per file. A `NamedLocation` is keyed by its `metadata.name` (one document
//! per location); the other kinds are declared at most once per policy set:
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
//! - `NamedLocation`: IP ranges or countries (`/identity/conditionalAccess/namedLocations`).
//!
//! Each kind's spec, its values and the order in which its exceptions and rules apply are
//! described in its own folder under `crate::kinds`; this module is the loader every kind
//! shares: files, the envelope ([`document`]), overlays, repeats, silencing and the lints
//! that need two documents ([`lints`]).
//!
//! Keys and values are checked against the Graph CSDL
//! ([`Schema`](crate::msgraph::schema::Schema)); targets are normalised to Graph's
//! `{id, targetType}` ([`targets`]); then the service's documented rules and mfactl's safety
//! rules run (`crate::kinds::methods_policy::rules`). Every problem is reported at once, with
//! a stable code and the file, line and column where it is written.
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
//! | MFA013 | error | second document of the same kind, or of the same name for a `NamedLocation` (names both locations) |
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
//! | MFA027 | warning | lint: `sms` declared `state: enabled` with an include target that says `isUsableForSignIn: true` or leaves it out (Graph's default is true); EIDSCA.AS04 |
//! | MFA028 | warning | lint: `voice` declared `state: enabled` (and not `includeTargets: []`); voice never signs in, but EIDSCA.AV01 recommends it off |
//! | MFA029 | warning | lint: `systemCredentialPreferences.state` declared `disabled` |
//! | MFA030 | warning | lint: `systemCredentialPreferences.state` declared `enabled` or `default` with `excludeTargets` empty or not declared (no break-glass exclusion) |
//! | MFA031 | warning | lint: the registration campaign's `state` declared `disabled` |
//! | MFA032 | warning | lint: PerUserMfa `state` or an exception `enabled`/`enforced` while SecurityDefaults declares `enabled: true` |
//! | MFA033 | error | a `mfactl.io/silence-<code>` annotation without a reason (empty or not a string) |
//! | MFA034 | error | a `mfactl.io/silence-<code>` annotation naming an unknown code or a code that is not a lint |
//! | MFA035 | warning | lint: SecurityDefaults declared `enabled: false` while nothing declared requires MFA in their place (a PerUserMfa `state: enabled`/`enforced`) |
//! | MFA036 | error | a file exceeds an input bound: 16 MiB, 2,000,000 nodes after alias expansion, 10,000 aliases, 64 levels of nesting (at the byte, node or alias that crosses it) |
//! | MFA037 | error | no policy document is declared in the files read |
//! | MFA038 | error | plan time: a group display name or UPN in a target does not resolve in the tenant to exactly one object (did you mean; how many groups share the name) |
//! | MFA039 | error | a Conditional Access policy applies to nobody or to no resource, or does nothing |
//! | MFA040 | error | a Conditional Access policy requires both `mfa` and an authentication strength |
//! | MFA041 | error | SecurityDefaults `enabled: true` with a Conditional Access policy `state: enabled` |
//! | MFA042 | warning | lint: a Conditional Access policy, enabled or report-only, requiring MFA of or blocking `includeUsers: [All]` with no excludeUsers, excludeGroups or excludeRoles (no break-glass exclusion) |
//! | MFA043 | warning | lint: PerUserMfa `state` or an exception `enabled`/`enforced` while an enabled Conditional Access policy requires MFA |
//! | MFA044 | warning | lint: SecurityDefaults `enabled: false` while no enabled Conditional Access policy blocks legacy authentication |
//! | MFA045 | warning | lint: an AuthenticationStrength whose every combination needs a method the declared AuthenticationMethodsPolicy turns off |
//!
//! MFA027–MFA032, MFA035 and MFA042–MFA045 are the lints ([`LINTS`], described in
//! [`lints`]): legal settings that weaken MFA. A document silences one reported in it with
//! `metadata.annotations: {mfactl.io/silence-MFA028: "<reason>"}`; a silenced lint is not in
//! [`LoadOutcome::diagnostics`] but in [`LoadOutcome::silenced`].
//!
//! MFA038 ([`PLAN_TIME`]) is not found by [`load`]: only `plan` (and apply, reconcile) can
//! see it, when it resolves names against the tenant (`crate::tenant::names`).
//!
//! The same table is [`CODES`], for `mfactl explain`.

mod document;
pub mod lints;

pub use crate::source::{files, targets};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use crate::kinds::PolicySet;
pub use crate::source::diagnostic::{
    CODES, CodeInfo, Diagnostic, LINTS, Location, PLAN_TIME, Severity, codes, severity_of,
};
pub use crate::source::{BoundedYamlError, read_bounded_yaml};
pub use document::API_VERSION;
pub use lints::{SILENCE_PREFIX, Silenced};
pub use targets::{ALL_USERS, UnresolvedTarget, unresolved_targets};

use crate::kinds::KindId;
use crate::source::diagnostic::{self, Finding, Pos};
use crate::source::yaml;
use document::DocKey;

/// The result of [`load`]: the policy set if it is usable, and every diagnostic.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadOutcome {
    /// `None` if any diagnostic is an error.
    pub set: Option<PolicySet>,
    /// Errors and warnings, sorted by file, line and column; silenced lints are not here.
    pub diagnostics: Vec<Diagnostic>,
    /// The lints a `mfactl.io/silence-<code>` annotation silenced, sorted by location.
    pub silenced: Vec<Silenced>,
}

impl LoadOutcome {
    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }

    /// The line `validate` prints about silenced lints, if any was silenced.
    pub fn silenced_note(&self) -> Option<String> {
        (!self.silenced.is_empty()).then(|| {
            format!(
                "{} lint warning(s) silenced by {SILENCE_PREFIX}<code> annotations.",
                self.silenced.len()
            )
        })
    }
}

/// Loads and validates policy files. Each path is a file, or a directory whose policy files
/// are read as [`files`] describes.
pub fn load(paths: &[PathBuf]) -> LoadOutcome {
    load_excluding(paths, &[])
}

/// [`load`], never reading one of `excluded` (the configuration file in use) as a policy.
pub fn load_excluding(paths: &[PathBuf], excluded: &[PathBuf]) -> LoadOutcome {
    let mut loader = Loader::default();
    let files = files::collect(paths, excluded, &mut loader.diagnostics);
    // Each file is read (within its size bound) and parsed once, and its text dropped. The
    // overlay documents of every file are taken before any base document is read, because
    // an overlay merges into its kind's document wherever that is.
    let mut parsed = Vec::with_capacity(files.len());
    for file in &files {
        match yaml::read_file(file, &yaml::LIMITS) {
            Ok(source) => {
                let (documents, findings) = loader.parse(file, &source);
                parsed.push((file, documents, findings));
            }
            Err(yaml::ReadFailure::TooLarge(finding)) => {
                loader.diagnostics.push(finding.in_file(file));
            }
            Err(yaml::ReadFailure::Io(err)) => loader.diagnostics.push(files::io_error(
                file,
                format!("cannot read {}: {err}", file.display()),
            )),
        }
    }
    for (file, documents, findings) in parsed {
        loader.read_parsed(file, documents, findings);
    }
    loader.read_orphan_overlays();
    loader.require_a_document(paths, &files);
    loader.finish(files)
}

/// The documents read so far, across files.
#[derive(Default)]
struct Loader {
    diagnostics: Vec<Diagnostic>,
    /// What the first document of each kind declares (`files` is filled at the end).
    set: PolicySet,
    /// Where the first document of each key (kind, and name for a collection kind) is.
    first: BTreeMap<DocKey, Location>,
    /// The lints the first document of each key silences.
    silences: BTreeMap<DocKey, Vec<lints::Silence>>,
    /// Lints found and silenced.
    silenced: Vec<Silenced>,
    /// Overlay documents by kind, in the order read, with their files.
    overlays: BTreeMap<DocKey, Vec<(yaml::Node, PathBuf)>>,
}

impl Loader {
    /// Reads every document of one file's text, its overlays merged in.
    #[cfg(test)]
    fn read(&mut self, file: &Path, source: &str) {
        let (documents, findings) = self.parse(file, source);
        self.read_parsed(file, documents, findings);
    }

    /// Parses one file's text. Its overlay documents (`metadata.overlay: true`) are taken
    /// here: each is checked on its own (its removals left out) and kept, its positions
    /// marked as its file's. The other documents are returned, with the parser's findings.
    fn parse(&mut self, file: &Path, source: &str) -> (Vec<yaml::Document>, Vec<Finding>) {
        let source = source.strip_prefix('\u{feff}').unwrap_or(source);
        let (documents, findings) = yaml::parse(source);
        let mut base = Vec::with_capacity(documents.len());
        for doc in documents {
            let Some(key) = document::overlay_key(&doc) else {
                base.push(doc);
                continue;
            };
            let Some(mut root) = doc.root else {
                continue;
            };
            root.tag_file(diagnostic::file_number(file));
            let mut found = Vec::new();
            let alone = yaml::Document {
                root: Some(root.without_nulls()),
            };
            document::read(&alone, file, &mut found);
            // An overlay declares only what it changes: what is missing is checked once it
            // is merged (or, with no base, when it declares the kind itself).
            found.retain(|f| f.code != codes::MISSING_KEY);
            self.diagnostics
                .extend(found.into_iter().map(|f| f.in_file(file)));
            self.overlays
                .entry(key)
                .or_default()
                .push((root, file.to_path_buf()));
        }
        (base, findings)
    }

    /// Reads one file's parsed documents, with the overlays of their kind merged in.
    fn read_parsed(&mut self, file: &Path, documents: Vec<yaml::Document>, findings: Vec<Finding>) {
        let documents = documents.into_iter().map(|d| self.overlaid(d)).collect();
        self.read_documents(file, documents, findings);
    }

    /// `doc` with the overlays of its key merged into its `spec`, in the order read.
    fn overlaid(&self, mut doc: yaml::Document) -> yaml::Document {
        let key = document::doc_key(&doc);
        let (Some(key), Some(root)) = (key, doc.root.as_mut()) else {
            return doc;
        };
        let Some(overlays) = self.overlays.get(&key) else {
            return doc;
        };
        if let Some(spec) = root.get_mut("spec") {
            for (overlay, _) in overlays {
                if let Some(top) = overlay.get("spec") {
                    spec.value.overlay(&top.value);
                }
            }
        }
        doc
    }

    /// Overlays of a kind the base does not declare declare it themselves: the first, its
    /// removals left out, with the others merged into it.
    fn read_orphan_overlays(&mut self) {
        let orphans: Vec<Vec<(yaml::Node, PathBuf)>> = self
            .overlays
            .iter()
            .filter(|(key, _)| !self.first.contains_key(*key))
            .map(|(_, list)| list.clone())
            .collect();
        for list in orphans {
            let Some(((first, file), rest)) = list.split_first() else {
                continue;
            };
            let mut root = first.without_nulls();
            if let Some(spec) = root.get_mut("spec") {
                for (overlay, _) in rest {
                    if let Some(top) = overlay.get("spec") {
                        spec.value.overlay(&top.value);
                    }
                }
            }
            self.read_documents(file, vec![yaml::Document { root: Some(root) }], Vec::new());
        }
    }

    /// Reads parsed documents of one file.
    fn read_documents(
        &mut self,
        file: &Path,
        documents: Vec<yaml::Document>,
        mut findings: Vec<Finding>,
    ) {
        for doc in &documents {
            let start = findings.len();
            let Some(read) = document::read(doc, file, &mut findings) else {
                continue;
            };
            // This document's own lints, unless it silences them.
            let mut own = findings.split_off(start);
            own.retain(|f| match read.silences.iter().find(|s| s.code == f.code) {
                Some(s) => {
                    self.silenced.push(Silenced {
                        code: f.code,
                        location: f.pos.at(file),
                        message: f.message.clone(),
                        reason: s.reason.clone(),
                    });
                    false
                }
                None => true,
            });
            findings.extend(own);
            if let Some(earlier) = self.first.get(&read.key) {
                let kind = read.kind.name();
                let (message, help) = if read.kind.is_collection() {
                    (
                        format!(
                            "a second {kind} named `{}`; the first is at {earlier}",
                            read.key.1
                        ),
                        format!(
                            "a {kind} is keyed by its name, its display name in the tenant: rename one, or merge the two"
                        ),
                    )
                } else {
                    (
                        format!("a second {kind} document; the first is at {earlier}"),
                        format!("a policy set holds one {kind} document: merge the two"),
                    )
                };
                findings
                    .push(Finding::new(codes::DUPLICATE_KIND, read.kind_pos, message).help(help));
                continue;
            }
            self.first.insert(read.key.clone(), read.kind_pos.at(file));
            self.silences.insert(read.key, read.silences);
            if let Some(declared) = read.declared {
                self.set.insert(declared);
            }
        }
        self.diagnostics
            .extend(findings.into_iter().map(|f| f.in_file(file)));
    }

    /// An empty declaration is an error (MFA037), never "in sync": a truncated checkout or a
    /// wrong path must not look like a tenant that matches. Reported once the files could be
    /// read (an unreadable path has its own error), at the first path looked in.
    fn require_a_document(&mut self, paths: &[PathBuf], files: &[PathBuf]) {
        // Any error (an unreadable path, a document of an unknown kind) says more than this.
        if !self.first.is_empty()
            || self
                .diagnostics
                .iter()
                .any(|d| d.severity == Severity::Error)
        {
            return;
        }
        let looked = paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let read = match files {
            [] => String::new(),
            [one] => format!(" (read {})", one.display()),
            many => format!(" (read {} files)", many.len()),
        };
        let at = paths.first().map_or_else(PathBuf::new, PathBuf::clone);
        self.diagnostics.push(
            Finding::new(
                codes::NO_DOCUMENT,
                Pos::START,
                format!("no policy document is declared in {looked}{read}"),
            )
            .help(
                "a policy set declares at least one document (apiVersion: mfactl/v1, kind, metadata, spec); \
                 check the path and that the checkout is complete",
            )
            .in_file(&at),
        );
    }

    /// The outcome: diagnostics sorted by location, and the set unless one is an error.
    fn finish(mut self, files: Vec<PathBuf>) -> LoadOutcome {
        self.cross_document_lints();
        self.diagnostics.sort_by(|a, b| a.location.cmp(&b.location));
        // An overlay's problem is found when it is checked alone and again once merged.
        self.diagnostics.dedup();
        self.silenced.sort_by(|a, b| a.location.cmp(&b.location));
        let usable = !self
            .diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error);
        let mut set = self.set;
        set.files = files;
        let set = usable.then_some(set);
        LoadOutcome {
            set,
            diagnostics: self.diagnostics,
            silenced: self.silenced,
        }
    }

    /// Lints that need two documents, each reported in and silenced by one of them: MFA032
    /// and MFA043 by the PerUserMfa document, MFA035 and MFA044 by the SecurityDefaults
    /// document, MFA045 by the AuthenticationStrength document. MFA041, an error, is not
    /// silenced.
    fn cross_document_lints(&mut self) {
        let set = &self.set;
        let policies = &set.conditional_access_policies;
        let mut found: Vec<(DocKey, Location, Finding)> = Vec::new();
        let per_user_key = (KindId::PerUserMfa, String::new());
        let defaults_key = (KindId::SecurityDefaults, String::new());
        if let Some(per_user) = &set.per_user_mfa {
            let with_defaults = set
                .security_defaults
                .as_ref()
                .and_then(|defaults| lints::per_user_with_defaults(per_user, defaults));
            let with_policies = lints::per_user_with_policies(per_user, policies);
            for (at, finding) in with_defaults.into_iter().chain(with_policies) {
                found.push((per_user_key.clone(), at, finding));
            }
        }
        if let Some(defaults) = &set.security_defaults {
            let unreplaced =
                lints::defaults_off_unreplaced(defaults, set.per_user_mfa.as_ref(), policies);
            let legacy_open = lints::defaults_off_legacy_open(defaults, policies);
            for finding in unreplaced.into_iter().chain(legacy_open) {
                found.push((defaults_key.clone(), defaults.location.clone(), finding));
            }
            let refused = lints::defaults_with_enabled_policies(defaults, policies);
            self.diagnostics.extend(refused);
        }
        if let Some(methods) = &set.methods_policy {
            let off = crate::kinds::hardware_oath::declared_off(methods, &set.hardware_oath_tokens);
            self.diagnostics.extend(off);
            for strength in &set.authentication_strengths {
                if let Some((at, finding)) = lints::unusable_strength(methods, strength) {
                    let key = (
                        KindId::AuthenticationStrength,
                        strength.display_name.clone(),
                    );
                    found.push((key, at, finding));
                }
            }
        }
        for (key, at, finding) in found {
            self.report_lint(&key, at, finding);
        }
    }

    /// Reports a lint found at `at`, unless the first document of `key` silences it.
    fn report_lint(&mut self, key: &DocKey, at: Location, finding: Finding) {
        let silence = self
            .silences
            .get(key)
            .and_then(|s| s.iter().find(|s| s.code == finding.code));
        match silence {
            Some(s) => self.silenced.push(Silenced {
                code: finding.code,
                location: at,
                message: finding.message,
                reason: s.reason.clone(),
            }),
            None => self.diagnostics.push(finding.in_file(&at.file)),
        }
    }
}

/// What the loader's unit tests share: load one in-memory file, and list where each
/// diagnostic is.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// Loads `source` as the one file `mem.yaml`.
    pub(crate) fn load_str(source: &str) -> LoadOutcome {
        let mut loader = Loader::default();
        let file = PathBuf::from("mem.yaml");
        loader.read(&file, source);
        loader.finish(vec![file])
    }

    /// An AuthenticationMethodsPolicy whose spec starts on line 6 (annotations on line 5).
    pub(crate) fn policy(annotations: &str, spec: &str) -> String {
        format!(
            "apiVersion: mfactl/v1\nkind: AuthenticationMethodsPolicy\nmetadata:\n  name: t\n  annotations: {{{annotations}}}\nspec:\n{spec}"
        )
    }

    /// Loads `source` as [`load_str`] does, and fails the test if anything is reported.
    #[track_caller]
    pub(crate) fn assert_quiet(source: &str) {
        let out = load_str(source);
        assert!(
            out.diagnostics.is_empty(),
            "{source}\n{:?}",
            out.diagnostics
        );
    }

    /// Loads `source` as [`load_str`] does, and fails the test unless nothing is reported and
    /// `expected` (code, line, column, reason) is every lint silenced, in order.
    #[track_caller]
    pub(crate) fn assert_silenced(source: &str, expected: &[(&str, usize, usize, &str)]) {
        let out = load_str(source);
        assert!(
            out.diagnostics.is_empty(),
            "{source}\n{:?}",
            out.diagnostics
        );
        assert_eq!(silenced_at(&out), expected);
    }

    /// (code, line, column, reason) of every silenced lint, in order.
    pub(crate) fn silenced_at(outcome: &LoadOutcome) -> Vec<(&'static str, usize, usize, &str)> {
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

    /// (code, line, column) of every diagnostic, in order.
    pub(crate) fn codes_at(outcome: &LoadOutcome) -> Vec<(&'static str, usize, usize)> {
        outcome
            .diagnostics
            .iter()
            .map(|d| (d.code, d.location.line, d.location.column))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{codes_at, load_str};
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

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
        let all: String = crate::kinds::methods_policy::rules::MFA_CAPABLE
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
