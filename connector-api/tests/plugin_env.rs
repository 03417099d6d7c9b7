//! A plugin process starts with a cleared environment plus the allowlist
//! (`PLUGIN_ENV_ALLOWLIST`) and the variables its caller names: no
//! `IDMESH_SECRET_*` of any tenant, nothing else of the engine's.
//!
//! The plugin is a small `sh` script that answers `hello` and `schema`, then
//! answers `validate` with an error listing the names of its environment.
//! This file holds the only tests that set variables in the test process, so
//! no other test reads the environment while they do.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::collections::BTreeSet;
use std::sync::Once;
use std::time::Duration;

use connector_api::plugin::{inherits_env, PluginCommand, PluginFactory, PluginOptions};
use connector_api::*;

const HELLO: &str = r#"{"type":"hello","protocolVersion":1,"connector":{"name":"fake","version":"0.0.1","objectTypes":["Thing"],"modes":["Full"]}}"#;
const SCHEMA: &str = r#"{"type":"schema","schema":{"objectTypes":[]}}"#;

/// Answers hello and schema, then reports its variables' names (one line of
/// `env` each, so values must not hold newlines) in the `validate` error.
const REPORTER: &str = r#"read l; echo '%HELLO%'; read l; echo '%SCHEMA%'; read l;
names=$(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p' | sort | tr '\n' ' ')
echo "{\"type\":\"error\",\"error\":{\"kind\":\"Configuration\",\"retryable\":false,\"message\":\"$names\"}}"
read l"#;

/// Variables `sh` sets itself, whatever its environment.
const SHELL_OWN: [&str; 4] = ["PWD", "OLDPWD", "SHLVL", "_"];

const CANARY: &str = "IDMESH_SECRET_WORKDAY_ACME_CLIENTSECRET";

fn set_engine_env() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::env::set_var(CANARY, "canary-value-must-not-reach-the-plugin");
        std::env::set_var("IDMESH_TEST_UNLISTED", "1");
        std::env::set_var("LC_IDMESH_TEST", "C");
        std::env::set_var("https_proxy", "http://127.0.0.1:9");
    });
}

fn options() -> PluginOptions {
    PluginOptions {
        handshake_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(5),
        ..PluginOptions::default()
    }
}

/// The names of the variables the plugin saw, without the shell's own.
async fn reported(factory: PluginFactory) -> BTreeSet<String> {
    let err = factory
        .validate("{}", "none", &StaticSecrets::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Configuration, "{err}");
    err.message()
        .split_whitespace()
        .filter(|n| !SHELL_OWN.contains(n))
        .map(String::from)
        .collect()
}

/// The engine's variables the allowlist passes on.
fn allowed_of_engine() -> BTreeSet<String> {
    std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .filter(|k| inherits_env(k))
        .collect()
}

fn script() -> String {
    REPORTER
        .replace("%HELLO%", HELLO)
        .replace("%SCHEMA%", SCHEMA)
}

#[tokio::test]
async fn a_plugin_sees_only_the_allowlisted_variables_never_a_secret() {
    set_engine_env();
    let factory = PluginFactory::spawn("sh", ["-c", &script()], options())
        .await
        .unwrap();
    let seen = reported(factory).await;
    assert!(
        !seen.contains(CANARY),
        "a secret variable reached the plugin"
    );
    assert!(!seen.contains("IDMESH_TEST_UNLISTED"));
    assert!(!seen.iter().any(|n| n.starts_with("CARGO")), "{seen:?}");
    for name in ["PATH", "LC_IDMESH_TEST", "https_proxy"] {
        assert!(seen.contains(name), "{name} is allowlisted: {seen:?}");
    }
    assert_eq!(seen, allowed_of_engine());
}

#[tokio::test]
async fn a_caller_adds_variables_explicitly() {
    set_engine_env();
    let command = PluginCommand::new("sh")
        .args(["-c", &script()])
        .env("IDMESH_TEST_NO_RETRY_DELAY", "1");
    let factory = PluginFactory::spawn_command(command, options())
        .await
        .unwrap();
    let seen = reported(factory).await;
    let mut expected = allowed_of_engine();
    expected.insert("IDMESH_TEST_NO_RETRY_DELAY".into());
    assert_eq!(seen, expected);
}
