//! Settings resolution: mfactl.yaml, environment mode, overrides, and the errors, each with
//! its location and none quoting a secret.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use mfactl::config::{self, ConfigError, ConfigSource, CredentialSource, Env, Settings};
use mfactl::exit::ExitCode;

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
    assert_eq!(err.exit_code(), ExitCode::Invalid);
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
    assert_eq!(err.exit_code(), ExitCode::Usage);
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
    assert_eq!(err.exit_code(), ExitCode::Invalid);

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
