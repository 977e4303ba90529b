//! Settings resolution: mfactl.yaml, environment mode, overrides, and the errors, each with
//! its location and none quoting a secret.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use mfactl::cli::exit::{self, ExitCode};
use mfactl::config::{self, ConfigError, ConfigSource, CredentialSource, Env, Settings};

const TENANT: &str = "00000000-0000-0000-0000-000000000000";
const CLIENT: &str = "11111111-1111-1111-1111-111111111111";
const SECRET: &str = "Very~Secret.Value_42";

/// A directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "mfactl-config-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const VALID: &str = "\
tenants:
  - name: contoso
    tenantId: 00000000-0000-0000-0000-000000000000   # GUID or domain
    clientId: 11111111-1111-1111-1111-111111111111
    credential:
      clientSecret: { env: CONTOSO_MFACTL_SECRET }
    policies: [policies, policies/contoso]
    graphUrl: https://graph.microsoft.com
    authorityHost: https://login.microsoftonline.com
    caFile: corp-proxy-ca.pem
  - name: fabrikam
    tenantId: fabrikam.onmicrosoft.com
    clientId: 22222222-2222-2222-2222-222222222222
    credential:
      clientSecret:
        file: secrets/fabrikam.txt
auditLog: mfactl-audit.jsonl
";

fn parse(text: &str) -> Result<Settings, ConfigError> {
    config::parse_file(Path::new("/repo/mfactl.yaml"), text)
}

/// The error for `text`, after checking it does not quote `SECRET` anywhere.
fn error_of(text: &str) -> ConfigError {
    let err = parse(text).expect_err("invalid configuration");
    assert!(!err.to_string().contains(SECRET), "{err}");
    assert!(!format!("{err:?}").contains(SECRET), "{err:?}");
    assert_eq!(exit::for_error(&err), ExitCode::Invalid);
    err
}

fn location(err: &ConfigError) -> (usize, usize) {
    match err {
        ConfigError::Syntax { line, column, .. }
        | ConfigError::InlineSecret { line, column, .. }
        | ConfigError::DuplicateTenant { line, column, .. }
        | ConfigError::InvalidValue { line, column, .. }
        | ConfigError::NoTenants { line, column, .. } => (*line, *column),
        other => panic!("no location in {other:?}"),
    }
}

#[test]
fn a_valid_file_resolves_every_tenant_relative_to_its_directory() {
    let dir = TempDir::new();
    dir.write("mfactl.yaml", VALID);
    let s = config::resolve(None, &Env::empty(), dir.path()).unwrap();
    let base = dir.path();
    assert_eq!(s.source, ConfigSource::File(base.join("mfactl.yaml")));
    assert_eq!(s.audit_log, base.join("mfactl-audit.jsonl"));
    assert_eq!(s.tenants.len(), 2);
    let c = &s.tenants[0];
    assert_eq!(c.name, "contoso");
    assert_eq!(c.tenant_id, TENANT);
    assert_eq!(c.client_id, CLIENT);
    assert_eq!(
        c.credential,
        CredentialSource::SecretEnv("CONTOSO_MFACTL_SECRET".into())
    );
    assert_eq!(
        c.policies,
        vec![base.join("policies"), base.join("policies/contoso")]
    );
    assert_eq!(c.graph_url.as_str(), "https://graph.microsoft.com/");
    assert_eq!(
        c.authority_host.as_str(),
        "https://login.microsoftonline.com/"
    );
    assert_eq!(c.ca_file, Some(base.join("corp-proxy-ca.pem")));
    let f = &s.tenants[1];
    assert_eq!(f.tenant_id, "fabrikam.onmicrosoft.com");
    assert_eq!(
        f.credential,
        CredentialSource::SecretFile(base.join("secrets/fabrikam.txt"))
    );
    assert_eq!(f.policies, vec![base.join("policies")], "default policies");
    assert_eq!(f.graph_url.as_str(), "https://graph.microsoft.com/");
    assert_eq!(f.ca_file, None);

    assert_eq!(s.tenant(Some("fabrikam")).unwrap().name, "fabrikam");
    let err = s.tenant(None).unwrap_err();
    assert!(matches!(err, ConfigError::TenantRequired { .. }));
    assert!(err.to_string().contains("contoso, fabrikam"), "{err}");
    assert_eq!(exit::for_error(&err), ExitCode::Usage);
    let err = s.tenant(Some("northwind")).unwrap_err();
    assert!(
        err.to_string().contains("northwind") && err.to_string().contains("contoso, fabrikam"),
        "{err}"
    );
}

#[test]
fn the_file_is_named_by_flag_or_mfactl_config_and_must_exist() {
    let dir = TempDir::new();
    dir.write("conf/other.yaml", VALID);
    // A mfactl.yaml in the directory is ignored when a file is named.
    dir.write("mfactl.yaml", "tenants: []\n");
    let s = config::resolve(
        Some(Path::new("conf/other.yaml")),
        &Env::empty(),
        dir.path(),
    )
    .unwrap();
    assert_eq!(
        s.source,
        ConfigSource::File(dir.path().join("conf/other.yaml"))
    );
    assert_eq!(
        s.tenants[0].policies[0],
        dir.path().join("conf/policies"),
        "relative to the file, not the current directory"
    );
    let env = Env::empty().with("MFACTL_CONFIG", "conf/other.yaml");
    let s = config::resolve(None, &env, dir.path()).unwrap();
    assert_eq!(s.tenants.len(), 2);

    let err =
        config::resolve(Some(Path::new("missing.yaml")), &Env::empty(), dir.path()).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }), "{err:?}");
    assert!(err.to_string().contains("missing.yaml"), "{err}");
}

#[test]
fn environment_overrides_apply_to_every_tenant() {
    let dir = TempDir::new();
    dir.write("mfactl.yaml", VALID);
    let env = Env::empty()
        .with("MFACTL_GRAPH_URL", "http://127.0.0.1:8080")
        .with("MFACTL_AUTHORITY_HOST", "https://localhost:8443")
        .with("MFACTL_CA_FILE", "test-ca.pem")
        .with("MFACTL_AUDIT_LOG", "audit/run.jsonl");
    let s = config::resolve(None, &env, dir.path()).unwrap();
    for t in &s.tenants {
        assert_eq!(t.graph_url.as_str(), "http://127.0.0.1:8080/");
        assert_eq!(t.authority_host.as_str(), "https://localhost:8443/");
        assert_eq!(t.ca_file, Some(dir.path().join("test-ca.pem")));
    }
    assert_eq!(s.audit_log, dir.path().join("audit/run.jsonl"));

    // An empty override is no override.
    let env = Env::empty().with("MFACTL_GRAPH_URL", "");
    let s = config::resolve(None, &env, dir.path()).unwrap();
    assert_eq!(
        s.tenants[0].graph_url.as_str(),
        "https://graph.microsoft.com/"
    );

    for (var, value) in [
        ("MFACTL_GRAPH_URL", "http://graph.example.com"),
        ("MFACTL_GRAPH_URL", "not a url"),
        ("MFACTL_AUTHORITY_HOST", "http://localhost:8443"),
    ] {
        let err = config::resolve(None, &Env::empty().with(var, value), dir.path()).unwrap_err();
        assert!(
            matches!(&err, ConfigError::InvalidEnv { variable, .. } if variable == var),
            "{err:?}"
        );
        assert!(err.to_string().contains(var), "{err}");
    }
}

#[test]
fn without_a_file_the_azure_sdk_variables_make_one_default_tenant() {
    let dir = TempDir::new();
    let env = Env::empty()
        .with("AZURE_TENANT_ID", TENANT)
        .with("AZURE_CLIENT_ID", CLIENT)
        .with("AZURE_CLIENT_SECRET", SECRET)
        .with("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.us");
    let s = config::resolve(None, &env, dir.path()).unwrap();
    assert_eq!(s.source, ConfigSource::Environment);
    let t = s.tenant(None).unwrap();
    assert_eq!(t.name, "default");
    assert_eq!(t.tenant_id, TENANT);
    assert_eq!(t.client_id, CLIENT);
    assert_eq!(
        t.credential,
        CredentialSource::SecretEnv("AZURE_CLIENT_SECRET".into())
    );
    assert_eq!(t.policies, vec![dir.path().join("policies")]);
    assert_eq!(
        t.authority_host.as_str(),
        "https://login.microsoftonline.us/"
    );
    assert_eq!(t.graph_url.as_str(), "https://graph.microsoft.com/");
    assert_eq!(s.audit_log, dir.path().join("mfactl-audit.jsonl"));
    assert!(!format!("{s:?}").contains(SECRET));
    assert!(!format!("{env:?}").contains(SECRET));

    // Overrides apply here too.
    let env = env.with("MFACTL_GRAPH_URL", "http://localhost:9000");
    let s = config::resolve(None, &env, dir.path()).unwrap();
    assert_eq!(s.tenants[0].graph_url.as_str(), "http://localhost:9000/");
}

#[test]
fn environment_mode_lists_what_is_missing() {
    let dir = TempDir::new();
    let env = Env::empty()
        .with("AZURE_CLIENT_ID", CLIENT)
        .with("AZURE_CLIENT_SECRET", "");
    let err = config::resolve(None, &env, dir.path()).unwrap_err();
    match &err {
        ConfigError::MissingEnvironment { missing, .. } => {
            // The credential is not required: without one, environment mode is `auto`.
            assert_eq!(missing, &["AZURE_TENANT_ID"]);
        }
        other => panic!("{other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains("lacks AZURE_TENANT_ID;"), "{text}");
    assert!(text.contains("mfactl.yaml"), "{text}");
    assert_eq!(exit::for_error(&err), ExitCode::Invalid);

    let env = Env::empty()
        .with("AZURE_TENANT_ID", "not a tenant!")
        .with("AZURE_CLIENT_ID", CLIENT)
        .with("AZURE_CLIENT_SECRET", SECRET);
    let err = config::resolve(None, &env, dir.path()).unwrap_err();
    assert!(
        matches!(&err, ConfigError::InvalidEnv { variable, .. } if variable == "AZURE_TENANT_ID"),
        "{err:?}"
    );
    assert!(!err.to_string().contains(SECRET));
}

#[test]
fn unknown_keys_are_errors_at_the_key() {
    let text = VALID.replace("    graphUrl:", "    graphURL:");
    let err = error_of(&text);
    assert!(matches!(err, ConfigError::Syntax { .. }), "{err:?}");
    assert_eq!(location(&err), (8, 5));
    let shown = err.to_string();
    assert!(shown.starts_with("/repo/mfactl.yaml:8:5: "), "{shown}");
    assert!(shown.contains("unknown field `graphURL`"), "{shown}");

    let err = error_of(&format!("{VALID}auditlog: x.jsonl\n"));
    assert_eq!(location(&err), (18, 1), "{err}");

    let text = VALID.replace("file: secrets", "path: secrets");
    let err = error_of(&text);
    assert!(
        err.to_string().contains("unknown key in clientSecret"),
        "{err}"
    );
    assert_eq!(location(&err).0, 16, "{err}");
}

#[test]
fn secrets_written_inline_are_refused_without_being_quoted() {
    let cases = [
        (
            VALID.replace("{ env: CONTOSO_MFACTL_SECRET }", &format!("\"{SECRET}\"")),
            6,
        ),
        (VALID.replace("{ env: CONTOSO_MFACTL_SECRET }", SECRET), 6),
        (
            VALID.replace("{ env: CONTOSO_MFACTL_SECRET }", "123456789"),
            6,
        ),
        (
            VALID.replace(
                "credential:\n      clientSecret: { env: CONTOSO_MFACTL_SECRET }",
                &format!("credential: {SECRET}"),
            ),
            5,
        ),
    ];
    for (text, line) in cases {
        let err = error_of(&text);
        assert!(matches!(err, ConfigError::InlineSecret { .. }), "{err:?}");
        assert_eq!(location(&err).0, line, "{err}");
        let shown = err.to_string();
        assert!(shown.contains("env: VARIABLE"), "{shown}");
        assert!(shown.contains("file: PATH"), "{shown}");
    }
    // A secret under a made-up key, or as a number or list, is not quoted either.
    for replacement in [
        format!("{{ value: {SECRET} }}"),
        format!("{{ {SECRET} }}"),
        format!("{{ {SECRET}: x }}"),
        format!("{{ env: [{SECRET}] }}"),
        format!("{{ env: \"{SECRET}\" }}"),
    ] {
        let err = error_of(&VALID.replace("{ env: CONTOSO_MFACTL_SECRET }", &replacement));
        assert_eq!(location(&err).0, 6, "{err}");
    }
    let err = error_of(&VALID.replace(
        "credential:\n      clientSecret: { env: CONTOSO_MFACTL_SECRET }",
        &format!("credential: {{ {SECRET} }}"),
    ));
    assert_eq!(location(&err).0, 5, "{err}");
}

#[test]
fn duplicate_tenant_names_point_at_both_uses() {
    let text = VALID.replace("name: fabrikam", "name: contoso");
    let err = error_of(&text);
    match &err {
        ConfigError::DuplicateTenant {
            name,
            line,
            column,
            first_line,
            ..
        } => {
            assert_eq!(name, "contoso");
            assert_eq!((*line, *column, *first_line), (11, 11, 2));
        }
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string().starts_with("/repo/mfactl.yaml:11:11: "),
        "{err}"
    );
}

#[test]
fn unusable_values_are_placed_at_their_value() {
    let cases = [
        (
            VALID.replace(
                "graphUrl: https://graph.microsoft.com",
                "graphUrl: http://graph.example.com",
            ),
            "graphUrl",
            (8, 15),
        ),
        (
            VALID.replace(
                "authorityHost: https://login.microsoftonline.com",
                "authorityHost: http://localhost:8443",
            ),
            "authorityHost",
            (9, 20),
        ),
        (
            VALID.replace(
                "clientId: 22222222-2222-2222-2222-222222222222",
                "clientId: fabrikam-app",
            ),
            "clientId",
            (13, 15),
        ),
        (
            VALID.replace(
                "tenantId: fabrikam.onmicrosoft.com",
                "tenantId: \"fab rikam\"",
            ),
            "tenantId",
            (12, 15),
        ),
        (
            VALID.replace("name: fabrikam", "name: \"\""),
            "name",
            (11, 11),
        ),
        (
            VALID.replace("policies: [policies, policies/contoso]", "policies: []"),
            "policies",
            (7, 15),
        ),
        (
            VALID.replace("env: CONTOSO_MFACTL_SECRET", "env: CONTOSO-SECRET"),
            "credential.clientSecret.env",
            (6, 28),
        ),
    ];
    for (text, field, at) in cases {
        let err = error_of(&text);
        match &err {
            ConfigError::InvalidValue { field: f, .. } => assert_eq!(f, field, "{err}"),
            other => panic!("{field}: {other:?}"),
        }
        assert_eq!(location(&err), at, "{err}");
    }
}

#[test]
fn structural_errors_have_locations() {
    let err = error_of("tenants: []\n");
    assert!(matches!(err, ConfigError::NoTenants { .. }), "{err:?}");
    assert_eq!(location(&err), (1, 10));

    let err = error_of("tenants:\n  - name: a\n    tenantId: [x\n");
    assert!(matches!(err, ConfigError::Syntax { .. }), "{err:?}");
    assert!(location(&err).0 >= 3, "{err}");

    let err = error_of(&VALID.replace("    clientId: 22222222-2222-2222-2222-222222222222\n", ""));
    assert!(
        err.to_string().contains("missing field `clientId`"),
        "{err}"
    );
    assert_eq!(location(&err).0, 11, "{err}");

    let err = error_of(&VALID.replace("policies: [policies, policies/contoso]", "policies: 5"));
    assert!(matches!(err, ConfigError::Syntax { .. }), "{err:?}");
    assert_eq!(location(&err).0, 7, "{err}");
}

// ---- notifications, mode, suspend and change windows (issue 5) ----

const CONTROLLED: &str = "\
tenants:
  - name: contoso
    tenantId: 00000000-0000-0000-0000-000000000000
    clientId: 11111111-1111-1111-1111-111111111111
    credential:
      clientSecret: { env: CONTOSO_MFACTL_SECRET }
    mode: enforce
    changeWindows:
      - { days: [mon, tue, wed, thu, fri], from: \"08:00\", to: \"18:00\", timezone: UTC }
      - days: [sat]
        from: \"22:00\"
        to: \"24:00\"
  - name: fabrikam
    tenantId: fabrikam.onmicrosoft.com
    clientId: 22222222-2222-2222-2222-222222222222
    credential: auto
    suspend: true
notifications:
  remindAfter: 24h
  teams: { url: { env: TEAMS_WEBHOOK } }
  slack: { url: { file: secrets/slack-webhook } }
  webhook: { url: { env: HOOK_URL }, secret: { env: HOOK_KEY } }
";

#[test]
fn notifications_mode_suspend_and_windows_parse() {
    use config::{ChangeWindow, Mode, ProviderSource, SecretRef, TenantControl};
    let s = parse(CONTROLLED).unwrap();
    let contoso = s.tenant(Some("contoso")).unwrap();
    assert_eq!(
        contoso.control,
        TenantControl {
            mode: Mode::Enforce,
            suspend: false,
            change_windows: vec![
                ChangeWindow {
                    days: vec![
                        time::Weekday::Monday,
                        time::Weekday::Tuesday,
                        time::Weekday::Wednesday,
                        time::Weekday::Thursday,
                        time::Weekday::Friday,
                    ],
                    from_minute: 8 * 60,
                    to_minute: 18 * 60,
                },
                ChangeWindow {
                    days: vec![time::Weekday::Saturday],
                    from_minute: 22 * 60,
                    to_minute: 24 * 60,
                },
            ],
            freeze_windows: vec![],
        }
    );
    let fabrikam = s.tenant(Some("fabrikam")).unwrap();
    assert_eq!(fabrikam.control.mode, Mode::Observe, "observe by default");
    assert!(fabrikam.control.suspend);
    assert_eq!(
        s.notifications.remind_after,
        Some(std::time::Duration::from_secs(24 * 3600))
    );
    assert_eq!(
        s.notifications.providers,
        vec![
            ProviderSource::Teams {
                url: SecretRef::Env("TEAMS_WEBHOOK".into())
            },
            ProviderSource::Slack {
                url: SecretRef::File(PathBuf::from("/repo/secrets/slack-webhook"))
            },
            ProviderSource::Webhook {
                url: SecretRef::Env("HOOK_URL".into()),
                key: Some(SecretRef::Env("HOOK_KEY".into())),
            },
        ]
    );
    // Without `notifications:` or tenant controls: none, observe, not suspended, no windows.
    let plain = parse(VALID).unwrap();
    assert_eq!(plain.notifications, config::NotificationSettings::default());
    assert!(
        plain
            .tenants
            .iter()
            .all(|t| t.control == TenantControl::default())
    );
}

#[test]
fn notification_and_control_errors_are_placed_at_their_key() {
    let cases: [(&str, &str, (usize, usize), &str); 9] = [
        (
            "mode: enforce",
            "mode: always",
            (7, 11),
            "unknown variant `always`",
        ),
        ("suspend: true", "suspend: maybe", (17, 14), "suspend"),
        (
            "remindAfter: 24h",
            "remindAfter: soon",
            (19, 16),
            "remindAfter",
        ),
        (
            "timezone: UTC",
            "timezone: Europe/Paris",
            (9, 82),
            "UTC only",
        ),
        ("from: \"22:00\"", "from: \"10pm\"", (11, 15), "HH:MM"),
        ("to: \"24:00\"", "to: \"21:00\"", (12, 13), "two windows"),
        (
            "days: [sat]",
            "days: [saturday]",
            (10, 16),
            "unknown variant `saturday`",
        ),
        (
            "{ env: HOOK_KEY }",
            "{ env: \"not a name\" }",
            (22, 53),
            "environment variable name",
        ),
        (
            "  teams:",
            "  matrix: { url: { env: X } }\n  teams:",
            (20, 3),
            "unknown field `matrix`",
        ),
    ];
    for (from, to, at, what) in cases {
        let text = CONTROLLED.replacen(from, to, 1);
        assert_ne!(text, CONTROLLED, "{from}");
        let err = error_of(&text);
        assert_eq!(location(&err), at, "{err}");
        assert!(err.to_string().contains(what), "{err}");
    }
}

#[test]
fn webhook_urls_and_keys_written_inline_are_refused_without_being_quoted() {
    let url = format!("https://hooks.slack.com/services/{SECRET}");
    let cases = [
        ("{ env: TEAMS_WEBHOOK }", format!("\"{url}\""), 20),
        ("{ file: secrets/slack-webhook }", url.clone(), 21),
        ("secret: { env: HOOK_KEY }", format!("secret: {SECRET}"), 22),
        (
            "secret: { env: HOOK_KEY }",
            format!("secret: {{ {SECRET} }}"),
            22,
        ),
        (
            "secret: { env: HOOK_KEY }",
            format!("secret: [{SECRET}]"),
            22,
        ),
    ];
    for (from, to, line) in cases {
        let text = CONTROLLED.replacen(from, &to, 1);
        assert_ne!(text, CONTROLLED, "{from}");
        let err = error_of(&text);
        assert_eq!(location(&err).0, line, "{err}");
        let shown = err.to_string();
        assert!(!shown.contains("hooks.slack.com"), "{shown}");
    }
}

#[test]
fn provider_secrets_are_read_from_env_and_files_and_failures_name_the_place() {
    use mfactl::notify::{self, NotifyError, ProviderConfig};
    let dir = TempDir::new();
    dir.write("mfactl.yaml", CONTROLLED);
    dir.write(
        "secrets/slack-webhook",
        "https://hooks.slack.com/services/T/B/x\n",
    );
    let s = config::resolve(None, &Env::empty(), dir.path()).unwrap();
    let env = Env::empty()
        .with("TEAMS_WEBHOOK", "https://teams.example/workflows/1")
        .with("HOOK_URL", "https://hook.example/in")
        .with("HOOK_KEY", SECRET);
    let providers = notify::providers_from_settings(&s.notifications, &env).unwrap();
    assert_eq!(providers.len(), 3);
    let ProviderConfig::Slack { url } = &providers[1] else {
        panic!("{providers:?}")
    };
    assert_eq!(url.expose(), "https://hooks.slack.com/services/T/B/x");
    let ProviderConfig::Webhook { hmac_key, .. } = &providers[2] else {
        panic!("{providers:?}")
    };
    assert_eq!(hmac_key.as_ref().map(|k| k.expose()), Some(SECRET));

    // The MFACTL_* variables add to the file's providers.
    let more = env
        .clone()
        .with("MFACTL_SLACK_WEBHOOK", "https://hooks.slack.com/x");
    let all = notify::providers(&s.notifications, &more).unwrap();
    assert_eq!(all.len(), 4);
    assert!(matches!(all[3], ProviderConfig::Slack { .. }));

    // A missing variable is named; no value is shown.
    let missing = Env::empty()
        .with("TEAMS_WEBHOOK", "https://teams.example/workflows/1")
        .with("HOOK_URL", "https://hook.example/in");
    let err = notify::providers_from_settings(&s.notifications, &missing).unwrap_err();
    let shown = err.to_string();
    assert!(matches!(err, NotifyError::Secret { .. }), "{err:?}");
    assert!(shown.contains("environment variable HOOK_KEY"), "{shown}");
    assert!(
        shown.contains("the HMAC key of the webhook alert provider"),
        "{shown}"
    );
    assert!(!shown.contains("hook.example"), "{shown}");

    // A missing file is named.
    std::fs::remove_file(dir.path().join("secrets/slack-webhook")).unwrap();
    let err = notify::providers_from_settings(&s.notifications, &env).unwrap_err();
    let shown = err.to_string();
    assert!(
        shown.contains("the URL of the slack alert provider"),
        "{shown}"
    );
    assert!(shown.contains("secrets/slack-webhook"), "{shown}");
    assert!(!shown.contains(SECRET), "{shown}");
}

#[test]
fn enforce_observes_outside_every_change_window() {
    use config::Mode;
    use std::time::{Duration, SystemTime};
    let s = parse(CONTROLLED).unwrap();
    let control = &s.tenant(Some("contoso")).unwrap().control;
    // 2024-01-01 was a Monday.
    let monday = SystemTime::UNIX_EPOCH + Duration::from_secs(1_704_067_200);
    let at =
        |days: u64, h: u64, m: u64| monday + Duration::from_secs(days * 86_400 + h * 3600 + m * 60);
    assert_eq!(control.mode_at(Mode::Enforce, at(0, 8, 0)), Mode::Enforce);
    assert_eq!(control.mode_at(Mode::Enforce, at(4, 17, 59)), Mode::Enforce);
    assert_eq!(control.mode_at(Mode::Enforce, at(0, 7, 59)), Mode::Observe);
    assert_eq!(
        control.mode_at(Mode::Enforce, at(2, 18, 0)),
        Mode::Observe,
        "end is exclusive"
    );
    assert_eq!(
        control.mode_at(Mode::Enforce, at(5, 12, 0)),
        Mode::Observe,
        "Saturday noon"
    );
    assert_eq!(
        control.mode_at(Mode::Enforce, at(5, 23, 59)),
        Mode::Enforce,
        "until 24:00"
    );
    assert_eq!(
        control.mode_at(Mode::Enforce, at(6, 12, 0)),
        Mode::Observe,
        "Sunday"
    );
    assert_eq!(control.mode_at(Mode::Observe, at(0, 9, 0)), Mode::Observe);

    // No windows: enforce at any time.
    let fabrikam = &s.tenant(Some("fabrikam")).unwrap().control;
    assert_eq!(fabrikam.mode_at(Mode::Enforce, at(6, 3, 0)), Mode::Enforce);
}

#[test]
fn a_freeze_window_wins_over_a_change_window() {
    use config::Mode;
    use std::time::{Duration, SystemTime};
    let yaml = "\
tenants:
  - name: contoso
    tenantId: 00000000-0000-0000-0000-000000000000
    clientId: 11111111-1111-1111-1111-111111111111
    credential: auto
    mode: enforce
    changeWindows:
      - { days: [mon, tue, wed, thu, fri], from: \"08:00\", to: \"18:00\" }
    freezeWindows:
      - { days: [wed], from: \"12:00\", to: \"13:00\" }
";
    let s = parse(yaml).unwrap();
    let control = &s.tenant(None).unwrap().control;
    // 2024-01-03 was a Wednesday.
    let wednesday = SystemTime::UNIX_EPOCH + Duration::from_secs(1_704_240_000);
    let at = |h: u64, m: u64| wednesday + Duration::from_secs(h * 3600 + m * 60);
    assert_eq!(control.mode_at(Mode::Enforce, at(11, 59)), Mode::Enforce);
    assert_eq!(
        control.mode_at(Mode::Enforce, at(12, 30)),
        Mode::Observe,
        "frozen"
    );
    assert_eq!(
        control.mode_at(Mode::Enforce, at(13, 0)),
        Mode::Enforce,
        "end is exclusive"
    );
    let bad = parse(&yaml.replace("\"13:00\" }", "\"11:00\" }"))
        .unwrap_err()
        .to_string();
    assert!(bad.contains("freezeWindows[0]"), "{bad}");
}
