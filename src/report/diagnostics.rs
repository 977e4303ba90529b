//! `validate -o`: the policy files' diagnostics for machines — versioned JSON, SARIF 2.1.0
//! for code-scanning uploads, and GitHub Actions workflow commands that annotate the line of
//! the pull request that caused each one.
//!
//! Paths are given relative to the repository's root (the caller finds it), with `/` as
//! separator, as code scanning and workflow commands resolve them.

use std::path::{Component, Path, PathBuf};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};

use crate::policy::{CODES, Diagnostic, Location, Severity, Silenced};

/// Output formats of `validate` (`-o`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiagnosticsFormat {
    /// One line per problem on stderr, `file:line:column: error[MFA008]: …`.
    Human,
    /// `{"formatVersion", "valid", "diagnostics": [...]}` on stdout.
    Json,
    /// SARIF 2.1.0 on stdout, for `github/codeql-action/upload-sarif` and other code-scanning tools.
    Sarif,
    /// GitHub Actions workflow commands on stdout (`::error file=…,line=…,col=…::…`).
    Github,
}

/// [`json`]'s `formatVersion`.
pub const FORMAT_VERSION: u32 = 1;

/// Where the diagnostics' files are, to name them relative to the repository.
#[derive(Debug, Clone)]
pub struct Root {
    /// The working directory, against which relative paths were given.
    pub cwd: PathBuf,
    /// The repository's root (the working directory outside a repository).
    pub repo: PathBuf,
}

impl Root {
    /// `file` relative to the repository's root with `/` separators; a file outside it as
    /// written, made absolute.
    pub fn relative(&self, file: &Path) -> String {
        let absolute = normalise(&self.cwd.join(file));
        let shown = absolute
            .strip_prefix(normalise(&self.repo))
            .map(Path::to_path_buf)
            .unwrap_or(absolute);
        // mfactl runs on Unix, where `/` already separates the components.
        shown.to_string_lossy().into_owned()
    }
}

/// `.` and `..` resolved lexically (symbolic links are not followed).
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

fn text(d: &Diagnostic) -> String {
    match &d.help {
        Some(help) => format!("{}\nhelp: {help}", d.message),
        None => d.message.clone(),
    }
}

/// The diagnostics as versioned JSON, pretty-printed, ending with a newline.
pub fn json(diagnostics: &[Diagnostic], root: &Root) -> String {
    let items: Vec<Value> = diagnostics
        .iter()
        .map(|d| {
            json!({
                "code": d.code,
                "severity": severity(d.severity),
                "file": root.relative(&d.location.file),
                "line": d.location.line,
                "column": d.location.column,
                "message": d.message,
                "help": d.help,
            })
        })
        .collect();
    let doc = json!({
        "formatVersion": FORMAT_VERSION,
        "valid": !diagnostics.iter().any(|d| d.severity == Severity::Error),
        "diagnostics": items,
    });
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}

/// What a SARIF `artifactLocation.uri` (a URI reference) must escape in a path: everything
/// but unreserved characters and `/`.
const URI_PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// One SARIF result: a rule, a level, a message and where.
fn result(code: &str, level: Severity, text: String, location: &Location, root: &Root) -> Value {
    let mut result = json!({
        "ruleId": code,
        "level": severity(level),
        "message": {"text": text},
        "locations": [{
            "physicalLocation": {
                "artifactLocation": {
                    "uri": utf8_percent_encode(&root.relative(&location.file), URI_PATH).to_string(),
                    "uriBaseId": "%SRCROOT%",
                },
                "region": {
                    "startLine": location.line.max(1),
                    "startColumn": location.column.max(1),
                },
            },
        }],
    });
    if let Some(index) = CODES.iter().position(|c| c.code == code) {
        result["ruleIndex"] = json!(index);
    }
    result
}

/// One SARIF 2.1.0 log with one run: the tool, a rule for every diagnostic code, a result
/// for every diagnostic, and the lints that an annotation silenced as results suppressed in
/// source with its reason (code scanning shows them dismissed); pretty-printed, ending with
/// a newline.
pub fn sarif(diagnostics: &[Diagnostic], silenced: &[Silenced], root: &Root) -> String {
    let rules: Vec<Value> = CODES
        .iter()
        .map(|c| {
            json!({
                "id": c.code,
                "shortDescription": {"text": c.summary},
                "defaultConfiguration": {"level": severity(c.severity)},
            })
        })
        .collect();
    let mut results: Vec<Value> = diagnostics
        .iter()
        .map(|d| result(d.code, d.severity, text(d), &d.location, root))
        .collect();
    results.extend(silenced.iter().map(|s| {
        let mut r = result(
            s.code,
            Severity::Warning,
            s.message.clone(),
            &s.location,
            root,
        );
        r["suppressions"] = json!([{"kind": "inSource", "justification": s.reason}]);
        r
    }));
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "mfactl",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": env!("CARGO_PKG_REPOSITORY"),
                "rules": rules,
            }},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    });
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}

/// A workflow command's message: `%`, CR and LF escaped.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value: as data, and `:` and `,` escaped too.
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// One GitHub Actions workflow command per diagnostic (`::error file=…,line=…,col=…,title=…::…`),
/// each ending with a newline.
pub fn github(diagnostics: &[Diagnostic], root: &Root) -> String {
    diagnostics
        .iter()
        .map(|d| {
            format!(
                "::{} file={},line={},col={},title={}::{}\n",
                severity(d.severity),
                escape_property(&root.relative(&d.location.file)),
                d.location.line,
                d.location.column,
                escape_property(d.code),
                escape_data(&text(d)),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> Root {
        Root {
            cwd: PathBuf::from("/repo/sub"),
            repo: PathBuf::from("/repo"),
        }
    }

    #[test]
    fn paths_are_relative_to_the_repository_with_slashes() {
        let r = root();
        assert_eq!(
            r.relative(Path::new("policies/a.yaml")),
            "sub/policies/a.yaml"
        );
        assert_eq!(r.relative(Path::new("../p/a.yaml")), "p/a.yaml");
        assert_eq!(r.relative(Path::new("/repo/p/a.yaml")), "p/a.yaml");
        assert_eq!(
            r.relative(Path::new("/elsewhere/a.yaml")),
            "/elsewhere/a.yaml"
        );
    }

    #[test]
    fn workflow_commands_escape_data_and_properties() {
        let d = Diagnostic {
            code: "MFA008",
            severity: Severity::Warning,
            location: Location {
                file: PathBuf::from("/repo/a,b:c%.yaml"),
                line: 3,
                column: 5,
            },
            message: "100% wrong,\r\nreally: yes".into(),
            help: None,
        };
        assert_eq!(
            github(&[d], &root()),
            "::warning file=a%2Cb%3Ac%25.yaml,line=3,col=5,title=MFA008::100%25 wrong,%0D%0Areally: yes\n"
        );
    }
}
