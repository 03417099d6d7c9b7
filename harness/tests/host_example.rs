//! `docs/examples/host.py`, the Python example HOST of the plugin protocol,
//! drives the real `connector-workday` plugin binary against a real
//! `harness simulate` tenant (50 workers, 5 orgs, seed 42): exact counts per
//! type and kind, the watermark's form, every recorded protocol line valid
//! against `docs/plugin-protocol.schema.json`, the connector still validated
//! after an import error, and a plugin whose stdin closes mid-import ending
//! cleanly. Every wait is bounded.
//!
//! Skipped with a message when python3 or the `connector-workday` binary is
//! missing (`cargo test --workspace` builds it), and the schema test when the
//! Python `jsonschema` package is not installed.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use common::{command, p, show, TempDir, BIN, RUN_TIMEOUT};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

/// The repository root (the workspace).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn python_ok(check: &str) -> bool {
    std::process::Command::new("python3")
        .args(["-c", check])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The `connector-workday` plugin binary, built next to `harness`, when
/// python3 is there too.
fn prerequisites() -> Option<PathBuf> {
    if !python_ok("import sys") {
        eprintln!("SKIPPED: python3 is not installed; docs/examples/host.py was not run");
        return None;
    }
    let path =
        Path::new(BIN).with_file_name(format!("connector-workday{}", std::env::consts::EXE_SUFFIX));
    if path.is_file() {
        Some(path)
    } else {
        eprintln!(
            "SKIPPED: {} is not built (run `cargo test --workspace`, or `cargo build -p \
             connector-workday` first); docs/examples/host.py was not run",
            path.display()
        );
        None
    }
}

/// A running `harness simulate` and what its banner said.
struct Tenant {
    _child: tokio::process::Child,
    base_url: String,
    tenant: String,
    realm: String,
    client_id: String,
    client_secret: String,
}

/// Starts `harness simulate --port 0 --workers 50 --orgs 5` and reads its
/// banner (bounded).
async fn simulate(dir: &TempDir) -> Tenant {
    let mut child = command(
        dir,
        &["simulate", "--port", "0", "--workers", "50", "--orgs", "5"],
        &[],
    )
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut banner = BTreeMap::new();
    let mut base_url = None;
    let read = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(url) = line.strip_prefix("Workday tenant simulator listening on ") {
                base_url = Some(url.trim().to_string());
            } else if let Some((key, value)) = line.trim().split_once(':') {
                let value = value.trim().split("   ").next().unwrap().to_string();
                banner.insert(key.to_string(), value);
            }
            if line.starts_with("Press Ctrl-C") {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .expect("the simulator printed its banner within 30 s");
    // Keep draining stdout so the simulator never blocks on it.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Tenant {
        _child: child,
        base_url: base_url.expect("banner: listening on"),
        tenant: banner["tenant"].clone(),
        realm: banner["realm"].clone(),
        client_id: banner["client id"].clone(),
        client_secret: banner["client secret"].clone(),
    }
}

/// Runs `python3 docs/examples/host.py` against `tenant` with `extra`
/// arguments (bounded by [`RUN_TIMEOUT`]).
async fn host(plugin: &Path, tenant: &Tenant, extra: &[&str]) -> Output {
    let script = root().join("docs/examples/host.py");
    let mut cmd = tokio::process::Command::new("python3");
    cmd.arg(&script)
        .args(["--plugin", p(plugin), "--base-url", &tenant.base_url])
        .args(["--tenant", &tenant.tenant, "--realm", &tenant.realm])
        .args(["--client-id", &tenant.client_id])
        .args(["--client-secret", &tenant.client_secret])
        .args(["--page-size", "10", "--timeout", "30"])
        .args(extra)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = cmd.spawn().unwrap();
    tokio::time::timeout(RUN_TIMEOUT, child.wait_with_output())
        .await
        .expect("host.py finished in time")
        .unwrap()
}

/// The JSON lines host.py printed.
fn json_lines(o: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}\n{}", show(o))))
        .collect()
}

/// `YYYY-MM-DDTHH:MM:SS.sssZ`.
fn is_wire_time(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 24
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'.',
            23 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_host_runs_a_full_import_of_the_simulated_tenant() {
    let Some(plugin) = prerequisites() else {
        return;
    };
    let dir = TempDir::new("host-example");
    let tenant = simulate(&dir).await;
    let out = host(&plugin, &tenant, &["--window", "2"]).await;
    assert!(out.status.success(), "{}", show(&out));
    let lines = json_lines(&out);
    let (changes, rest) = lines.split_at(lines.len() - 1);

    let mut counts: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut ids = std::collections::BTreeSet::new();
    for c in changes {
        let key = (
            c["objectType"].as_str().unwrap().to_string(),
            c["changeType"].as_str().unwrap().to_string(),
        );
        *counts.entry(key).or_default() += 1;
        ids.insert(c["externalId"].as_str().unwrap().to_string());
        if c["objectType"] == "User" {
            let deleted = c["changeType"] == "Delete";
            assert_eq!(c["attributes"]["IsDeleted"], deleted, "{c}");
        }
    }
    let expected: BTreeMap<(String, String), u64> = [
        (("OrgUnit", "Upsert"), 5),
        (("User", "Delete"), 2),
        (("User", "Upsert"), 48),
    ]
    .into_iter()
    .map(|((t, k), n)| ((t.to_string(), k.to_string()), n))
    .collect();
    assert_eq!(counts, expected, "{}", show(&out));
    assert_eq!(ids.len(), 55, "every object once");

    let end = &rest[0];
    let outcome = &end["outcome"];
    assert_eq!(
        outcome["counts"],
        serde_json::json!({"OrgUnit": {"Upsert": 5, "Delete": 0}, "User": {"Upsert": 48, "Delete": 2}})
    );
    assert_eq!(outcome["complete"], true);
    assert_eq!(outcome["recordErrors"], serde_json::json!([]));
    // 5 worker pages of 10 and 1 org page, one request each.
    assert_eq!(
        end["metrics"],
        serde_json::json!({"requests": 6, "retries": 0, "pages": 6, "records": 55})
    );
    // The watermark: the JSON text {"w": "<time>", "o": "<time>"}.
    let watermark: BTreeMap<String, String> =
        serde_json::from_str(outcome["watermark"].as_str().unwrap()).unwrap();
    assert_eq!(
        watermark.keys().collect::<Vec<_>>(),
        ["o", "w"],
        "{watermark:?}"
    );
    assert!(watermark.values().all(|t| is_wire_time(t)), "{watermark:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("check token: ok"), "{stderr}");
    assert!(
        !stderr.contains(&tenant.client_secret),
        "the secret is never printed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_of_a_recorded_session_matches_the_json_schema() {
    let Some(plugin) = prerequisites() else {
        return;
    };
    if !python_ok("import jsonschema") {
        eprintln!(
            "SKIPPED: the Python jsonschema package is not installed (pip install jsonschema, or \
             apt-get install python3-jsonschema); the recorded session was not validated"
        );
        return;
    }
    let dir = TempDir::new("host-schema");
    let tenant = simulate(&dir).await;
    let record = dir.path("session.jsonl");
    let out = host(
        &plugin,
        &tenant,
        &["--window", "2", "--tour", "--record", p(&record)],
    )
    .await;
    assert!(out.status.success(), "{}", show(&out));

    // The tour: an import error leaves the connector validated.
    let lines = json_lines(&out);
    let tour = &lines.last().unwrap()["tour"];
    assert_eq!(tour["badDelta"]["type"], "error");
    assert_eq!(tour["badDelta"]["error"]["kind"], "Watermark");
    assert_eq!(tour["badDelta"]["error"]["retryable"], false);
    assert_eq!(
        tour["delta"]["type"], "result",
        "after a failed import the connector is still validated: {tour}"
    );
    assert_eq!(tour["cancelled"]["error"]["kind"], "Cancelled");
    assert_eq!(tour["refused"]["error"]["kind"], "Sink");
    assert_eq!(tour["refused"]["error"]["message"], "the store is full");

    let validate = |recording: &Path| {
        let o = std::process::Command::new("python3")
            .arg(root().join("docs/examples/validate_session.py"))
            .arg(root().join("docs/plugin-protocol.schema.json"))
            .arg(recording)
            .output()
            .unwrap();
        let summary: Value =
            serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}\n{}", show(&o)));
        (o.status.code(), summary)
    };
    let (code, summary) = validate(&record);
    assert_eq!(summary["invalid"], serde_json::json!([]), "{summary}");
    assert_eq!(code, Some(0));
    // Every message type of both directions was recorded (metrics messages
    // depend on timing and are not required).
    let types = summary["types"].as_object().unwrap();
    for t in [
        "engine:hello",
        "engine:schema",
        "engine:validate",
        "engine:check",
        "engine:import",
        "engine:ack",
        "engine:cancel",
        "plugin:hello",
        "plugin:schema",
        "plugin:validated",
        "plugin:checks",
        "plugin:page",
        "plugin:result",
        "plugin:error",
    ] {
        assert!(types.contains_key(t), "{t} missing from {summary}");
    }
    assert_eq!(types["engine:import"], 5);
    assert_eq!(types["plugin:result"], 2);
    assert_eq!(types["plugin:error"], 3);
    assert_eq!(
        types["engine:ack"], types["plugin:page"],
        "one ack per page"
    );

    // The schema is not vacuous: each of these breaks a rule of the protocol.
    let bad = [
        ("plugin", r#"{"type":"page"}"#),
        ("plugin", r#"{"type":"gossip"}"#),
        ("plugin", r#"{"type":"hello","protocolVersion":1}"#),
        (
            "plugin",
            r#"{"type":"page","changes":[{"objectType":"User","changeType":"Update","externalId":"a"}]}"#,
        ),
        (
            "plugin",
            r#"{"type":"page","changes":[{"objectType":"User","changeType":"Upsert","externalId":"a","attributes":{"n":1}}]}"#,
        ),
        (
            "plugin",
            r#"{"type":"error","error":{"kind":"Server","message":"no retryable"}}"#,
        ),
        (
            "plugin",
            r#"{"type":"result","outcome":{"complete":true,"counts":{}}}"#,
        ),
        (
            "plugin",
            r#"{"type":"result","outcome":{"complete":true,"counts":{"User":{"Upsert":1}},"recordErrors":[]}}"#,
        ),
        (
            "plugin",
            r#"{"type":"schema","schema":{"objectTypes":[{"name":"T","anchor":"id","attributes":[{"name":"m","kind":"reference","description":""}]}]}}"#,
        ),
        (
            "plugin",
            r#"{"type":"metrics","metrics":{"requests":-1,"retries":0,"pages":0,"records":0}}"#,
        ),
        ("engine", r#"{"type":"import","mode":"Partial"}"#),
        ("engine", r#"{"type":"import","mode":"Full","window":null}"#),
        (
            "engine",
            r#"{"type":"validate","config":{},"authMaterial":"x"}"#,
        ),
        (
            "engine",
            r#"{"type":"validate","config":"{}","authMaterial":"x","secrets":null}"#,
        ),
        ("engine", r#"{"type":"checks","checks":[]}"#),
    ];
    let bad_file = dir.path("bad.jsonl");
    let text: String = bad
        .iter()
        .map(|(from, line)| format!("{}\n", serde_json::json!({"from": from, "line": line})))
        .collect();
    std::fs::write(&bad_file, text).unwrap();
    let (code, summary) = validate(&bad_file);
    assert_eq!(code, Some(1));
    let rejected: Vec<u64> = summary["invalid"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["index"].as_u64().unwrap())
        .collect();
    assert_eq!(
        rejected,
        (0..bad.len() as u64).collect::<Vec<_>>(),
        "{summary}"
    );

    // And what the protocol allows: unknown fields, unknown error kinds, null
    // for an optional single value.
    let good = [
        ("plugin", r#"{"type":"validated","addedLater":1}"#),
        ("plugin", r#"{"type":"validated","schema":null}"#),
        (
            "plugin",
            r#"{"type":"error","error":{"kind":"Quota","retryable":true,"message":"m","retryAfterSeconds":2.5}}"#,
        ),
        (
            "plugin",
            r#"{"type":"page","changes":[{"objectType":"User","changeType":"Delete","externalId":"a","extra":1}],"metrics":null}"#,
        ),
        (
            "engine",
            r#"{"type":"import","mode":"Delta","watermark":null}"#,
        ),
        ("engine", r#"{"type":"ack","error":null}"#),
    ];
    let good_file = dir.path("good.jsonl");
    let text: String = good
        .iter()
        .map(|(from, line)| format!("{}\n", serde_json::json!({"from": from, "line": line})))
        .collect();
    std::fs::write(&good_file, text).unwrap();
    let (code, summary) = validate(&good_file);
    assert_eq!(summary["invalid"], serde_json::json!([]), "{summary}");
    assert_eq!(code, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_stdin_mid_import_ends_the_plugin_cleanly() {
    let Some(plugin) = prerequisites() else {
        return;
    };
    let dir = TempDir::new("host-close");
    let tenant = simulate(&dir).await;
    // Window 1 and no ack: the plugin waits for the engine when it goes away.
    let out = host(
        &plugin,
        &tenant,
        &["--window", "1", "--close-stdin-after-pages", "1"],
    )
    .await;
    assert!(out.status.success(), "{}", show(&out));
    let lines = json_lines(&out);
    let closed = &lines.last().unwrap()["closedStdin"];
    assert_eq!(closed["exitStatus"], 0, "{}", show(&out));
    let last = &closed["lastMessage"];
    assert_eq!(last["type"], "error", "{closed}");
    assert_eq!(last["error"]["kind"], "Cancelled", "{closed}");
    assert_eq!(last["error"]["retryable"], false, "{closed}");
    assert_eq!(
        last["metrics"]["pages"], 1,
        "no page after the first: {closed}"
    );
}
