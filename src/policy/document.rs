//! The Kubernetes-shaped envelope of every document: `apiVersion`, `kind`, `metadata`, `spec`.

use std::path::Path;

use super::lints::{self, Silence};
use crate::kinds::{Declared, KindId, Spec};
use crate::source::diagnostic::{Finding, Pos, codes};
use crate::source::suggest;
use crate::source::yaml::{Document, Node, NodeKind};

/// The only `apiVersion` this release reads.
pub const API_VERSION: &str = "mfactl/v1";

const ENVELOPE_KEYS: &[&str] = &["apiVersion", "kind", "metadata", "spec"];
const METADATA_KEYS: &[&str] = &["name", "labels", "annotations", "overlay"];

/// A document whose kind is known: where the kind is written, and what it declares (if its
/// spec could be read at all).
pub(crate) struct KindedDocument {
    pub(crate) kind: KindId,
    /// Its kind and, for a collection kind, its name.
    pub(crate) key: DocKey,
    pub(crate) kind_pos: Pos,
    pub(crate) declared: Option<Declared>,
    /// The lints its `mfactl.io/silence-<code>` annotations silence.
    pub(crate) silences: Vec<Silence>,
}

/// What identifies a document in a policy set: its kind and, for a collection kind, its
/// `metadata.name` (empty for the other kinds, declared at most once).
pub(crate) type DocKey = (KindId, String);

/// The key of a document whose kind is known, from its root mapping.
pub(crate) fn key_of(kind: KindId, root: &Node) -> DocKey {
    let name = if kind.is_collection() {
        root.get("metadata")
            .and_then(|m| m.value.get("name"))
            .and_then(|n| n.value.as_str())
            .map(|n| n.trim().to_string())
            .unwrap_or_default()
    } else {
        String::new()
    };
    (kind, name)
}

/// The key of a document of a known kind, if it has one.
pub(crate) fn doc_key(doc: &Document) -> Option<DocKey> {
    let root = doc.root.as_ref()?;
    let kind = KindId::named(root.get("kind")?.value.as_str()?)?;
    Some(key_of(kind, root))
}

/// The key of an overlay document (`metadata.overlay: true`), if it is one and its kind is
/// known. Overlays merge into the document of the same key from the base: see
/// [`super::load`].
pub(crate) fn overlay_key(doc: &Document) -> Option<DocKey> {
    let overlay = doc
        .root
        .as_ref()?
        .get("metadata")?
        .value
        .get("overlay")?
        .value
        .as_bool()?;
    doc_key(doc).filter(|_| overlay)
}

/// Reads one document. `None` for an empty document or one whose kind is unknown.
pub(crate) fn read(
    doc: &Document,
    file: &Path,
    findings: &mut Vec<Finding>,
) -> Option<KindedDocument> {
    let root = doc.root.as_ref()?;
    if root.is_null() {
        return None;
    }
    let Some(entries) = root.entries() else {
        findings.push(
            Finding::new(
                codes::NOT_A_MAPPING,
                root.pos,
                format!(
                    "a policy document must be a mapping, found {}",
                    root.describe()
                ),
            )
            .help("start the document with `apiVersion: mfactl/v1` and `kind: ...`"),
        );
        return None;
    };
    for e in entries {
        if !ENVELOPE_KEYS.contains(&e.key.as_str()) {
            findings.push(
                Finding::new(
                    codes::UNKNOWN_KEY,
                    e.key_pos,
                    format!(
                        "unknown key `{}`: a document has apiVersion, kind, metadata and spec",
                        e.key
                    ),
                )
                .maybe_help(suggest::help(&e.key, ENVELOPE_KEYS.iter().copied())),
            );
        }
    }
    api_version(root, findings);
    let mut silences = Vec::new();
    let name = metadata(root, &mut silences, findings);
    let kind = kind(root, findings);
    let spec = match root.get("spec") {
        None => {
            findings.push(
                Finding::new(codes::MISSING_SPEC, root.pos, "the document has no `spec`")
                    .help("add `spec:` with the settings to declare"),
            );
            None
        }
        Some(e) if e.value.is_null() => {
            findings.push(
                Finding::new(codes::MISSING_SPEC, e.key_pos, "`spec` is empty")
                    .help("declare at least one setting under `spec:`, or remove the document"),
            );
            None
        }
        // An overlay may only remove keys (`key: null`), which leaves its spec empty when
        // checked alone.
        Some(e) if e.value.entries().is_some_and(<[_]>::is_empty) && overlay_key(doc).is_none() => {
            findings.push(
                Finding::new(codes::MISSING_SPEC, e.value.pos, "`spec` is empty (`{}`)")
                    .help("declare at least one setting under `spec:`, or remove the document"),
            );
            None
        }
        Some(e) if e.value.entries().is_none() => {
            findings.push(Finding::new(
                codes::NOT_A_MAPPING,
                e.value.pos,
                format!("`spec` must be a mapping, found {}", e.value.describe()),
            ));
            None
        }
        Some(e) => Some(e),
    };
    let (kind, kind_pos) = kind?;
    let declared = spec.and_then(|spec| {
        let (declared, found) = kind.declare(&Spec {
            node: &spec.value,
            key_pos: spec.key_pos,
            name: name.unwrap_or_default(),
            document: root.pos.at(file),
            file,
        });
        findings.extend(found);
        declared
    });
    Some(KindedDocument {
        kind,
        key: key_of(kind, root),
        kind_pos,
        declared,
        silences,
    })
}

fn api_version(root: &Node, findings: &mut Vec<Finding>) {
    match root.get("apiVersion") {
        None => findings.push(
            Finding::new(
                codes::API_VERSION,
                root.pos,
                "the document has no `apiVersion`",
            )
            .help(format!("add `apiVersion: {API_VERSION}`")),
        ),
        Some(e) if e.value.as_str() != Some(API_VERSION) => findings.push(
            Finding::new(
                codes::API_VERSION,
                e.value.pos,
                format!(
                    "`apiVersion` is {}; this release reads {API_VERSION}",
                    e.value.describe()
                ),
            )
            .help(format!("write `apiVersion: {API_VERSION}`")),
        ),
        Some(_) => {}
    }
}

fn kind(root: &Node, findings: &mut Vec<Finding>) -> Option<(KindId, Pos)> {
    let names: Vec<&str> = KindId::ALL.iter().map(|k| k.name()).collect();
    let Some(e) = root.get("kind") else {
        findings.push(
            Finding::new(codes::UNKNOWN_KIND, root.pos, "the document has no `kind`")
                .help(format!("add `kind:` with one of {}", names.join(", "))),
        );
        return None;
    };
    let given = e.value.as_str().unwrap_or_default();
    if let Some(kind) = KindId::named(given) {
        return Some((kind, e.value.pos));
    }
    let help = suggest::help(given, names.iter().copied())
        .unwrap_or_else(|| format!("the kinds are {}", names.join(", ")));
    findings.push(
        Finding::new(
            codes::UNKNOWN_KIND,
            e.value.pos,
            format!("`kind` is {}, which is no known kind", e.value.describe()),
        )
        .help(help),
    );
    None
}

/// Checks `metadata`, collects the lints its annotations silence, and returns
/// `metadata.name` if it is usable.
fn metadata(
    root: &Node,
    silences: &mut Vec<Silence>,
    findings: &mut Vec<Finding>,
) -> Option<String> {
    let Some(meta) = root.get("metadata") else {
        findings.push(
            Finding::new(
                codes::MISSING_NAME,
                root.pos,
                "the document has no `metadata.name`",
            )
            .help("add `metadata: {name: <a name for this policy>}`"),
        );
        return None;
    };
    let Some(entries) = meta.value.entries() else {
        let (code, message) = if meta.value.is_null() {
            (
                codes::MISSING_NAME,
                "`metadata` is empty: it needs a `name`".to_string(),
            )
        } else {
            (
                codes::NOT_A_MAPPING,
                format!(
                    "`metadata` must be a mapping, found {}",
                    meta.value.describe()
                ),
            )
        };
        let pos = if meta.value.is_null() {
            meta.key_pos
        } else {
            meta.value.pos
        };
        findings.push(
            Finding::new(code, pos, message)
                .help("write `metadata: {name: <a name for this policy>}`"),
        );
        return None;
    };
    for e in entries {
        match e.key.as_str() {
            "name" => {}
            "overlay" => {
                if e.value.as_bool().is_none() {
                    findings.push(
                        Finding::new(
                            codes::WRONG_TYPE,
                            e.value.pos,
                            format!(
                                "`metadata.overlay` must be true or false, found {}",
                                e.value.describe()
                            ),
                        )
                        .help("write `overlay: true` in a document that adjusts a shared base"),
                    );
                }
            }
            "labels" => string_map(&e.key, &e.value, findings),
            "annotations" => {
                string_map(&e.key, &e.value, findings);
                for a in e.value.entries().unwrap_or_default() {
                    if lints::is_silence(&a.key) {
                        silences.extend(lints::silence(a, findings));
                    }
                }
            }
            other => findings.push(
                Finding::new(
                    codes::UNKNOWN_KEY,
                    e.key_pos,
                    format!(
                        "unknown key `{other}` in metadata: it has name, labels and annotations"
                    ),
                )
                .maybe_help(suggest::help(other, METADATA_KEYS.iter().copied())),
            ),
        }
    }
    match meta.value.get("name") {
        None => {
            findings.push(
                Finding::new(
                    codes::MISSING_NAME,
                    meta.key_pos,
                    "`metadata` has no `name`",
                )
                .help("add `name: <a name for this policy>` under metadata"),
            );
            None
        }
        Some(e) => match e.value.as_str().map(str::trim) {
            Some(name) if !name.is_empty() => Some(name.to_string()),
            _ => {
                findings.push(
                    Finding::new(
                        codes::MISSING_NAME,
                        e.value.pos,
                        format!(
                            "`metadata.name` must be a non-empty string, found {}",
                            e.value.describe()
                        ),
                    )
                    .help("name the policy, e.g. `name: contoso-mfa`"),
                );
                None
            }
        },
    }
}

fn string_map(key: &str, node: &Node, findings: &mut Vec<Finding>) {
    let ok = match &node.kind {
        // A silencing annotation's value is checked (and reported) by lints::silence.
        NodeKind::Map(entries) => entries
            .iter()
            .all(|e| e.value.as_str().is_some() || lints::is_silence(&e.key)),
        _ => false,
    };
    if !ok {
        findings.push(Finding::new(
            codes::WRONG_TYPE,
            node.pos,
            format!("`metadata.{key}` must map strings to strings"),
        ));
    }
}
