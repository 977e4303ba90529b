//! docs/cli.md and `--help` agree: for every command, the `--long` flags listed under its
//! heading are exactly those its `--help` offers, and the global flags likewise.

use std::collections::{BTreeMap, BTreeSet};

use clap::CommandFactory;

/// The `--flags` of each `## ` section of docs/cli.md, by heading: every `` `--name`` on a
/// list line.
fn documented() -> BTreeMap<String, BTreeSet<String>> {
    let text = include_str!("../../docs/cli.md");
    let mut sections: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut current = None;
    for line in text.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            current = Some(heading.to_string());
            sections.entry(heading.to_string()).or_default();
            continue;
        }
        let (Some(section), true) = (&current, line.starts_with("- ")) else {
            continue;
        };
        for (i, _) in line.match_indices("`--") {
            let name: String = line[i + 3..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            sections.get_mut(section).unwrap().insert(name);
        }
    }
    sections
}

/// Every command's own `--long` flags (not the global ones, not `--help`), by its heading
/// (`mfactl plan`, `mfactl notify test`), and the global flags under `Global flags`.
fn offered() -> BTreeMap<String, BTreeSet<String>> {
    fn walk(cmd: &clap::Command, path: &str, out: &mut BTreeMap<String, BTreeSet<String>>) {
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            let path = format!("{path} {}", sub.get_name());
            if sub.has_subcommands() {
                walk(sub, &path, out);
                continue;
            }
            let flags = sub
                .get_arguments()
                .filter(|a| !a.is_global_set())
                .filter_map(|a| a.get_long())
                .filter(|l| *l != "help")
                .map(String::from)
                .collect();
            out.insert(path, flags);
        }
    }
    let mut cmd = mfactl::cli::Cli::command();
    cmd.build();
    let mut out = BTreeMap::new();
    walk(&cmd, "mfactl", &mut out);
    let globals = cmd
        .get_arguments()
        .filter_map(|a| a.get_long())
        .filter(|l| *l != "help")
        .map(String::from)
        .collect();
    out.insert("Global flags".into(), globals);
    out
}

#[test]
fn docs_cli_md_lists_exactly_the_flags_each_help_offers() {
    let documented = documented();
    let offered = offered();
    assert!(offered.len() >= 11, "{offered:?}");
    let mut problems = Vec::new();
    for (command, flags) in &offered {
        let Some(listed) = documented.get(command) else {
            problems.push(format!("docs/cli.md has no heading `## {command}`"));
            continue;
        };
        for f in flags.difference(listed) {
            problems.push(format!("{command}: --{f} is in --help, not in docs/cli.md"));
        }
        for f in listed.difference(flags) {
            problems.push(format!("{command}: --{f} is in docs/cli.md, not in --help"));
        }
    }
    for heading in documented.keys().filter(|h| h.starts_with("mfactl ")) {
        if !offered.contains_key(heading) {
            problems.push(format!(
                "docs/cli.md documents `{heading}`, which is no command"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn help_points_to_the_reference() {
    let dir = crate::common::temp_dir("help");
    for args in [
        &["--help"][..],
        &["plan", "--help"],
        &["notify", "test", "--help"],
    ] {
        let out = crate::common::mfactl(&dir, args, "").output().unwrap();
        assert_eq!(crate::common::code(&out), 0);
        assert!(
            crate::common::stdout(&out).contains("Reference: docs/cli.md"),
            "{args:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
