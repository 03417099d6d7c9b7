//! Secrets at the edges of the `harness` binary: a secret pasted where its
//! reference belongs is never printed (flags, configuration keys, the
//! secrets file, in process and through the plugin), environment variable
//! names are one-to-one, and the secrets file must belong to the user.
//! Each test starts its own simulator on 127.0.0.1. Every wait is bounded.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{code, harness, p, show, text, TempDir, BIN};
use connector_api::{ConnectorFactory, StaticSecrets};
use connector_workday::WorkdayFactory;
use harness::sim::{SimConfig, Simulator};

/// A value that must never appear in any output.
const CANARY: &str = "Zq9-pasted-secret-canary-5e1d";

async fn sim() -> Simulator {
    Simulator::start(SimConfig {
        workers: 20,
        orgs: 3,
        client_secret: "demo-secret-not-real".into(),
        port: 0,
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts")
}

fn config_json(sim: &Simulator, extra: serde_json::Value) -> String {
    let c = sim.config();
    let mut config = serde_json::json!({
        "BaseUrl": sim.base_url(),
        "TenantName": c.tenant,
        "Realm": c.realm,
        "ClientId": c.client_id,
        "MaxRequestsPerHour": 1_000_000,
    });
    if let (Some(obj), serde_json::Value::Object(extra)) = (config.as_object_mut(), extra) {
        obj.extend(extra);
    }
    config.to_string()
}

fn write_config(dir: &TempDir, sim: &Simulator, extra: serde_json::Value) -> PathBuf {
    let path = dir.path("config.json");
    std::fs::write(&path, config_json(sim, extra)).unwrap();
    path
}

fn write_private(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

/// Exit 2, one `error:` line last, and the canary nowhere.
fn assert_refused_without_echo(o: &Output) -> String {
    assert_eq!(code(o), 2, "{}", show(o));
    for stream in [&o.stdout, &o.stderr] {
        assert!(
            !text(stream).contains("canary"),
            "the pasted secret was printed:\n{}",
            show(o)
        );
    }
    let err = text(&o.stderr);
    let last = err.lines().last().unwrap_or_default().to_string();
    assert!(last.starts_with("error: "), "{}", show(o));
    last
}

#[tokio::test]
async fn the_connector_never_echoes_a_secret_given_as_a_reference() {
    let sim = sim().await;
    let secrets = StaticSecrets::new()
        .with("secret://workday/acme/clientsecret", "demo-secret-not-real")
        .with("secret://workday/acme/refreshtoken", "refresh-not-real");
    let factory = WorkdayFactory::new();
    let cases = [
        (
            "AuthMaterial",
            config_json(&sim, serde_json::json!({})),
            CANARY,
            "secret://workday/acme/clientsecret",
        ),
        (
            "RefreshTokenRef",
            config_json(
                &sim,
                serde_json::json!({"GrantType": "refresh_token", "RefreshTokenRef": CANARY}),
            ),
            "secret://workday/acme/clientsecret",
            "secret://workday/<TenantName>/refreshtoken",
        ),
    ];
    for (key, config, auth, example) in cases {
        let Err(e) = factory.validate(&config, auth, &secrets).await else {
            panic!("{key}: a secret as a reference was accepted");
        };
        let (shown, debug) = (e.to_string(), format!("{e:?}"));
        assert!(!shown.contains("canary"), "{key}: {shown}");
        assert!(!debug.contains("canary"), "{key}: {debug}");
        assert!(shown.contains(key), "{key}: {shown}");
        assert!(
            shown.contains("must start with secret://"),
            "{key}: {shown}"
        );
        // The example names the secret this key holds.
        assert!(shown.contains(example), "{key}: {shown}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_never_echoes_a_secret_given_as_a_reference() {
    let dir = TempDir::new("secrets");
    let sim = sim().await;
    let config = write_config(&dir, &sim, serde_json::json!({}));
    let state = dir.path("s.db");
    let hyphen = format!("-{CANARY}");
    let joined = format!("--auth-material={CANARY}");
    for (command, auth) in [
        (vec!["check"], vec!["--auth-material", CANARY]),
        (
            vec!["import", "--mode", "full", "--state", p(&state)],
            vec!["--auth-material", hyphen.as_str()],
        ),
        (vec!["check"], vec![joined.as_str()]),
    ] {
        let mut args = command.clone();
        args.extend(["--config", p(&config)]);
        args.extend(auth);
        let o = harness(&dir, &args, &[]).await;
        let line = assert_refused_without_echo(&o);
        assert!(line.contains("--auth-material"), "{line}");
        assert!(line.contains("must start with secret://"), "{line}");
    }
    assert!(!state.exists(), "a refused run created the store");

    // The refresh token itself in RefreshTokenRef.
    let config = write_config(
        &dir,
        &sim,
        serde_json::json!({"GrantType": "refresh_token", "RefreshTokenRef": CANARY}),
    );
    let o = harness(
        &dir,
        &["check", "--config", p(&config)],
        &[(
            "IDMESH_SECRET_WORKDAY_ACME_CLIENTSECRET",
            "demo-secret-not-real",
        )],
    )
    .await;
    let line = assert_refused_without_echo(&o);
    assert!(line.contains("RefreshTokenRef"), "{line}");

    // The same through the connector-workday plugin, when it is built.
    let plugin =
        Path::new(BIN).with_file_name(format!("connector-workday{}", std::env::consts::EXE_SUFFIX));
    if plugin.is_file() {
        let o = harness(
            &dir,
            &["check", "--config", p(&config), "--plugin", p(&plugin)],
            &[(
                "IDMESH_SECRET_WORKDAY_ACME_CLIENTSECRET",
                "demo-secret-not-real",
            )],
        )
        .await;
        let line = assert_refused_without_echo(&o);
        assert!(line.contains("RefreshTokenRef"), "{line}");
    } else {
        eprintln!("SKIPPED: the connector-workday plugin binary is not built");
    }

    // Key and value swapped in the secrets file.
    let secrets = dir.path("secrets.json");
    write_private(
        &secrets,
        &serde_json::json!({ CANARY: "secret://workday/acme/clientsecret" }).to_string(),
    );
    let config = write_config(&dir, &sim, serde_json::json!({}));
    let o = harness(
        &dir,
        &[
            "check",
            "--config",
            p(&config),
            "--secrets-file",
            p(&secrets),
        ],
        &[],
    )
    .await;
    let line = assert_refused_without_echo(&o);
    assert!(line.contains("do not start with secret://"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_names_are_one_to_one() {
    let dir = TempDir::new("secrets");
    let sim = sim().await;
    let config = write_config(&dir, &sim, serde_json::json!({}));
    let secret = sim.config().client_secret.clone();
    let args = [
        "check",
        "--config",
        p(&config),
        "--auth-material",
        "secret://workday/acme/client-secret",
    ];
    // The variable of secret://workday/acme/client_secret (and, before,
    // of client-secret too) is not read for client-secret.
    let o = harness(
        &dir,
        &args,
        &[("IDMESH_SECRET_WORKDAY_ACME_CLIENT_SECRET", &secret)],
    )
    .await;
    assert_eq!(code(&o), 2, "{}", show(&o));
    let err = text(&o.stderr);
    assert!(
        err.contains("IDMESH_SECRET_WORKDAY_ACME_CLIENTx2DSECRET is not set"),
        "{}",
        show(&o)
    );
    let o = harness(
        &dir,
        &args,
        &[("IDMESH_SECRET_WORKDAY_ACME_CLIENTx2DSECRET", &secret)],
    )
    .await;
    assert_eq!(code(&o), 0, "{}", show(&o));
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secrets_file_of_another_user_is_refused() {
    use std::os::unix::fs::MetadataExt;
    let dir = TempDir::new("secrets");
    // Only root can give a file away; CI runs the suite as root.
    let probe = dir.path("probe");
    std::fs::write(&probe, "x").unwrap();
    if std::fs::metadata(&probe).unwrap().uid() != 0 {
        eprintln!("SKIPPED: not root, so no file of another user can be made");
        return;
    }
    let sim = sim().await;
    let config = write_config(&dir, &sim, serde_json::json!({}));
    let secrets = dir.path("secrets.json");
    write_private(
        &secrets,
        &serde_json::json!({"secret://workday/acme/clientsecret": sim.config().client_secret})
            .to_string(),
    );
    std::os::unix::fs::chown(&secrets, Some(65534), None).unwrap();
    let args = [
        "check",
        "--config",
        p(&config),
        "--secrets-file",
        p(&secrets),
    ];
    let o = harness(&dir, &args, &[]).await;
    assert_eq!(code(&o), 2, "{}", show(&o));
    let line = text(&o.stderr)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    assert!(
        line.contains("owned by user id 65534") && line.contains("secrets.json"),
        "{line}"
    );
    std::os::unix::fs::chown(&secrets, Some(0), None).unwrap();
    let o = harness(&dir, &args, &[]).await;
    assert_eq!(code(&o), 0, "{}", show(&o));
}

/// A plugin that logs every message it receives to stderr (as a plugin
/// author debugging might), so the resolved secret reaches the harness's log
/// as the engine's JSON wrote it, escaped; then exits without answering.
const LOGGING_PLUGIN: &str = r#"#!/usr/bin/env python3
import json, sys
for line in sys.stdin:
    message = json.loads(line)
    if message.get("type") == "hello":
        sys.stdout.write(json.dumps({"type": "hello", "protocolVersion": 1, "connector": {
            "name": "leaky", "version": "0.1.0", "objectTypes": ["Thing"], "modes": ["Full"]}}) + "\n")
        sys.stdout.flush()
    elif message.get("type") == "schema":
        sys.stdout.write(json.dumps({"type": "schema", "schema": {"objectTypes": [{
            "name": "Thing", "anchor": "id", "attributes": []}]}}) + "\n")
        sys.stdout.flush()
    else:
        sys.stderr.write("leaky got: " + line)
        sys.stderr.flush()
        sys.exit(1)
"#;

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escaped_secrets_are_redacted_in_text_and_json_logs() {
    use std::os::unix::fs::PermissionsExt;
    let python = std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !python {
        eprintln!("SKIPPED: python3 is not installed");
        return;
    }
    let dir = TempDir::new("secrets");
    let plugin = dir.path("leaky.py");
    std::fs::write(&plugin, LOGGING_PLUGIN).unwrap();
    std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = dir.path("config.json");
    std::fs::write(&config, "{}").unwrap();
    // A quote, a backslash, a newline, a tab, non-ASCII and an escape
    // character: each is escaped in the engine's JSON and again in JSON logs.
    let secret = "Qz\"quote\\back\nline\ttab-\u{e9}t\u{e9}-\u{1b}-CANARY-31";
    for format in ["text", "json"] {
        let o = harness(
            &dir,
            &[
                "check",
                "--plugin",
                p(&plugin),
                "--config",
                p(&config),
                "--auth-material",
                "secret://leaky/t/password",
                "--log-format",
                format,
            ],
            &[
                ("IDMESH_SECRET_LEAKY_T_PASSWORD", secret),
                ("RUST_LOG", "info"),
            ],
        )
        .await;
        assert_ne!(code(&o), 0, "{}", show(&o));
        let err = text(&o.stderr);
        assert!(
            !err.contains("CANARY") && !text(&o.stdout).contains("CANARY"),
            "{format}: the secret survived:\n{}",
            show(&o)
        );
        // The plugin's line was logged, and quoted in the error line (the
        // last line: plain `error: ...` in text, a JSON line in json).
        let lines: Vec<&str> = err.lines().collect();
        let (last, before) = lines.split_last().unwrap();
        let logged = before
            .iter()
            .filter(|l| l.contains("leaky got:"))
            .collect::<Vec<_>>();
        assert_eq!(logged.len(), 1, "{format}:\n{}", show(&o));
        assert!(logged[0].contains("[REDACTED]"), "{}", logged[0]);
        if format == "json" {
            let line: serde_json::Value = serde_json::from_str(logged[0]).unwrap();
            assert!(line.is_object(), "{}", logged[0]);
        }
        let error_line = if format == "json" {
            let line: serde_json::Value = serde_json::from_str(last).unwrap();
            assert_eq!(line["level"], "ERROR", "{last}");
            line["fields"]["message"].as_str().unwrap().to_owned()
        } else {
            (*last).to_owned()
        };
        assert!(
            error_line.starts_with("error: ") && error_line.contains("[REDACTED]"),
            "{}",
            show(&o)
        );
    }
}
