//! Policy files that must not hurt (issue 11): hostile or careless YAML is refused with exit
//! 3, a code and the position of the fault, sends nothing, and is refused within a bounded
//! address space and CPU time; legitimate large files still validate under the same bounds.
//! The bounds are enforced on the child with `setrlimit` (RLIMIT_AS, RLIMIT_CPU), never by
//! timing: a run that needed more is killed by the kernel and fails the exit-code assertion.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::cli::Project;
use crate::common::{self, code, stderr};

/// The address space a run may use: far below what the unbounded loader reached (5 GB).
const ADDRESS_SPACE: u64 = 512 * 1024 * 1024;
/// The CPU seconds a run may use (debug build).
const CPU_SECONDS: u64 = 20;

/// Runs `cmd` with RLIMIT_AS and RLIMIT_CPU set in the child before it executes.
fn bounded(mut cmd: Command) -> Output {
    // SAFETY: the closure only calls setrlimit, which is async-signal-safe, between fork and
    // exec.
    unsafe {
        cmd.pre_exec(|| {
            for (resource, limit) in [
                (libc::RLIMIT_AS, ADDRESS_SPACE),
                (libc::RLIMIT_CPU, CPU_SECONDS),
            ] {
                let rlim = libc::rlimit {
                    rlim_cur: limit,
                    rlim_max: limit,
                };
                if libc::setrlimit(resource, &rlim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    cmd.output().unwrap()
}

/// `validate` and `apply --yes` on `file` under the bounds: both exit 3 and name `at`
/// (`file:line:column: error[code]`), and the emulator never hears of it.
async fn refused(p: &Project, file: &Path, at: (usize, usize), diagnostic: &str) -> String {
    // Run in the project directory, where mfactl names the file as given.
    let path = file.file_name().unwrap().to_str().unwrap();
    let expected = format!("{path}:{}:{}: error[{diagnostic}]", at.0, at.1);
    let mut last = String::new();
    for args in [
        &["validate", "--policies", path][..],
        &["apply", "--yes", "--policies", path],
    ] {
        let o = bounded(p.command(args));
        assert_eq!(code(&o), 3, "{args:?}: {:?} {}", o.status, stderr(&o));
        last = stderr(&o);
        assert!(
            last.contains(&expected),
            "{args:?}: expected {expected} in {last}"
        );
    }
    assert!(
        p.h.requests().await.is_empty(),
        "nothing reaches the tenant"
    );
    last
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

const HEAD: &str =
    "apiVersion: mfactl/v1\nkind: AuthenticationMethodsPolicy\nmetadata: {name: x}\nspec:\n";

/// The character at 1-based `line` and `column` of `text`.
fn char_at(text: &str, (line, column): (usize, usize)) -> Option<char> {
    text.lines().nth(line - 1)?.chars().nth(column - 1)
}

/// The line and column in `stderr` of the first diagnostic about `file`.
fn position(stderr: &str, file: &Path) -> (usize, usize) {
    let prefix = format!("{}:", file.file_name().unwrap().to_str().unwrap());
    let rest = stderr
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no diagnostic for {prefix} in {stderr}"));
    let mut parts = rest.split(':');
    let line = parts.next().unwrap().parse().unwrap();
    let column = parts.next().unwrap().parse().unwrap();
    (line, column)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_billion_laughs_are_refused_at_the_alias_that_crosses_the_node_bound() {
    let p = Project::sandbox_tenant().await;
    let mut text = String::from(HEAD);
    text.push_str(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for (prev, name) in "abcdefgh".chars().zip("bcdefghi".chars()) {
        let refs = vec![format!("*{prev}"); 9].join(",");
        text.push_str(&format!("{name}: &{name} [{refs}]\n"));
    }
    assert!(text.len() < 500, "{} bytes", text.len());
    let file = write(p.dir(), "laughs.yaml", &text);
    // Probe where the bound is crossed, then assert it is an alias on the line of `g`, the
    // first anchor whose expansion (9^7 nodes) is past 2,000,000.
    let probe = bounded(p.command(&[
        "validate",
        "--policies",
        file.file_name().unwrap().to_str().unwrap(),
    ]));
    let at = position(&stderr(&probe), &file);
    assert_eq!(at.0, HEAD.lines().count() + 7, "{}", stderr(&probe));
    assert_eq!(char_at(&text, at), Some('*'));
    let err = refused(&p, &file, at, "MFA036").await;
    assert!(err.contains("more than 2,000,000 YAML nodes"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deeper_alias_chain_is_refused_at_the_anchor_that_crosses_the_node_bound() {
    let p = Project::sandbox_tenant().await;
    // Forty anchors, each a pair of the one before: 2^40 nodes if expanded.
    let mut text = String::from(HEAD);
    text.push_str("l0: &l0 [x, x]\n");
    for i in 1..40 {
        text.push_str(&format!("l{i}: &l{i} [*l{}, *l{}]\n", i - 1, i - 1));
    }
    let file = write(p.dir(), "chain.yaml", &text);
    // l_k is 2^(k+2) - 1 nodes, built once and copied once for its anchor: through line l_k
    // the file holds 2^(k+4) - k - 9 nodes, past 2,000,000 first when l17's anchor copies it
    // (1,572,839 before, 2,097,126 after). Reported at that anchored node, `&l17 [...]`.
    let at = (HEAD.lines().count() + 18, 6);
    assert_eq!(char_at(&text, at), Some('&'));
    let err = refused(&p, &file, at, "MFA036").await;
    assert!(err.contains("2,000,000"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wide_alias_fan_out_is_refused_at_the_alias_past_the_alias_bound() {
    let p = Project::sandbox_tenant().await;
    let mut text = String::from(HEAD);
    text.push_str("a: &a x\nb: [");
    text.push_str(&vec!["*a"; 20_000].join(", "));
    text.push_str("]\n");
    let file = write(p.dir(), "fan-out.yaml", &text);
    // Line `b: [`, then one `*a, ` (4 characters) per alias: the 10,001st is past the bound.
    let line = HEAD.lines().count() + 2;
    let err = refused(&p, &file, (line, 5 + 4 * 10_000), "MFA036").await;
    assert!(err.contains("more than 10,000 aliases"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nesting_deeper_than_the_bound_is_refused_at_the_collection_past_it() {
    let p = Project::sandbox_tenant().await;
    let text = format!("{HEAD}x: {}1{}\n", "[".repeat(100), "]".repeat(100));
    let file = write(p.dir(), "deep.yaml", &text);
    // The document is one collection deep; the 64th bracket opens the 65th.
    let line = HEAD.lines().count() + 1;
    let err = refused(&p, &file, (line, 3 + 64), "MFA036").await;
    assert!(err.contains("more than 64 deep"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_just_over_the_size_bound_is_refused_at_its_first_byte_past_it() {
    let p = Project::sandbox_tenant().await;
    let file = p.dir().join("huge.yaml");
    // Sparse: 16 MiB and one byte of holes, no disk written.
    let f = std::fs::File::create(&file).unwrap();
    f.set_len(16 * 1024 * 1024 + 1).unwrap();
    drop(f);
    let err = refused(&p, &file, (1, 16 * 1024 * 1024 + 1), "MFA036").await;
    assert!(err.contains("16,777,217 bytes"), "{err}");
    assert!(err.contains("16 MiB"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tab_that_indents_a_line_is_reported_at_the_tab() {
    let p = Project::sandbox_tenant().await;
    let text = format!(
        "{HEAD}  methods:\n    sms:\n      state: enabled\n\tvoice:\n      state: disabled\n"
    );
    let file = write(p.dir(), "tab.yaml", &text);
    let err = refused(&p, &file, (HEAD.lines().count() + 4, 1), "MFA001").await;
    assert!(
        err.contains("a tab character cannot indent YAML; use spaces"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unclosed_bracket_is_reported_where_it_opens() {
    let p = Project::sandbox_tenant().await;
    let text = format!(
        "{HEAD}  methods:\n    sms:\n      state: enabled\n      includeTargets: [{{group: Frontline Workers}}\n    voice:\n      state: disabled\n    email:\n      state: enabled\n"
    );
    let file = write(p.dir(), "unclosed.yaml", &text);
    let err = refused(&p, &file, (HEAD.lines().count() + 4, 23), "MFA001").await;
    assert!(err.contains("`[` opened here is never closed"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_byte_is_reported_at_the_byte() {
    let p = Project::sandbox_tenant().await;
    let text = format!("{HEAD}  policyMigrationState: \"migration\0Complete\"\n");
    let file = write(p.dir(), "nul.yaml", &text);
    let err = refused(&p, &file, (HEAD.lines().count() + 1, 35), "MFA001").await;
    assert!(
        err.contains("a NUL byte (U+0000) is not allowed in YAML"),
        "{err}"
    );
    assert!(!err.contains("end of stream"), "{err}");
    let bell = write(
        p.dir(),
        "bell.yaml",
        &format!("{HEAD}  policyMigrationState: migration\u{7}Complete\n"),
    );
    let err = refused(&p, &bell, (HEAD.lines().count() + 1, 34), "MFA001").await;
    assert!(err.contains("U+0007"), "{err}");
}

#[test]
fn the_shipped_policies_and_a_100000_user_target_list_validate_under_the_same_bounds() {
    let dir = common::temp_dir("hostile-yaml");
    common::copy_methods_baseline(&dir);
    let shipped = bounded(common::mfactl(
        &dir,
        &["validate", "--policies", "policies"],
        "",
    ));
    assert_eq!(code(&shipped), 0, "{}", stderr(&shipped));
    let mut text = String::from(
        "apiVersion: mfactl/v1\nkind: AuthenticationMethodsPolicy\nmetadata: {name: many-users}\nspec:\n  methods:\n    softwareOath:\n      state: enabled\n      includeTargets:\n",
    );
    for i in 0..100_000 {
        text.push_str(&format!("        - user: u{i:06}@contoso.com\n"));
    }
    std::fs::write(dir.join("many-users.yaml"), &text).unwrap();
    let many = bounded(common::mfactl(
        &dir,
        &["validate", "--policies", "many-users.yaml"],
        "",
    ));
    assert_eq!(code(&many), 0, "{:?} {}", many.status, stderr(&many));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_configuration_file_is_refused_under_the_same_bounds() {
    let p = Project::sandbox_tenant().await;
    let config = std::fs::read_to_string(p.dir().join("mfactl.yaml")).unwrap();
    // Aliases that expand past the node bound, in a configuration that would otherwise load.
    let mut laughs = String::from(
        "x-lol:\n  a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for (prev, name) in "abcdefgh".chars().zip("bcdefghi".chars()) {
        let refs = vec![format!("*{prev}"); 9].join(",");
        laughs.push_str(&format!("  {name}: &{name} [{refs}]\n"));
    }
    // And nesting 200,000 deep, which serde_yaml alone took minutes to refuse.
    let deep = format!("tenants: {}{}\n", "[".repeat(200_000), "]".repeat(200_000));
    for (what, text, at) in [
        ("aliases", format!("{laughs}{config}"), "mfactl.yaml:8:"),
        ("nesting", deep, "mfactl.yaml:1:"),
    ] {
        std::fs::write(p.dir().join("mfactl.yaml"), &text).unwrap();
        for verb in [&["validate"][..], &["plan"], &["apply", "--yes"]] {
            let o = bounded(p.command(verb));
            assert_eq!(
                code(&o),
                3,
                "{what}, {verb:?}: {:?} {}",
                o.status,
                stderr(&o)
            );
            let err = stderr(&o);
            assert!(err.contains(at), "{what}, {verb:?}: {err}");
            let expected = if what == "aliases" {
                "(MFA036)"
            } else {
                "(MFA001)"
            };
            assert!(err.contains(expected), "{what}, {verb:?}: {err}");
        }
    }
    assert!(
        p.h.requests().await.is_empty(),
        "nothing reaches the tenant"
    );
}
