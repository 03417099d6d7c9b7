//! The Workday connector through the plugin protocol, in one process: the
//! engine side is a `PluginFactory::connect` whose sessions are
//! `serve(WorkdayFactory, ...)` tasks over `tokio::io::duplex`, against the
//! embedded simulator. The contract kit passes through the protocol exactly
//! as it does in process (`connector_sim.rs`), and the protocol changes
//! nothing: same changes, same order, same requests, same metrics.
//!
//! Back-off delays are recorded, not slept: the `RecordingSleeper` sits in
//! the plugin side's factory, where the connector runs.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::sync::Arc;
use std::time::Duration;

use connector_api::contract::run_all;
use connector_api::plugin::{serve, PluginFactory, PluginOptions, PluginTransport};
use connector_api::{
    Connector, ConnectorFactory, ErrorKind, ImportMode, ImportOutcome, ImportRequest, RunContext,
    SecretError, SecretRef, SecretResolver, StaticSecrets, VecSink,
};
use connector_workday::retry::RecordingSleeper;
use connector_workday::WorkdayFactory;
use harness::sim::{AuthUsed, Endpoint, FaultKind, FaultRule, Simulator};
use secrecy::SecretString;
use serde_json::json;

mod support;
use support::{an_active_non_manager, config, counts, secrets, sim, SimFixture, SECRET_REF};

/// Every wait in this file is bounded by this.
const BOUND: Duration = Duration::from_secs(60);

/// A plugin factory whose sessions serve the Workday connector over
/// in-memory pipes; `sleeper` records the plugin side's back-off delays.
async fn plugin(sleeper: &RecordingSleeper) -> PluginFactory {
    let sleeper = sleeper.clone();
    PluginFactory::connect(
        "workday-over-duplex",
        move || {
            let (engine_end, plugin_end) = tokio::io::duplex(256 * 1024);
            let (plugin_read, plugin_write) = tokio::io::split(plugin_end);
            let (engine_read, engine_write) = tokio::io::split(engine_end);
            let factory = support::recording_factory(&sleeper);
            tokio::spawn(async move {
                if let Err(e) = serve(factory, plugin_read, plugin_write).await {
                    eprintln!("workday plugin stopped: {e}");
                }
            });
            Ok(PluginTransport::new(engine_read, engine_write))
        },
        PluginOptions {
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            ..PluginOptions::default()
        },
    )
    .await
    .unwrap()
}

async fn import(
    connector: &dyn Connector,
    request: ImportRequest,
) -> (
    Result<ImportOutcome, connector_api::ConnectorError>,
    VecSink,
    RunContext,
) {
    let ctx = RunContext::new();
    let mut sink = VecSink::default();
    let result = tokio::time::timeout(BOUND, connector.import(request, &mut sink, &ctx))
        .await
        .expect("the import ends in time");
    (result, sink, ctx)
}

#[tokio::test]
async fn the_workday_plugin_passes_the_contract_kit_against_the_simulator() {
    let sleeper = RecordingSleeper::new();
    let factory = Arc::new(plugin(&sleeper).await);
    let info = factory.info();
    assert_eq!(info.name, "workday");
    assert_eq!(info.modes, vec![ImportMode::Full, ImportMode::Delta]);
    assert_eq!(factory.schema(), WorkdayFactory::new().schema());
    let fixture = SimFixture {
        sim: sim(200, 12).await,
        make: Box::new(move |sim| {
            let factory = Arc::clone(&factory);
            Box::pin(async move {
                factory
                    .validate(
                        &config(&sim, json!({"PageSize": 40})),
                        SECRET_REF,
                        &secrets(&sim),
                    )
                    .await
                    .unwrap()
            })
        }),
    };
    run_all(&fixture).await;
    assert!(
        sleeper.delays().is_empty(),
        "the kit's faults are not retried"
    );
}

#[tokio::test]
async fn through_the_protocol_the_import_is_the_same_as_in_process() {
    let sim = sim(1_050, 30).await;
    let cfg = config(&sim, json!({}));

    let in_process = WorkdayFactory::new()
        .validate(&cfg, SECRET_REF, &secrets(&sim))
        .await
        .unwrap();
    let (direct, direct_sink, direct_ctx) =
        import(in_process.as_ref(), ImportRequest::full()).await;
    let direct = direct.unwrap();
    assert_eq!(counts(&sim), (1, 11, 1));

    sim.clear_requests();
    let sleeper = RecordingSleeper::new();
    let factory = plugin(&sleeper).await;
    let via_plugin = factory
        .validate(&cfg, SECRET_REF, &secrets(&sim))
        .await
        .unwrap();
    let (remote, remote_sink, remote_ctx) =
        import(via_plugin.as_ref(), ImportRequest::full()).await;
    let remote = remote.unwrap();
    assert_eq!(counts(&sim), (1, 11, 1), "the same requests");

    assert_eq!(
        remote_sink.changes, direct_sink.changes,
        "same changes, same order"
    );
    assert_eq!(remote_sink.changes.len(), 1_080);
    assert_eq!(
        remote, direct,
        "same outcome: watermark, counts, completeness"
    );
    assert!(remote.complete);
    assert_eq!(
        remote_ctx.metrics().snapshot(),
        direct_ctx.metrics().snapshot(),
        "the plugin's metrics reach the engine's context"
    );

    // A delta through the plugin after a mutation sees it.
    let moved = an_active_non_manager(&sim, 1);
    sim.terminate(&moved).unwrap();
    let (delta, sink, _) = import(
        via_plugin.as_ref(),
        ImportRequest::delta(remote.watermark.clone()),
    )
    .await;
    let delta = delta.unwrap();
    assert!(sink
        .changes
        .iter()
        .any(|c| c.external_id == moved && c.kind == connector_api::ChangeKind::Delete));
    assert!(delta.watermark.is_some());
}

#[tokio::test]
async fn retries_happen_in_the_plugin_with_its_injected_sleeper() {
    let sim = sim(300, 10).await;
    sim.add_fault(FaultRule {
        endpoint: Endpoint::Workers,
        at_request: 2,
        times: 3,
        kind: FaultKind::Status(503),
    });
    let sleeper = RecordingSleeper::new();
    let factory = plugin(&sleeper).await;
    let connector = factory
        .validate(
            &config(&sim, json!({"MaxConcurrentRequests": 1})),
            SECRET_REF,
            &secrets(&sim),
        )
        .await
        .unwrap();
    let (outcome, sink, ctx) = import(connector.as_ref(), ImportRequest::full()).await;
    let outcome = outcome.unwrap();
    assert!(outcome.complete);
    assert_eq!(sink.changes.len(), 310);
    assert_eq!(sleeper.delays(), [1, 2, 4].map(Duration::from_secs));
    assert_eq!(ctx.metrics().snapshot().retries, 3);
    assert_eq!(counts(&sim), (1, 3 + 3, 1));

    // Past the retries: the error's axes cross the protocol, no watermark.
    sim.clear_requests();
    sleeper.clear();
    sim.add_fault(FaultRule {
        endpoint: Endpoint::Workers,
        at_request: 1,
        times: usize::MAX,
        kind: FaultKind::Status(503),
    });
    let (result, _, _) = import(connector.as_ref(), ImportRequest::full()).await;
    let err = result.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Server);
    assert!(err.is_retryable());
    assert_eq!(sleeper.delays(), [1, 2, 4].map(Duration::from_secs));
}

#[tokio::test]
async fn through_the_protocol_the_schema_is_the_configured_one() {
    let sim = sim(60, 4).await;
    let cfg = config(&sim, json!({"ExternalIdAttribute": "employeeNumber"}));
    let in_process = WorkdayFactory::new()
        .validate(&cfg, SECRET_REF, &secrets(&sim))
        .await
        .unwrap();
    let sleeper = RecordingSleeper::new();
    let factory = plugin(&sleeper).await;
    assert_eq!(
        factory.schema().object_type("User").unwrap().anchor,
        "id",
        "before validate, the plugin's general schema"
    );
    let via_plugin = factory
        .validate(&cfg, SECRET_REF, &secrets(&sim))
        .await
        .unwrap();
    let schema = via_plugin.schema();
    assert_eq!(schema.object_type("User").unwrap().anchor, "employeeNumber");
    assert_eq!(schema, in_process.schema());

    // The changes are anchored on it too, as in process.
    let (direct, direct_sink, _) = import(in_process.as_ref(), ImportRequest::full()).await;
    let (remote, remote_sink, _) = import(via_plugin.as_ref(), ImportRequest::full()).await;
    assert_eq!(remote.unwrap(), direct.unwrap());
    assert_eq!(remote_sink.changes, direct_sink.changes);
    let first = &sim.worker_ids()[0];
    let number = sim.worker(first).unwrap()["employeeNumber"].clone();
    let number = number.as_str().unwrap();
    assert_ne!(number, first);
    assert!(remote_sink
        .changes
        .iter()
        .any(|c| c.object_type == "User" && c.external_id == number));
    assert!(remote_sink.changes.iter().all(|c| &c.external_id != first));
}

/// The contract kit through the plugin for `Api: "Soap"`, with `keys` merged
/// into the simulator's configuration and the ISU password stored too.
/// Afterwards every `Get_Workers`/`Get_Organizations` presented `auth`.
async fn soap_contract_kit_through_the_plugin(keys: serde_json::Value, auth: AuthUsed) {
    let sleeper = RecordingSleeper::new();
    let factory = Arc::new(plugin(&sleeper).await);
    let tenant = sim(200, 12).await;
    let fixture = SimFixture {
        sim: tenant.clone(),
        make: Box::new(move |sim| {
            let factory = Arc::clone(&factory);
            let keys = keys.clone();
            Box::pin(async move {
                let mut extra = json!({"PageSize": 40, "Api": "Soap"});
                for (k, v) in keys.as_object().cloned().unwrap_or_default() {
                    extra[k] = v;
                }
                if extra.get("IsuUsername").is_some() {
                    extra["IsuUsername"] = json!(sim.config().isu_username);
                }
                let mut cfg: serde_json::Value =
                    serde_json::from_str(&config(&sim, extra)).unwrap();
                cfg.as_object_mut().unwrap().retain(|_, v| !v.is_null());
                let secrets = secrets(&sim).with(ISU_REF, &sim.config().isu_password);
                factory
                    .validate(&cfg.to_string(), SECRET_REF, &secrets)
                    .await
                    .unwrap()
            })
        }),
    };
    run_all(&fixture).await;
    assert!(
        sleeper.delays().is_empty(),
        "the kit's faults are not retried"
    );
    // The requests since the kit last cleared them (its broken source).
    let soap: Vec<AuthUsed> = tenant
        .requests()
        .iter()
        .filter(|r| r.path == "/ccx/service/acme/Human_Resources/v44.0")
        .map(|r| r.auth)
        .collect();
    assert!(!soap.is_empty(), "the kit read over SOAP");
    assert!(soap.iter().all(|a| *a == auth), "{soap:?}");
    assert_eq!(
        tenant
            .requests()
            .iter()
            .filter(|r| r.endpoint != Endpoint::Token && !r.path.contains("/Human_Resources/"))
            .count(),
        0,
        "no REST request"
    );
}

#[tokio::test]
async fn the_workday_plugin_passes_the_contract_kit_for_api_soap_with_a_username_token() {
    // IsuPasswordRef left to its default: the plugin lists it, the engine
    // sends it.
    soap_contract_kit_through_the_plugin(
        json!({
            "IsuUsername": "(the simulator's)",
            "ClientId": null,
        }),
        AuthUsed::UsernameToken,
    )
    .await;
}

#[tokio::test]
async fn the_workday_plugin_passes_the_contract_kit_for_api_soap_with_a_bearer_token() {
    // No IsuUsername: the SOAP requests carry the OAuth token of ClientId and
    // the client secret at AuthMaterial, as REST does.
    soap_contract_kit_through_the_plugin(json!({}), AuthUsed::Bearer).await;
}

/// A resolver that records every reference it is asked for (the engine
/// sends a plugin only what it resolved).
struct Recording {
    inner: StaticSecrets,
    asked: std::sync::Mutex<Vec<String>>,
}

impl Recording {
    fn new(sim: &Simulator) -> Self {
        Self {
            inner: secrets(sim).with(ISU_REF, &sim.config().isu_password).with(
                "secret://workday/acme/refreshtoken",
                &sim.config().refresh_token,
            ),
            asked: std::sync::Mutex::new(Vec::new()),
        }
    }

    fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

impl SecretResolver for Recording {
    fn resolve<'a, 'b, 'c>(
        &'a self,
        reference: &'b SecretRef,
    ) -> support::Fut<'c, Result<SecretString, SecretError>>
    where
        'a: 'c,
        'b: 'c,
        Self: 'c,
    {
        Box::pin(async move {
            self.asked.lock().unwrap().push(reference.to_string());
            self.inner.resolve(reference).await
        })
    }
}

const ISU_REF: &str = "secret://workday/acme/isupassword";

/// The simulator's configuration for `Api: "Soap"` with `keys` merged in
/// (a null removes a key).
fn soap_config(sim: &Simulator, keys: serde_json::Value) -> String {
    let mut extra = json!({"Api": "Soap"});
    for (k, v) in keys.as_object().cloned().unwrap_or_default() {
        extra[k] = v;
    }
    let mut cfg: serde_json::Value = serde_json::from_str(&config(sim, extra)).unwrap();
    cfg.as_object_mut().unwrap().retain(|_, v| !v.is_null());
    cfg.to_string()
}

#[tokio::test]
async fn an_isu_password_left_to_its_default_reaches_the_plugin() {
    let sim = sim(60, 4).await;
    // IsuUsername set, IsuPasswordRef not written: it defaults to
    // secret://workday/acme/isupassword.
    let cfg = soap_config(
        &sim,
        json!({"IsuUsername": sim.config().isu_username, "ClientId": null}),
    );
    assert!(
        !cfg.contains("IsuPasswordRef") && !cfg.contains(ISU_REF),
        "{cfg}"
    );
    let in_process = WorkdayFactory::new()
        .validate(&cfg, SECRET_REF, &Recording::new(&sim))
        .await
        .unwrap();
    let (direct, direct_sink, _) = import(in_process.as_ref(), ImportRequest::full()).await;
    let direct = direct.unwrap();

    let resolver = Recording::new(&sim);
    let factory = plugin(&RecordingSleeper::new()).await;
    let via_plugin = factory.validate(&cfg, SECRET_REF, &resolver).await.unwrap();
    assert_eq!(
        resolver.asked(),
        [ISU_REF],
        "the ISU password, not the client secret AuthMaterial names"
    );
    sim.clear_requests();
    let (remote, remote_sink, _) = import(via_plugin.as_ref(), ImportRequest::full()).await;
    let remote = remote.unwrap();
    assert!(remote.complete, "{:?}", remote.warnings);
    assert_eq!(remote_sink.changes, direct_sink.changes);
    assert_eq!(remote.counts, direct.counts);
    assert_eq!(sim.request_count(Endpoint::Token), 0, "no OAuth token");
    assert!(sim
        .requests()
        .iter()
        .all(|r| r.auth == AuthUsed::UsernameToken));
}

#[tokio::test]
async fn a_plugin_is_sent_only_the_secrets_its_configuration_needs() {
    let sim = sim(20, 2).await;
    let factory = plugin(&RecordingSleeper::new()).await;
    let custom = "secret://workday/acme/isu-rotated";
    let refresh = "secret://workday/acme/refreshtoken";
    let cases: [(&str, serde_json::Value, Vec<&str>); 5] = [
        ("REST", json!({"Api": null}), vec![SECRET_REF]),
        (
            "REST with a refresh token",
            json!({"Api": null, "GrantType": "refresh_token", "RefreshTokenRef": refresh}),
            vec![SECRET_REF, refresh],
        ),
        ("Soap with a bearer token", json!({}), vec![SECRET_REF]),
        (
            "Soap with a UsernameToken and its own IsuPasswordRef",
            json!({
                "IsuUsername": sim.config().isu_username,
                "IsuPasswordRef": custom,
                "ClientId": null,
            }),
            vec![custom],
        ),
        // An unusable configuration gets no secret at all.
        ("an invalid PageSize", json!({"PageSize": 5000}), vec![]),
    ];
    for (what, keys, expected) in cases {
        let resolver = Recording::new(&sim);
        let result = factory
            .validate(&soap_config(&sim, keys), SECRET_REF, &resolver)
            .await;
        assert_eq!(resolver.asked(), expected, "{what}");
        match (what, result) {
            ("an invalid PageSize", Err(e)) => {
                assert_eq!(e.kind(), ErrorKind::Configuration, "{e}");
                assert!(e.message().contains("PageSize"), "{e}");
            }
            // The rotated password is not stored: the plugin's connector
            // reports the engine's reason.
            ("Soap with a UsernameToken and its own IsuPasswordRef", Err(e)) => {
                assert_eq!(e.kind(), ErrorKind::Secret, "{e}");
                assert!(
                    e.message().starts_with(&format!(
                        "IsuPasswordRef: secret {custom} could not be resolved"
                    )),
                    "{e}"
                );
            }
            (_, Ok(_)) if what.starts_with("REST") || what.starts_with("Soap with a bearer") => {}
            (what, other) => panic!("{what}: {:?}", other.map(|c| c.schema())),
        }
    }
}
