//! The contract test kit: reusable checks every connector and fake-source pair
//! must pass, in the spirit of `object_store`'s shared integration suite.
//!
//! A backend implements [`ContractFixture`] for its connector and a fake source
//! it controls, then calls [`run_all`] (or the single checks) from a test:
//!
//! ```ignore
//! #[tokio::test]
//! async fn workday_passes_the_contract() {
//!     let fixture = MyFixture::start().await;
//!     connector_api::contract::run_all(&fixture).await;
//! }
//! ```
//!
//! Each check panics with a message saying which rule of the contract broke.
//! Every wait is bounded by [`CHECK_TIMEOUT`].

use std::collections::HashSet;
use std::time::Duration;

use async_trait::async_trait;

use crate::{
    Change, ChangeKind, ChangeSink, Connector, ConnectorError, ErrorKind, ImportOutcome,
    ImportRequest, RunContext, VecSink,
};

/// The longest any single import in the kit may take before the check fails.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(30);

/// A connector bound to a fake source the test controls.
///
/// The source must hold at least two pages' worth of objects, at least one
/// of which is deletable by [`ContractFixture::delete_one`].
#[async_trait]
pub trait ContractFixture: Send + Sync {
    /// A ready connector reading the fake source.
    async fn connector(&self) -> Box<dyn Connector>;

    /// Deletes (or soft-deletes, as the source models it) one object that a
    /// full import emits as an upsert, so that the next delta reports it.
    /// Returns its object type and external id.
    async fn delete_one(&self) -> (String, String);

    /// Makes the source fail every request until [`ContractFixture::heal`],
    /// with a fault the connector does not absorb by retrying.
    async fn break_source(&self);

    /// Undoes [`ContractFixture::break_source`].
    async fn heal(&self);
}

/// Runs every check of the kit, in order.
pub async fn run_all(fixture: &dyn ContractFixture) {
    schema_and_emitted_attributes_agree(fixture).await;
    full_then_quiet_delta_emits_nothing_new(fixture).await;
    watermark_is_accepted_by_next_run(fixture).await;
    failed_run_yields_no_watermark(fixture).await;
    cancellation_stops_promptly_without_watermark(fixture).await;
    deletes_are_reported_as_delete(fixture).await;
}

async fn import(
    connector: &dyn Connector,
    request: ImportRequest,
    sink: &mut dyn ChangeSink,
    ctx: &RunContext,
) -> Result<ImportOutcome, ConnectorError> {
    match tokio::time::timeout(CHECK_TIMEOUT, connector.import(request, sink, ctx)).await {
        Ok(result) => result,
        Err(_) => panic!("contract: an import took longer than {CHECK_TIMEOUT:?}"),
    }
}

async fn run_ok(connector: &dyn Connector, request: ImportRequest) -> (ImportOutcome, Vec<Change>) {
    let mut sink = VecSink::default();
    let what = format!("{:?} import", request.mode);
    let outcome = import(connector, request, &mut sink, &RunContext::new())
        .await
        .unwrap_or_else(|e| panic!("contract: {what} against a healthy source failed: {e}"));
    (outcome, sink.changes)
}

fn key(c: &Change) -> String {
    // The JSON form is the contract's identity of a change.
    serde_json::to_string(c).unwrap_or_else(|e| panic!("contract: change not serializable: {e}"))
}

/// Every change's object type is in the schema, every attribute it carries is
/// declared there, and every value is of the declared kind. Counts in the
/// outcome match what reached the sink.
pub async fn schema_and_emitted_attributes_agree(fixture: &dyn ContractFixture) {
    let connector = fixture.connector().await;
    let schema = connector.schema();
    let (outcome, changes) = run_ok(connector.as_ref(), ImportRequest::full()).await;
    assert!(
        !changes.is_empty(),
        "contract: a full import emitted nothing"
    );
    for change in &changes {
        let ot = schema.object_type(&change.object_type).unwrap_or_else(|| {
            panic!(
                "contract: change for object type {:?} which the schema does not declare",
                change.object_type
            )
        });
        assert!(!change.external_id.is_empty(), "contract: empty externalId");
        for (name, value) in &change.attributes {
            let attr = ot.attribute(name).unwrap_or_else(|| {
                panic!(
                    "contract: {} attribute {name:?} is emitted but not in the schema",
                    ot.name
                )
            });
            assert!(
                value.is_of_kind(&attr.kind),
                "contract: {} attribute {name:?} = {value:?} is not of kind {:?}",
                ot.name,
                attr.kind
            );
        }
        // The JSON form reads back to the same change through the schema.
        let back = schema
            .parse_change(&key(change))
            .unwrap_or_else(|e| panic!("contract: emitted change does not parse back: {e}"));
        assert_eq!(&back, change, "contract: change JSON does not round-trip");
    }
    assert_eq!(
        outcome.counts.total(),
        changes.len() as u64,
        "contract: outcome counts disagree with the changes the sink received"
    );
    assert!(
        outcome.complete,
        "contract: a clean full import must be complete"
    );
    expect_watermark(&outcome, "full import");
}

/// The watermark of a clean run, which must have one.
fn expect_watermark(outcome: &ImportOutcome, run: &str) -> Option<String> {
    assert!(
        outcome.watermark.is_some(),
        "contract: a clean {run} must return a watermark"
    );
    outcome.watermark.clone()
}

/// A delta right after a full import, with no change at the source, emits
/// nothing the full import did not already emit (re-emitting an identical
/// boundary change is allowed: upserts are idempotent).
pub async fn full_then_quiet_delta_emits_nothing_new(fixture: &dyn ContractFixture) {
    let connector = fixture.connector().await;
    let (full, full_changes) = run_ok(connector.as_ref(), ImportRequest::full()).await;
    let seen: HashSet<String> = full_changes.iter().map(key).collect();
    let (delta, delta_changes) = run_ok(
        connector.as_ref(),
        ImportRequest::delta(full.watermark.clone()),
    )
    .await;
    for change in &delta_changes {
        assert!(
            seen.contains(&key(change)),
            "contract: a delta with no source change emitted something new: {}",
            key(change)
        );
    }
    expect_watermark(&delta, "delta");
    assert!(
        !delta.complete,
        "contract: a delta never sees the complete set of objects"
    );
}

/// The watermark a run returns is accepted by the next run, full's by a delta
/// and a delta's by the next delta.
pub async fn watermark_is_accepted_by_next_run(fixture: &dyn ContractFixture) {
    let connector = fixture.connector().await;
    let (full, _) = run_ok(connector.as_ref(), ImportRequest::full()).await;
    let (first, _) = run_ok(connector.as_ref(), ImportRequest::delta(full.watermark)).await;
    let first = expect_watermark(&first, "delta");
    let (second, _) = run_ok(connector.as_ref(), ImportRequest::delta(first)).await;
    expect_watermark(&second, "delta");
}

/// A run against a failing source returns an error (so no watermark), and
/// the same watermark works again once the source heals.
pub async fn failed_run_yields_no_watermark(fixture: &dyn ContractFixture) {
    let connector = fixture.connector().await;
    let (full, _) = run_ok(connector.as_ref(), ImportRequest::full()).await;
    fixture.break_source().await;
    let mut sink = VecSink::default();
    let failed = import(
        connector.as_ref(),
        ImportRequest::delta(full.watermark.clone()),
        &mut sink,
        &RunContext::new(),
    )
    .await;
    fixture.heal().await;
    match failed {
        Ok(outcome) => panic!(
            "contract: a run against a broken source succeeded with watermark {:?}",
            outcome.watermark
        ),
        Err(e) => assert_ne!(
            e.kind(),
            ErrorKind::Cancelled,
            "contract: a source failure was reported as a cancellation"
        ),
    }
    let (healed, _) = run_ok(connector.as_ref(), ImportRequest::delta(full.watermark)).await;
    assert!(healed.watermark.is_some());
}

struct CancelAfterFirstPage {
    ctx: RunContext,
    pages: usize,
    pages_after_cancel: usize,
}

#[async_trait]
impl ChangeSink for CancelAfterFirstPage {
    async fn apply(&mut self, _changes: Vec<Change>) -> Result<(), ConnectorError> {
        if self.ctx.is_cancelled() {
            self.pages_after_cancel += 1;
        }
        self.pages += 1;
        self.ctx.cancel();
        Ok(())
    }
}

/// A run cancelled before it starts emits nothing; a run cancelled after its
/// first page delivers no further page; both end with
/// [`ErrorKind::Cancelled`] and so yield no watermark.
pub async fn cancellation_stops_promptly_without_watermark(fixture: &dyn ContractFixture) {
    let connector = fixture.connector().await;

    let ctx = RunContext::new();
    ctx.cancel();
    let mut sink = VecSink::default();
    let early = import(connector.as_ref(), ImportRequest::full(), &mut sink, &ctx).await;
    match early {
        Err(e) => assert_eq!(e.kind(), ErrorKind::Cancelled, "contract: {e}"),
        Ok(_) => panic!("contract: a run cancelled before it started succeeded"),
    }
    assert!(
        sink.changes.is_empty(),
        "contract: a run cancelled before it started emitted changes"
    );

    let ctx = RunContext::new();
    let mut sink = CancelAfterFirstPage {
        ctx: ctx.clone(),
        pages: 0,
        pages_after_cancel: 0,
    };
    let late = import(connector.as_ref(), ImportRequest::full(), &mut sink, &ctx).await;
    match late {
        Err(e) => assert_eq!(e.kind(), ErrorKind::Cancelled, "contract: {e}"),
        Ok(_) => panic!("contract: a run cancelled after its first page succeeded"),
    }
    assert_eq!(
        sink.pages, 1,
        "contract: pages were delivered after cancellation"
    );
    assert_eq!(sink.pages_after_cancel, 0);
}

/// An object deleted at the source is reported by the next delta as a
/// [`ChangeKind::Delete`] with its external id.
pub async fn deletes_are_reported_as_delete(fixture: &dyn ContractFixture) {
    let connector = fixture.connector().await;
    let (full, _) = run_ok(connector.as_ref(), ImportRequest::full()).await;
    let (object_type, external_id) = fixture.delete_one().await;
    let (_, changes) = run_ok(connector.as_ref(), ImportRequest::delta(full.watermark)).await;
    let found = changes
        .iter()
        .find(|c| c.object_type == object_type && c.external_id == external_id)
        .unwrap_or_else(|| {
            panic!(
                "contract: the delta after deleting {object_type} {external_id} did not report it"
            )
        });
    assert_eq!(
        found.kind,
        ChangeKind::Delete,
        "contract: {object_type} {external_id} was deleted but reported as {}",
        found.kind
    );
}
