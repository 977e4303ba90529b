//! What the binary writes, wherever it goes: `--log-format json` on every stderr line, no
//! escape byte in a file or pipe unless `--color always` (and none on a terminal with
//! `NO_COLOR`, `TERM=dumb` or `--color never`), and a closed stdout or stderr that ends the
//! command quietly with its own exit code.

use std::process::{Command, Output, Stdio};

use mfactl::emulator::generate::WRITER_SECRET;
use serde_json::Value;

use crate::cli::Project;
use crate::common::{self, code, stderr, stdout};

/// Every stderr line of `o`, each parsed as one JSON object with a string level and message.
fn json_lines(o: &Output) -> Vec<Value> {
    let text = stderr(o);
    assert!(!text.is_empty(), "nothing on stderr");
    text.lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not one JSON object ({e}): {line:?}\n{text}"));
            assert!(v["level"].is_string(), "no level: {line}");
            assert!(v["message"].is_string(), "no message: {line}");
            v
        })
        .collect()
}

fn with_message<'a>(lines: &'a [Value], part: &str) -> &'a Value {
    lines
        .iter()
        .find(|l| l["message"].as_str().is_some_and(|m| m.contains(part)))
        .unwrap_or_else(|| panic!("no line with {part:?} in {lines:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_stderr_line_of_reconcile_once_in_json_mode_is_one_object_with_fields() {
    let p = Project::sandbox_tenant().await;
    let receiver = crate::notify::Receiver::start().await;
    let hook = receiver.url("/hook");
    let json_run = |args: &[&str], secret: &str| {
        let mut cmd = p.command_with(args, secret);
        cmd.args(["--log-format", "json"])
            .env("MFACTL_WEBHOOK_URL", &hook);
        cmd.output().unwrap()
    };

    // Drift, observed: a WARN line with the tenant and the drifted resources.
    let drift = json_run(&["reconcile", "--once"], WRITER_SECRET);
    assert_eq!(code(&drift), 1, "{}", stderr(&drift));
    let lines = json_lines(&drift);
    let line = with_message(&lines, "observe mode, nothing changed");
    assert_eq!(line["level"], "WARN");
    assert_eq!(line["tenant"], "test");
    assert_eq!(line["mode"], "observe");
    assert!(
        line["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().contains("Sms")),
        "{line}"
    );

    // Applied, then in sync.
    let applied = json_run(&["reconcile", "--once", "--mode", "enforce"], WRITER_SECRET);
    assert_eq!(code(&applied), 0, "{}", stderr(&applied));
    assert_eq!(
        with_message(&json_lines(&applied), "re-read and verified")["level"],
        "INFO"
    );
    let in_sync = json_run(&["reconcile", "--once"], WRITER_SECRET);
    assert_eq!(code(&in_sync), 0, "{}", stderr(&in_sync));
    let line = with_message(&json_lines(&in_sync), "in sync").clone();
    assert_eq!(line["tenant"], "test");

    // An error: the token endpoint refuses the secret.
    let failed = json_run(&["reconcile", "--once"], "not-the-secret");
    assert_ne!(code(&failed), 0);
    let lines = json_lines(&failed);
    let line = with_message(&lines, "reconcile failed (observe)");
    assert_eq!(line["level"], "ERROR");
    assert_eq!(line["tenant"], "test");

    // An invalid policy: each diagnostic is an ERROR line with its code and location.
    std::fs::write(
        p.dir().join("policies/broken.yaml"),
        "apiVersion: mfactl/v1\nkind: Nope\n",
    )
    .unwrap();
    let invalid = json_run(&["reconcile", "--once"], WRITER_SECRET);
    assert_eq!(code(&invalid), 3, "{}", stderr(&invalid));
    let lines = json_lines(&invalid);
    let diagnostic = with_message(&lines, "MFA005");
    assert_eq!(diagnostic["level"], "ERROR");
    assert_eq!(diagnostic["code"], "MFA005");
    assert_eq!(diagnostic["line"], 2);
    assert!(
        diagnostic["file"]
            .as_str()
            .unwrap()
            .ends_with("broken.yaml")
    );
    assert_eq!(diagnostic["tenant"], "test");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_test_in_json_mode_writes_json_lines_on_both_streams() {
    let p = Project::sandbox_tenant().await;
    let receiver = crate::notify::Receiver::start().await;
    receiver.script("/hook", &[(400, None)]);
    let o = p
        .command(&["notify", "test", "--log-format", "json"])
        .env("MFACTL_WEBHOOK_URL", receiver.url("/hook"))
        .output()
        .unwrap();
    assert_ne!(code(&o), 0, "the refused alert fails the command");
    let lines = json_lines(&o);
    assert!(
        lines.iter().any(|l| l["level"] == "ERROR"),
        "the failure is on stderr: {lines:#?}"
    );
    let results: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect();
    assert_eq!(results.len(), 1, "{results:?}");
    assert_eq!(results[0]["result"], "not delivered");
    assert!(
        !stdout(&o).contains(&receiver.url("/hook")),
        "no webhook URL"
    );
    assert!(
        !stderr(&o).contains(&receiver.url("/hook")),
        "no webhook URL"
    );

    let o = p
        .command(&["notify", "test", "--log-format", "json"])
        .env("MFACTL_WEBHOOK_URL", receiver.url("/hook"))
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        serde_json::from_str::<Value>(stdout(&o).trim()).unwrap()["result"],
        "sent"
    );
    for line in stderr(&o).lines() {
        serde_json::from_str::<Value>(line).expect("one JSON object");
    }
}

const ESC: u8 = 0x1b;

fn has_escape(bytes: &[u8]) -> bool {
    bytes.contains(&ESC)
}

/// Runs `cmd` with stdout and stderr written to files, and returns what they hold.
fn into_files(mut cmd: Command, dir: &std::path::Path, name: &str) -> (i32, Vec<u8>, Vec<u8>) {
    let (out, err) = (
        dir.join(format!("{name}.out")),
        dir.join(format!("{name}.err")),
    );
    let status = cmd
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .status()
        .unwrap();
    (
        status.code().unwrap_or(-1),
        std::fs::read(out).unwrap(),
        std::fs::read(err).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_escape_byte_reaches_a_file_unless_color_always() {
    let p = Project::sandbox_tenant().await;
    let files = common::temp_dir("output-files");
    let (c, out, err) = into_files(p.command(&["plan"]), &files, "plan");
    assert_eq!(c, 1, "{}", String::from_utf8_lossy(&err));
    assert!(String::from_utf8_lossy(&out).contains("authenticationMethodConfigurations/Sms"));
    assert!(!has_escape(&out) && !has_escape(&err), "plan");
    // --color always colours the diff even into a file.
    let (c, out, err) = into_files(p.command(&["plan", "--color", "always"]), &files, "always");
    assert_eq!(c, 1, "{}", String::from_utf8_lossy(&err));
    assert!(has_escape(&out), "--color always colours the plan");

    // A failing alert makes tracing log a warning: no ANSI in it either.
    let mut cmd = p.command(&["reconcile", "--once"]);
    cmd.env("MFACTL_WEBHOOK_URL", "http://127.0.0.1:1/hook");
    let (c, out, err) = into_files(cmd, &files, "reconcile");
    assert_eq!(c, 1, "{}", String::from_utf8_lossy(&err));
    assert!(
        String::from_utf8_lossy(&err).contains("alert not sent"),
        "{}",
        String::from_utf8_lossy(&err)
    );
    assert!(!has_escape(&out) && !has_escape(&err), "reconcile");

    let (c, out, err) = into_files(p.command(&["explain"]), &files, "explain");
    assert_eq!(c, 0, "{}", String::from_utf8_lossy(&err));
    assert!(!out.is_empty());
    assert!(!has_escape(&out) && !has_escape(&err), "explain");

    let (c, out, err) = into_files(p.command(&["apply", "--yes"]), &files, "apply");
    assert_eq!(c, 0, "{}", String::from_utf8_lossy(&err));
    assert!(!has_escape(&out) && !has_escape(&err), "apply");

    std::fs::write(
        p.dir().join("policies/broken.yaml"),
        "apiVersion: mfactl/v1\nkind: Nope\n",
    )
    .unwrap();
    let (c, out, err) = into_files(p.command(&["validate"]), &files, "validate");
    assert_eq!(c, 3);
    assert!(String::from_utf8_lossy(&err).contains("MFA005"));
    assert!(!has_escape(&out) && !has_escape(&err), "validate");
    std::fs::remove_file(p.dir().join("policies/broken.yaml")).unwrap();

    let _ = std::fs::remove_dir_all(files);
}

/// `cmd` run with a terminal as stdout and stderr (util-linux `script`), its output as the
/// terminal showed it.
fn on_a_terminal(cmd: &Command) -> Output {
    let quote = |s: &std::ffi::OsStr| format!("'{}'", s.to_string_lossy().replace('\'', "'\\''"));
    let line = std::iter::once(quote(cmd.get_program()))
        .chain(cmd.get_args().map(quote))
        .collect::<Vec<_>>()
        .join(" ");
    let mut script = Command::new("script");
    script
        .args(["-qec", &line, "/dev/null"])
        .stdin(Stdio::null())
        .env("TERM", "xterm-256color")
        .env_remove("NO_COLOR");
    if let Some(dir) = cmd.get_current_dir() {
        script.current_dir(dir);
    }
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => script.env(k, v),
            None => script.env_remove(k),
        };
    }
    script.output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_terminal_colour_follows_color_no_color_and_term() {
    let p = Project::sandbox_tenant().await;
    let plain = on_a_terminal(&p.command(&["plan"]));
    assert!(
        String::from_utf8_lossy(&plain.stdout).contains("authenticationMethodConfigurations/Sms"),
        "{}",
        stdout(&plain)
    );
    assert!(has_escape(&plain.stdout), "a terminal gets colour");
    for (what, mut cmd) in [
        ("--color never", p.command(&["plan", "--color", "never"])),
        ("NO_COLOR", p.command(&["plan"])),
        ("TERM=dumb", p.command(&["plan"])),
    ] {
        match what {
            "NO_COLOR" => cmd.env("NO_COLOR", "1"),
            "TERM=dumb" => cmd.env("TERM", "dumb"),
            _ => &mut cmd,
        };
        let o = on_a_terminal(&cmd);
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("authenticationMethodConfigurations/Sms"),
            "{what}: {}",
            stdout(&o)
        );
        assert!(!has_escape(&o.stdout), "{what}: {:?}", stdout(&o));
    }
}

/// A pipe whose reading end is already closed.
fn closed_pipe() -> Stdio {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    Stdio::from(writer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stdout_or_stderr_ends_quietly_with_the_commands_own_exit_code() {
    let p = Project::sandbox_tenant().await;
    // Closed stdout: stderr still says what happened, and nothing panics.
    for (args, expected) in [(&["plan"][..], 1), (&["explain"][..], 0)] {
        let o = p
            .command(args)
            .stdout(closed_pipe())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert_eq!(code(&o), expected, "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{args:?}: {}", stderr(&o));
    }
    // Closed stderr: the exit code is still the command's own.
    std::fs::write(
        p.dir().join("policies/broken.yaml"),
        "apiVersion: mfactl/v1\nkind: Nope\n",
    )
    .unwrap();
    for (args, expected) in [
        (&["validate"][..], 3),
        (&["validate", "--log-format", "json"][..], 3),
        (&["plan", "-v"][..], 3),
    ] {
        let o = p
            .command(args)
            .stdout(Stdio::piped())
            .stderr(closed_pipe())
            .output()
            .unwrap();
        assert_eq!(code(&o), expected, "{args:?}");
        assert!(!stdout(&o).contains("panicked"), "{args:?}");
    }
    std::fs::remove_file(p.dir().join("policies/broken.yaml")).unwrap();
    let o = p
        .command(&["plan", "-v"])
        .stdout(closed_pipe())
        .stderr(closed_pipe())
        .output()
        .unwrap();
    assert_eq!(
        code(&o),
        1,
        "drift, with both streams closed and debug logs on"
    );
}
