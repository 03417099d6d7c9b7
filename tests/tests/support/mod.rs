//! Helpers shared by the simulator suites in this crate: the simulated
//! tenant, the Workday configuration and secrets pointing at it, and the
//! contract-kit fixture (whichever way the connector is built: in process or
//! through the plugin protocol).

#![allow(dead_code)] // each suite uses a different subset

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;

use std::sync::Arc;

use connector_api::contract::ContractFixture;
use connector_api::{Connector, StaticSecrets};
use connector_workday::retry::{RecordingSleeper, RetryPolicy};
use connector_workday::WorkdayFactory;
use harness::sim::{Endpoint, FaultKind, FaultRule, SimConfig, Simulator};
use serde_json::json;

/// The auth material every suite uses (the simulator's tenant is `acme`).
pub const SECRET_REF: &str = "secret://workday/acme/clientsecret";

/// A boxed future, for the hand-written `ContractFixture` impl (this crate
/// does not depend on async-trait).
pub type Fut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A simulated tenant of `workers` and `orgs` on 127.0.0.1.
pub async fn sim(workers: usize, orgs: usize) -> Simulator {
    Simulator::start(SimConfig {
        workers,
        orgs,
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts")
}

/// The Workday factory the suites use: back-off delays are recorded in
/// `sleeper` instead of slept, and exact (jitter-free).
pub fn recording_factory(sleeper: &RecordingSleeper) -> WorkdayFactory {
    WorkdayFactory::new()
        .with_sleeper(Arc::new(sleeper.clone()))
        .with_retry_policy(RetryPolicy::exact())
}

/// A Workday configJson pointing at `sim`, with `extra` keys merged in.
pub fn config(sim: &Simulator, extra: serde_json::Value) -> String {
    let mut c = json!({
        "BaseUrl": sim.base_url(),
        "TenantName": sim.config().tenant,
        "Realm": sim.config().realm,
        "ClientId": sim.config().client_id,
    });
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        c[k] = v;
    }
    c.to_string()
}

/// The simulator's demo client secret under [`SECRET_REF`].
pub fn secrets(sim: &Simulator) -> StaticSecrets {
    StaticSecrets::new().with(SECRET_REF, &sim.config().client_secret)
}

/// Requests served so far: (token, workers, organizations).
pub fn counts(sim: &Simulator) -> (usize, usize, usize) {
    (
        sim.request_count(Endpoint::Token),
        sim.request_count(Endpoint::Workers),
        sim.request_count(Endpoint::Organizations),
    )
}

/// An active worker who manages no org (org managers may not be moved or
/// purged by the simulator), skipping the first `skip` such workers.
pub fn an_active_non_manager(sim: &Simulator, skip: usize) -> String {
    let mut managers = HashSet::new();
    sim.for_each_org(|o| {
        if let Some(m) = o.get("manager") {
            let id = m.get("id").and_then(|v| v.as_str()).or_else(|| m.as_str());
            if let Some(id) = id {
                managers.insert(id.to_string());
            }
        }
    });
    sim.worker_ids()
        .into_iter()
        .filter(|id| !managers.contains(id))
        .filter(|id| {
            sim.worker(id)
                .is_some_and(|w| w["employmentStatus"] == "Active")
        })
        .nth(skip)
        .expect("an active worker who manages no org")
}

/// Builds a ready connector reading the given simulator.
pub type MakeConnector = Box<dyn Fn(Simulator) -> Fut<'static, Box<dyn Connector>> + Send + Sync>;

/// The contract-kit fixture for Workday against the simulator: deleting is
/// terminating a worker, breaking is a persistent 400 on the workers feed.
pub struct SimFixture {
    /// The simulated tenant.
    pub sim: Simulator,
    /// How the connector under test is built.
    pub make: MakeConnector,
}

impl ContractFixture for SimFixture {
    fn connector<'a, 'b>(&'a self) -> Fut<'b, Box<dyn Connector>>
    where
        'a: 'b,
        Self: 'b,
    {
        (self.make)(self.sim.clone())
    }

    fn delete_one<'a, 'b>(&'a self) -> Fut<'b, (String, String)>
    where
        'a: 'b,
        Self: 'b,
    {
        Box::pin(async move {
            let id = an_active_non_manager(&self.sim, 0);
            self.sim.terminate(&id).expect("terminate");
            ("User".to_string(), id)
        })
    }

    fn break_source<'a, 'b>(&'a self) -> Fut<'b, ()>
    where
        'a: 'b,
        Self: 'b,
    {
        Box::pin(async move {
            self.sim.clear_requests();
            self.sim.add_fault(FaultRule {
                endpoint: Endpoint::Workers,
                at_request: 1,
                times: usize::MAX,
                kind: FaultKind::Status(400),
            });
        })
    }

    fn heal<'a, 'b>(&'a self) -> Fut<'b, ()>
    where
        'a: 'b,
        Self: 'b,
    {
        Box::pin(async move {
            self.sim.clear_faults();
        })
    }
}
