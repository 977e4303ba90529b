//! The house rules of `src/`, read from the source: dependencies between top-level modules
//! point one way (no cycle), and product code never imports the emulator, its test double.
//!
//! A reference is any `crate::<module>` path outside a comment, in a `use` line or inline,
//! including those inside `use crate::{a, b::c}` groups. A file's top-level module is its
//! first path component under `src/` (`src/plan/live.rs` is in `plan`).
//!
//! Unit tests are not product code: an item under `#[cfg(test)]` (a `mod tests { … }`
//! block) and the files of a module declared under it (`#[cfg(test)] mod tests;`, with
//! everything below it) are left out, so that a kind's tests may load YAML through the
//! loader above it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The files of product code allowed to import `crate::emulator`: the sandbox and the
/// `emulator` verb. The emulator's own files are its own business.
const EMULATOR_USERS: &[&str] = &["sandbox.rs", "cli/emulator.rs"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The text of a source file with its comments and the contents of its string and character
/// literals blanked out: `"crate::x"` in a string is not an import.
fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0usize;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == '"' {
            // A string literal (raw strings in src/ hold no `"` before their end).
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' && (chars.get(i + 2) == Some(&'\'') || next == Some('\\')) {
            // A character literal (`'"'`, `'\''`), not a lifetime.
            i += 2;
            while i < chars.len() && chars[i] != '\'' {
                i += 1;
            }
            i += 1;
            out.push_str("' '");
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Where the block that opens at `open` (a `{`) closes, just past its `}`.
fn block_end(code: &str, open: usize) -> usize {
    let mut depth = 0usize;
    for (i, c) in code[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return open + i + 1;
                }
            }
            _ => {}
        }
    }
    code.len()
}

/// `code` (comments and strings already blanked) without its `#[cfg(test)]` items, and the
/// names of the modules it declares under `#[cfg(test)]` in their own files.
fn without_tests(code: &str) -> (String, Vec<String>) {
    const MARK: &str = "#[cfg(test)]";
    let mut out = String::with_capacity(code.len());
    let mut test_modules = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find(MARK) {
        out.push_str(&rest[..at]);
        let item = &rest[at + MARK.len()..];
        let end = match (item.find('{'), item.find(';')) {
            (Some(open), semi) if semi.is_none_or(|semi| open < semi) => block_end(item, open),
            (_, Some(semi)) => {
                let declaration = item[..semi].trim();
                if let Some(name) = declaration.strip_prefix("mod ") {
                    test_modules.push(name.trim().to_string());
                }
                semi + 1
            }
            _ => item.len(),
        };
        rest = &item[end..];
    }
    out.push_str(rest);
    (out, test_modules)
}

/// The directory (relative to src/) in which the modules a file declares live:
/// `plan/mod.rs` and `lib.rs` declare beside themselves, `plan/live.rs` in `plan/live/`.
fn child_dir(rel: &str) -> String {
    let (dir, file) = rel.rsplit_once('/').unwrap_or(("", rel));
    let stem = file.strip_suffix(".rs").unwrap_or(file);
    let own = if matches!(stem, "mod" | "lib" | "main") {
        dir.to_string()
    } else if dir.is_empty() {
        stem.to_string()
    } else {
        format!("{dir}/{stem}")
    };
    if own.is_empty() {
        own
    } else {
        format!("{own}/")
    }
}

/// Whether `rel` is the file of a test-only module `prefix` (`kinds/per_user/tests`), or
/// below it.
fn in_test_module(rel: &str, prefixes: &[String]) -> bool {
    prefixes
        .iter()
        .any(|p| rel == format!("{p}.rs") || rel.starts_with(&format!("{p}/")))
}

/// The top-level modules a file's code references through `crate::`.
fn references(code: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // `mycrate::`, not `crate::`.
        }
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a, b::{c, d}, e}`: the first segment of each top-level item.
            let mut depth = 0usize;
            let mut item_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if c.is_whitespace() => {}
                    _ if item_start && depth == 0 => {
                        item_start = false;
                        let name = ident(&group[i..]);
                        if modules.contains(&name) {
                            found.insert(name);
                        }
                    }
                    _ => {}
                }
            }
        } else {
            let name = ident(rest);
            if modules.contains(&name) {
                found.insert(name);
            }
        }
    }
    found
}

struct Source {
    /// Top-level modules.
    modules: BTreeSet<String>,
    /// module -> module it references -> the files (relative to src/) that do.
    edges: BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
    /// Files (relative to src/) whose code references `crate::emulator`.
    emulator_users: BTreeSet<String>,
    /// Modules declared under `#[cfg(test)]` in files of their own, as paths relative to
    /// src/ without `.rs`.
    test_only: Vec<String>,
}

fn read_source() -> Source {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let module_of = |rel: &str| -> String {
        let first = rel.split('/').next().unwrap_or(rel);
        first.strip_suffix(".rs").unwrap_or(first).to_string()
    };
    let rels: Vec<String> = files
        .iter()
        .map(|f| {
            f.strip_prefix(&src)
                .unwrap_or(f)
                .to_string_lossy()
                .replace('\\', "/")
        })
        .collect();
    let modules: BTreeSet<String> = rels
        .iter()
        .map(|r| module_of(r))
        .filter(|m| m != "lib" && m != "main")
        .collect();
    let mut edges: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    let mut emulator_users = BTreeSet::new();
    let mut codes = Vec::new();
    let mut test_only: Vec<String> = Vec::new();
    for (file, rel) in files.iter().zip(&rels) {
        let text = std::fs::read_to_string(file)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
        let (code, test_modules) = without_tests(&code_only(&text));
        let dir = child_dir(rel);
        test_only.extend(test_modules.into_iter().map(|m| format!("{dir}{m}")));
        codes.push(code);
    }
    for (rel, code) in rels.iter().zip(&codes) {
        if in_test_module(rel, &test_only) {
            continue;
        }
        let mut refs = references(code, &modules);
        // The binary reaches the library as `mfactl::`.
        if rel == "main.rs" {
            refs.extend(references(&code.replace("mfactl::", "crate::"), &modules));
        }
        let from = module_of(rel);
        if refs.contains("emulator") && from != "emulator" {
            emulator_users.insert(rel.clone());
        }
        if from == "lib" || from == "main" {
            continue;
        }
        for to in refs.into_iter().filter(|to| *to != from) {
            edges
                .entry(from.clone())
                .or_default()
                .entry(to)
                .or_default()
                .insert(rel.clone());
        }
    }
    Source {
        modules,
        edges,
        emulator_users,
        test_only,
    }
}

/// A cycle through `start`, if there is one: the modules in order, `start` first.
fn cycle_through(
    start: &str,
    edges: &BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
) -> Option<Vec<String>> {
    fn walk(
        at: &str,
        start: &str,
        edges: &BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        for next in edges.get(at).into_iter().flat_map(|m| m.keys()) {
            if next == start {
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if walk(next, start, edges, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.to_string()];
    let mut seen = BTreeSet::new();
    walk(start, start, edges, &mut path, &mut seen).then_some(path)
}

#[test]
fn top_level_modules_depend_on_each_other_one_way() {
    let source = read_source();
    assert!(
        source.modules.len() > 10 && source.edges.len() > 10,
        "the scanner found the modules and their references: {:?}",
        source.modules
    );
    let mut cycles = Vec::new();
    let mut reported = BTreeSet::new();
    for module in &source.modules {
        if reported.contains(module) {
            continue;
        }
        if let Some(cycle) = cycle_through(module, &source.edges) {
            let mut lines = Vec::new();
            for (i, from) in cycle.iter().enumerate() {
                let to = &cycle[(i + 1) % cycle.len()];
                let files = &source.edges[from][to];
                lines.push(format!(
                    "  {from} -> {to} ({})",
                    files.iter().cloned().collect::<Vec<_>>().join(", ")
                ));
            }
            reported.extend(cycle.iter().cloned());
            cycles.push(lines.join("\n"));
        }
    }
    assert!(
        cycles.is_empty(),
        "top-level modules import each other in a cycle:\n{}",
        cycles.join("\n\n")
    );
}

#[test]
fn only_the_sandbox_and_the_emulator_verb_import_the_emulator() {
    let source = read_source();
    let strays: Vec<&String> = source
        .emulator_users
        .iter()
        .filter(|f| !EMULATOR_USERS.contains(&f.as_str()))
        .collect();
    assert!(
        strays.is_empty(),
        "product code imports crate::emulator (Graph knowledge belongs in crate::msgraph): {strays:?}"
    );
    assert!(
        source.emulator_users.contains("sandbox.rs"),
        "the scanner sees the sandbox's use of the emulator: {:?}",
        source.emulator_users
    );
}

#[test]
fn the_scanner_reads_groups_and_skips_comments_and_strings() {
    let modules: BTreeSet<String> = ["plan", "graph", "policy", "printer", "apply"]
        .into_iter()
        .map(String::from)
        .collect();
    let code = code_only(
        "use crate::{plan::{self, Plan}, graph::GraphClient,\n printer};\n\
         // use crate::apply;\n/// [`crate::apply`]\n/* crate::apply */\n\
         let s = \"crate::apply \\\" crate::apply\";\nlet q = '\"';\nlet x = crate::policy::load(p);\nmycrate::apply::x();\n",
    );
    let found: Vec<String> = references(&code, &modules).into_iter().collect();
    assert_eq!(found, ["graph", "plan", "policy", "printer"]);
    let mut edges: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (a, b) in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")] {
        edges
            .entry(a.into())
            .or_default()
            .entry(b.into())
            .or_default();
    }
    assert_eq!(
        cycle_through("a", &edges),
        Some(vec!["a".to_string(), "b".into(), "c".into()])
    );
    assert_eq!(cycle_through("d", &edges), None);
}

#[test]
fn test_code_is_left_out_and_nothing_else() {
    let (code, modules) = without_tests(
        "use crate::plan;\n#[cfg(test)]\nmod tests {\n    use crate::policy::{a, b};\n    fn f() { if x { y } }\n}\n#[cfg(test)]\nmod fixtures;\nuse crate::graph;\n",
    );
    let all: BTreeSet<String> = ["plan", "policy", "graph"].map(String::from).into();
    let found: Vec<String> = references(&code, &all).into_iter().collect();
    assert_eq!(found, ["graph", "plan"]);
    assert_eq!(modules, ["fixtures"]);
    assert_eq!(child_dir("kinds/per_user/mod.rs"), "kinds/per_user/");
    assert_eq!(child_dir("simulate/explain.rs"), "simulate/explain/");
    assert_eq!(child_dir("lib.rs"), "");
    let prefixes = ["kinds/per_user/tests".to_string()];
    assert!(in_test_module("kinds/per_user/tests.rs", &prefixes));
    assert!(in_test_module("kinds/per_user/tests/values.rs", &prefixes));
    assert!(!in_test_module("kinds/per_user/testsuite.rs", &prefixes));
    // The test modules of src/ are found where they are declared.
    let source = read_source();
    assert!(
        source
            .test_only
            .contains(&"kinds/per_user/tests".to_string()),
        "{:?}",
        source.test_only
    );
}
