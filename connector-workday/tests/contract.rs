//! The connector-api contract kit against the wiremock tenant (the
//! workspace `tests/` crate runs it against the simulator too).

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use async_trait::async_trait;
use chrono::Duration as ChronoDuration;
use common::*;
use connector_api::contract::{run_all, ContractFixture};
use connector_api::Connector;
use serde_json::json;

struct Fixture {
    tenant: Tenant,
}

#[async_trait]
impl ContractFixture for Fixture {
    async fn connector(&self) -> Box<dyn Connector> {
        let (c, _) = self.tenant.connector(json!({"PageSize": 25})).await;
        Box::new(c)
    }

    async fn delete_one(&self) -> (String, String) {
        let i = {
            let s = self.tenant.state.lock().unwrap();
            s.workers
                .iter()
                .position(|w| w["employmentStatus"] == "Active")
                .unwrap()
        };
        self.tenant
            .update_worker(i, t0() + ChronoDuration::days(30 + i as i64), |w| {
                w["employmentStatus"] = json!("Terminated");
            });
        ("User".into(), worker_id(i))
    }

    async fn break_source(&self) {
        self.tenant.state.lock().unwrap().broken = Some(400);
    }

    async fn heal(&self) {
        self.tenant.state.lock().unwrap().broken = None;
    }
}

#[tokio::test]
async fn the_connector_passes_the_contract_kit() {
    let fixture = Fixture {
        tenant: Tenant::start(120, 30).await,
    };
    run_all(&fixture).await;
}

#[tokio::test]
async fn the_contract_holds_with_a_persistent_server_error_too() {
    let fixture = Fixture {
        tenant: Tenant::start(60, 5).await,
    };
    // A 500 is retried (3 times, delays recorded not slept) and then fails the run.
    fixture.tenant.state.lock().unwrap().broken = Some(500);
    let c = fixture.connector().await;
    let e = c
        .import(
            connector_api::ImportRequest::full(),
            &mut connector_api::VecSink::default(),
            &connector_api::RunContext::new(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), connector_api::ErrorKind::Server);
    fixture.heal().await;
    run_all(&fixture).await;
}
