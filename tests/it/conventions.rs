//! The conventions of the ecosystem, through the binary: `version` and `--version`,
//! `completions`, `validate -o json|sarif|github` (SARIF checked against the SARIF 2.1.0
//! schema, workflow commands against their grammar), and `--out` refusing a format's name.

use std::path::Path;

use serde_json::Value;

use crate::common::{self, code, stderr, stdout};

fn run(dir: &Path, args: &[&str]) -> std::process::Output {
    common::mfactl(dir, args, "").output().unwrap()
}

#[test]
fn version_names_the_commit_and_the_build_date() {
    let dir = common::temp_dir("version");
    let out = run(&dir, &["version"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let line = stdout(&out);
    assert_eq!(stdout(&run(&dir, &["--version"])), line);
    let rest = line
        .strip_prefix(&format!("mfactl {} (commit ", env!("CARGO_PKG_VERSION")))
        .unwrap_or_else(|| panic!("{line}"));
    let (commit, rest) = rest.split_once(", built ").unwrap();
    let date = rest.strip_suffix(")\n").unwrap();
    let d: Vec<&str> = date.split('-').collect();
    assert!(
        d.len() == 3 && [4, 2, 2] == [d[0].len(), d[1].len(), d[2].len()],
        "{date}"
    );
    assert!(
        date.chars().all(|c| c.is_ascii_digit() || c == '-'),
        "{date}"
    );
    // Built from a git checkout (as here and in CI), the commit is HEAD's.
    let head = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output();
    if let Some(head) = head.ok().filter(|h| h.status.success()) {
        let hash = commit.strip_suffix("-dirty").unwrap_or(commit);
        assert!(hash.len() >= 7, "{commit}");
        assert!(stdout(&head).starts_with(hash), "{commit} is not HEAD");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn completions_cover_every_subcommand_in_each_shell() {
    let dir = common::temp_dir("completions");
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let out = run(&dir, &["completions", shell]);
        assert_eq!(code(&out), 0, "{shell}: {}", stderr(&out));
        let script = stdout(&out);
        for verb in [
            "validate",
            "plan",
            "apply",
            "reconcile",
            "explain",
            "export",
            "notify",
            "emulator",
            "version",
            "completions",
        ] {
            assert!(script.contains(verb), "{shell} script lacks {verb}");
        }
        assert!(script.contains("all-tenants"), "{shell}");
    }
    assert_eq!(code(&run(&dir, &["completions", "tcsh"])), 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn out_refuses_a_format_name_and_says_to_use_o() {
    let dir = common::temp_dir("out-format");
    for name in ["json", "markdown", "Human"] {
        let out = run(&dir, &["plan", "--sandbox", "--out", name]);
        assert_eq!(code(&out), 2, "{}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!("-o {name}")),
            "{}",
            stderr(&out)
        );
        assert!(!dir.join(name).exists());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A repository with policies in `sub/policies`: a file with an unknown key (an error with
/// a help line) and one enabling voice calls (a lint warning), named with the characters
/// workflow commands and URIs must escape. Returns the repository and `sub`.
fn repository() -> (std::path::PathBuf, std::path::PathBuf) {
    let root = common::temp_dir("validate-formats");
    std::fs::create_dir_all(root.join(".git")).unwrap();
    let policies = root.join("sub/policies");
    std::fs::create_dir_all(&policies).unwrap();
    let bad = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/policies/bad");
    std::fs::copy(
        bad.join("mfa008-unknown-property.yaml"),
        policies.join("a, b: 100%.yaml"),
    )
    .unwrap();
    std::fs::copy(
        bad.join("mfa028-voice-enabled.yaml"),
        policies.join("voice.yaml"),
    )
    .unwrap();
    (root.clone(), root.join("sub"))
}

fn json_diagnostics(sub: &Path) -> Vec<Value> {
    let out = run(sub, &["validate", "--policies", "policies", "-o", "json"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["formatVersion"], 1);
    assert_eq!(doc["valid"], false);
    let diagnostics = doc["diagnostics"].as_array().unwrap().clone();
    let codes: Vec<&str> = diagnostics
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert!(
        codes.contains(&"MFA008") && codes.contains(&"MFA028"),
        "{codes:?}"
    );
    let unknown = diagnostics.iter().find(|d| d["code"] == "MFA008").unwrap();
    assert_eq!(unknown["file"], "sub/policies/a, b: 100%.yaml");
    assert_eq!(
        (unknown["line"].as_u64(), unknown["column"].as_u64()),
        (Some(6), Some(3))
    );
    diagnostics
}

/// Checks a SARIF log against the official SARIF 2.1.0 JSON schema.
fn assert_valid_sarif(log: &Value) {
    let schema: Value =
        serde_json::from_str(include_str!("../fixtures/sarif/sarif-schema-2.1.0.json")).unwrap();
    let validator = jsonschema::draft4::new(&schema).expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(log)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

#[test]
fn sarif_validates_against_the_sarif_2_1_0_schema_and_matches_the_diagnostics() {
    let (root, sub) = repository();
    let diagnostics = json_diagnostics(&sub);
    let out = run(&sub, &["validate", "--policies", "policies", "-o", "sarif"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let log: Value = serde_json::from_str(&stdout(&out)).unwrap();

    assert_valid_sarif(&log);

    assert_eq!(log["version"], "2.1.0");
    let runs = log["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    let driver = &runs[0]["tool"]["driver"];
    assert_eq!(driver["name"], "mfactl");
    assert_eq!(driver["version"], env!("CARGO_PKG_VERSION"));
    assert!(
        driver["informationUri"]
            .as_str()
            .unwrap()
            .starts_with("https://")
    );
    let rules = driver["rules"].as_array().unwrap();
    let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    let codes: Vec<&str> = mfactl::policy::CODES.iter().map(|c| c.code).collect();
    assert_eq!(ids, codes);
    assert!(
        rules
            .iter()
            .all(|r| !r["shortDescription"]["text"].as_str().unwrap().is_empty())
    );

    let results = runs[0]["results"].as_array().unwrap();
    assert_eq!(results.len(), diagnostics.len());
    for (r, d) in results.iter().zip(&diagnostics) {
        assert_eq!(r["ruleId"], d["code"]);
        let index = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index]["id"], d["code"]);
        assert_eq!(r["level"], d["severity"]);
        assert!(
            r["message"]["text"]
                .as_str()
                .unwrap()
                .starts_with(d["message"].as_str().unwrap())
        );
        let location = &r["locations"][0]["physicalLocation"];
        let uri = location["artifactLocation"]["uri"].as_str().unwrap();
        assert!(!uri.contains(' ') && !uri.contains(','), "{uri}");
        let decoded = percent_encoding::percent_decode_str(uri)
            .decode_utf8()
            .unwrap();
        assert_eq!(decoded, d["file"].as_str().unwrap());
        assert_eq!(location["region"]["startLine"], d["line"]);
        assert_eq!(location["region"]["startColumn"], d["column"]);
    }
    let _ = std::fs::remove_dir_all(&root);
}

/// A workflow command's escaped text decoded, after checking that only the escapes GitHub
/// defines occur and that nothing in `forbidden` is left unescaped.
fn unescape(s: &str, forbidden: &[char]) -> String {
    for c in forbidden {
        assert!(!s.contains(*c), "unescaped {c:?} in {s:?}");
    }
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let escape = rest
            .get(i..i + 3)
            .unwrap_or_else(|| panic!("bad escape in {s:?}"));
        out.push(match escape {
            "%25" => '%',
            "%0D" => '\r',
            "%0A" => '\n',
            "%3A" if forbidden.contains(&':') => ':',
            "%2C" if forbidden.contains(&',') => ',',
            other => panic!("{other} is no workflow-command escape in {s:?}"),
        });
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    out
}

/// One line parsed by the workflow-command grammar:
/// `::(error|warning|notice)[ key=value(,key=value)*]::data`.
fn parse_command(line: &str) -> (String, Vec<(String, String)>, String) {
    let body = line.strip_prefix("::").unwrap_or_else(|| panic!("{line}"));
    let (head, data) = body.split_once("::").unwrap_or_else(|| panic!("{line}"));
    let (command, properties) = head.split_once(' ').unwrap_or((head, ""));
    assert!(
        ["error", "warning", "notice"].contains(&command),
        "{command} in {line}"
    );
    let properties = properties
        .split(',')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or_else(|| panic!("{p} in {line}"));
            assert!(
                ["title", "file", "col", "endColumn", "line", "endLine"].contains(&k),
                "{k} in {line}"
            );
            (k.to_string(), unescape(v, &[',', ':', '\r', '\n']))
        })
        .collect();
    (command.into(), properties, unescape(data, &['\r', '\n']))
}

#[test]
fn github_format_is_one_workflow_command_per_diagnostic() {
    let (root, sub) = repository();
    let diagnostics = json_diagnostics(&sub);
    let out = run(
        &sub,
        &["validate", "--policies", "policies", "-o", "github"],
    );
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), diagnostics.len(), "{text}");
    for (line, d) in lines.iter().zip(&diagnostics) {
        let (command, properties, data) = parse_command(line);
        assert_eq!(command, d["severity"].as_str().unwrap());
        let get = |k: &str| {
            properties
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("no {k} in {line}"))
        };
        assert_eq!(get("file"), d["file"].as_str().unwrap());
        assert_eq!(get("line"), d["line"].to_string());
        assert_eq!(get("col"), d["column"].to_string());
        assert_eq!(get("title"), d["code"].as_str().unwrap());
        let expected = match d["help"].as_str() {
            Some(help) => format!("{}\nhelp: {help}", d["message"].as_str().unwrap()),
            None => d["message"].as_str().unwrap().to_string(),
        };
        assert_eq!(data, expected);
    }
    assert!(
        text.contains("file=sub/policies/a%2C b%3A 100%25.yaml,line=6,col=3,title=MFA008::"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn valid_policies_give_an_empty_sarif_run_and_exit_0() {
    let dir = common::temp_dir("validate-clean");
    common::copy_methods_baseline(&dir);
    let out = run(&dir, &["validate", "-o", "sarif"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let log: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(log["runs"][0]["results"], Value::Array(vec![]));
    let out = run(&dir, &["validate", "-o", "github"]);
    assert_eq!((code(&out), stdout(&out)), (0, String::new()));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The ```` ```mermaid ```` blocks of a Markdown document, each with the line before it.
fn mermaid_blocks(md: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut rest = md;
    while let Some(start) = rest.find("```mermaid\n") {
        let body = &rest[start..];
        let end = body[3..].find("```").unwrap() + 6;
        blocks.push(body[..end].to_string());
        rest = &body[end..];
    }
    blocks
}

#[test]
fn the_markdown_plan_draws_the_prompt_impact_and_who_must_do_mfa_in_mermaid() {
    let dir = common::temp_dir("mermaid");
    common::copy_whole_baseline(&dir);
    let out = run(&dir, &["plan", "--sandbox", "-o", "markdown"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let md = stdout(&out);
    let blocks = mermaid_blocks(&md);
    assert_eq!(blocks.len(), 2, "{md}");
    // Beside the tables they draw: each follows its section's table.
    let impact = md.find("#### Impact on sign-in prompts").unwrap();
    let coverage = md.find("#### Who must do MFA").unwrap();
    let first = md.find("```mermaid").unwrap();
    assert!(impact < first && first < coverage, "{md}");
    for block in &blocks {
        for line in block.lines().filter(|l| l.contains('"')) {
            // Labels are whole quoted strings: no stray quote ends one early.
            assert_eq!(line.matches('"').count() % 2, 0, "{line}");
        }
    }
    insta::assert_snapshot!("sandbox_plan_mermaid", blocks.join("\n"));
    let _ = std::fs::remove_dir_all(&dir);
}

fn changed_resources(plan: &Value) -> Vec<String> {
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["resource"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn target_plans_and_applies_only_the_named_resources_with_terraforms_warning() {
    let dir = common::temp_dir("target");
    common::copy_whole_baseline(&dir);
    let whole: Value =
        serde_json::from_slice(&run(&dir, &["plan", "--sandbox", "-o", "json"]).stdout).unwrap();
    assert!(
        changed_resources(&whole)
            .iter()
            .any(|r| r.starts_with("authenticationMethod"))
    );

    let out = run(
        &dir,
        &[
            "plan",
            "--sandbox",
            "-o",
            "json",
            "--target",
            "ConditionalAccessPolicy",
            "--target",
            "SecurityDefaults",
        ],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Resource targeting is in effect"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("not for routine use"),
        "{}",
        stderr(&out)
    );
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    let resources = changed_resources(&plan);
    assert!(
        resources
            .iter()
            .any(|r| r.starts_with("conditionalAccessPolicies/")),
        "{resources:?}"
    );
    assert!(
        resources
            .iter()
            .any(|r| r == "identitySecurityDefaultsEnforcementPolicy"),
        "{resources:?}"
    );
    assert!(
        resources
            .iter()
            .all(|r| r.starts_with("conditionalAccessPolicies/")
                || r == "identitySecurityDefaultsEnforcementPolicy"),
        "{resources:?}"
    );
    assert!(
        plan.get("userChanges").is_none(),
        "per-user MFA is not targeted"
    );

    // apply: only the methods policy is sent, then verified.
    let out = run(
        &dir,
        &[
            "apply",
            "--sandbox",
            "--yes",
            "-o",
            "json",
            "--target",
            "AuthenticationMethodsPolicy",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("Resource targeting is in effect"));
    let done: Value = serde_json::from_slice(&out.stdout).unwrap();
    let applied = done["applied"].as_array().unwrap();
    assert!(!applied.is_empty());
    assert!(
        applied.iter().all(|c| c["resource"]
            .as_str()
            .unwrap()
            .starts_with("authenticationMethod")),
        "{done:#}"
    );
    assert_eq!(done["verified"], true);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn target_refuses_an_unknown_kind_or_name_as_a_usage_error() {
    let dir = common::temp_dir("target-bad");
    common::copy_whole_baseline(&dir);
    for (target, says) in [
        ("ConditionalAccess", "one of NamedLocation"),
        (
            "ConditionalAccessPolicy/Nobody's policy",
            "'Require MFA for all users'",
        ),
        ("SecurityDefaults/x", "without a name"),
        ("NamedLocation", "no NamedLocation is declared"),
    ] {
        let out = run(&dir, &["plan", "--sandbox", "--target", target]);
        assert_eq!(code(&out), 2, "{target}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{target}: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "{target}: no plan");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn silenced_lints_are_sarif_results_suppressed_in_source_with_their_reason() {
    let dir = common::temp_dir("sarif-silenced");
    let policies = dir.join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/policies/silenced/weak-on-purpose.yaml"),
        policies.join("weak-on-purpose.yaml"),
    )
    .unwrap();
    let out = run(&dir, &["validate", "-o", "sarif"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let log: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_valid_sarif(&log);
    let results = log["runs"][0]["results"].as_array().unwrap();
    let suppressed: Vec<&Value> = results
        .iter()
        .filter(|r| r.get("suppressions").is_some())
        .collect();
    assert!(suppressed.len() >= 4, "{results:#?}");
    let voice = suppressed
        .iter()
        .find(|r| r["ruleId"] == "MFA028")
        .expect("the silenced voice lint");
    assert_eq!(voice["suppressions"][0]["kind"], "inSource");
    assert_eq!(
        voice["suppressions"][0]["justification"],
        "the call centre has no smartphones"
    );
    assert_eq!(
        voice["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "policies/weak-on-purpose.yaml"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
