//! One import run: feeds in order (organizations, then workers), pages to
//! the sink in order, delta filtering, drift detection and the new watermark.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use connector_api::{
    Change, ChangeSink, ConnectorError, ImportMode, ImportOutcome, ImportRequest, RunContext, Value,
};

use crate::client::{ServerDate, WorkdayClient};
use crate::config::{Api, ExternalIdAttribute};
use crate::coverage::Coverage;
use crate::endpoint::Feed;
use crate::mapping::{self, MappingError, LAST_UPDATED};
use crate::paging::{Pager, Prepare, Source};
use crate::record::{FieldValue, Fields};
use crate::retry::RetryPolicy;
use crate::seen::{id_hash, PassIds, SeenIds};
use crate::soap::request::{Query, Window};
use crate::watermark::{self, Watermark};

/// How many duplicate ids a drift warning lists.
const SHOWN_DUPLICATES: usize = 5;

/// The settings of a run, from the configuration.
#[derive(Debug, Clone)]
pub(crate) struct RunSettings {
    pub page_size: u32,
    pub concurrency: u32,
    pub overlap: Duration,
    pub external_id: ExternalIdAttribute,
    pub import_workers: bool,
    pub import_organizations: bool,
    pub policy: RetryPolicy,
    pub api: Api,
    /// How many ids a pass keeps in memory before it spills, and where to
    /// (see [`PassIds`]).
    pub spill: (usize, Option<PathBuf>),
}

impl RunSettings {
    /// The enabled feeds, in import order: organizations first, so the
    /// organizations workers point at exist when the workers arrive.
    fn feeds(&self) -> Vec<Feed> {
        let mut feeds = Vec::new();
        if self.import_organizations {
            feeds.push(Feed::Organizations);
        }
        if self.import_workers {
            feeds.push(Feed::Workers);
        }
        feeds
    }
}

fn get(w: &Watermark, feed: Feed) -> Option<DateTime<Utc>> {
    match feed {
        Feed::Workers => w.workers,
        Feed::Organizations => w.organizations,
    }
}

fn slot(w: &mut Watermark, feed: Feed) -> &mut Option<DateTime<Utc>> {
    match feed {
        Feed::Workers => &mut w.workers,
        Feed::Organizations => &mut w.organizations,
    }
}

/// What reading one feed found.
struct FeedResult {
    newest: Option<DateTime<Utc>>,
    duplicates: u64,
    /// The external ids emitted (hashed), so a later pass skips them: all
    /// of them when the caller asked to keep them, else those in memory.
    seen: SeenIds,
    /// Why repeats could not be ruled out (a spill file failed): the read
    /// is treated as drifted.
    unverified: Option<String>,
}

/// The SOAP passes of one feed: a full read, or on a delta the transaction
/// log windows `[from, read_time]` (workers: entered, then effective).
fn soap_passes(feed: Feed, from: Option<DateTime<Utc>>, read_time: DateTime<Utc>) -> Vec<Query> {
    match (feed, from) {
        (Feed::Workers, None) => vec![Query::Workers {
            exclude_inactive: true,
            window: None,
        }],
        (Feed::Workers, Some(f)) => vec![
            Query::Workers {
                exclude_inactive: false,
                window: Some(Window::Updated(f, read_time)),
            },
            Query::Workers {
                exclude_inactive: false,
                window: Some(Window::Effective(f, read_time)),
            },
        ],
        (Feed::Organizations, None) => vec![Query::Organizations {
            include_inactive: false,
            window: None,
        }],
        (Feed::Organizations, Some(f)) => vec![Query::Organizations {
            include_inactive: true,
            window: Some(Window::Updated(f, read_time)),
        }],
    }
}

/// What a SOAP read asks for, given the read time (a `Date` header, so to
/// the second): everything entered up to the end of that second, so that a
/// change entered in the same second as the read, before it, is seen by it.
/// The watermark is the read time itself, the start of that second: the
/// next window begins there (less the overlap) and re-reads the whole
/// second, so a change entered in its remainder while the pages were read,
/// seen by some pages and not others, is read again, never lost, whatever
/// `DeltaOverlapSeconds` is.
fn as_of(read_time: DateTime<Utc>) -> DateTime<Utc> {
    read_time + chrono::Duration::milliseconds(999)
}

/// The SOAP read time: the `Date` of the run's first answer. With a bearer
/// token that is a fresh token's answer; with a UsernameToken, a first
/// `Get_Workers` with `Count` 1.
async fn soap_read_time(
    client: &Arc<WorkdayClient>,
    settings: &RunSettings,
    ctx: &RunContext,
) -> Result<DateTime<Utc>, ConnectorError> {
    let username_token = client.soap.as_ref().is_some_and(|s| s.isu.is_some());
    let (date, operation) = if username_token {
        let probe = Query::Workers {
            exclude_inactive: true,
            window: None,
        };
        let page = client
            .soap_page(probe, None, 1, 1, ctx, settings.policy)
            .await?;
        (page.date, "first Get_Workers answer")
    } else {
        let date = client
            .token
            .refresh_dated(&client.http, ctx, settings.policy)
            .await?;
        (date, "access token answer")
    };
    match date {
        ServerDate::At(t) => Ok(t),
        other => Err(ConnectorError::new(
            connector_api::ErrorKind::BadResponse,
            format!("Workday's {operation} had {other}, so the run has no server time to read as of (As_Of_Entry_DateTime) and to advance the watermark to; nothing was imported. Check that no proxy between this host and Workday strips or rewrites the Date header"),
        )),
    }
}

/// Why a SOAP read lacks a mapped field: Workday sends what the ISU's
/// security group may see.
pub(crate) const SOAP_MISSING_WHY: &str = "the integration system user's security group may lack the domains that carry them: see Domains and the fields they unlock in the runbook";

/// Runs one import.
pub(crate) async fn run_import(
    client: &Arc<WorkdayClient>,
    settings: &RunSettings,
    request: ImportRequest,
    sink: &mut dyn ChangeSink,
    ctx: &RunContext,
) -> Result<ImportOutcome, ConnectorError> {
    if ctx.is_cancelled() {
        return Err(ConnectorError::cancelled());
    }
    let mut outcome = ImportOutcome::default();
    let incoming = match (
        request.mode,
        watermark::decode(request.watermark.as_deref()),
    ) {
        (_, Ok(w)) => w,
        (ImportMode::Delta, Err(e)) => return Err(e.into()),
        (ImportMode::Full, Err(e)) => {
            outcome.warnings.push(format!(
                "{e}; this full run ignored it and returns a fresh watermark"
            ));
            Watermark::default()
        }
    };
    let mut next = incoming;
    let mut drifted = false;
    let read_time = match settings.api {
        Api::Rest => None,
        Api::Soap => Some(soap_read_time(client, settings, ctx).await?),
    };
    for feed in settings.feeds() {
        let since = match request.mode {
            ImportMode::Full => None,
            ImportMode::Delta => get(&incoming, feed),
        };
        if request.mode == ImportMode::Delta && since.is_none() {
            outcome.warnings.push(format!(
                "this delta run had no watermark for {}, so it read all of them (a full read, reported as a delta)",
                feed.noun()
            ));
        }
        let from = since.map(|t| t - settings.overlap);
        let sources: Vec<Source> = match read_time.map(as_of) {
            None => vec![Source::Rest { updated_from: from }],
            Some(as_of) => soap_passes(feed, from, as_of)
                .into_iter()
                .map(|query| Source::Soap {
                    query,
                    read_time: as_of,
                })
                .collect(),
        };
        let mut emitted = SeenIds::new();
        let mut drift: Vec<String> = Vec::new();
        let mut result = FeedResult {
            newest: None,
            duplicates: 0,
            seen: SeenIds::new(),
            unverified: None,
        };
        let mut first_date = None;
        let passes = sources.len();
        for (pass_number, source) in sources.into_iter().enumerate() {
            // A later pass skips this one's ids, so they are kept.
            let keep = pass_number + 1 < passes;
            let soap = matches!(source, Source::Soap { .. });
            let mut pager = Pager::new(
                Arc::clone(client),
                preparer(feed, if soap { None } else { from }, settings.external_id),
                feed,
                settings.page_size,
                source,
                settings.concurrency,
                settings.policy,
                ctx.clone(),
            );
            let pass = read_feed(
                &mut pager,
                feed,
                if soap { None } else { from },
                PassIds::spilling_at(settings.spill.0, settings.spill.1.clone())
                    .after(&emitted)
                    .keeping(keep),
                sink,
                ctx,
                &mut outcome,
            )
            .await?;
            drift.extend(pager.drift().iter().cloned());
            drift.extend(pass.unverified.map(|why| {
                format!(
                    "the {} read cannot rule out records returned twice while paging: {why}",
                    feed.noun()
                )
            }));
            if first_date.is_none() {
                first_date = pager.started_at().cloned();
            }
            result.duplicates += pass.duplicates;
            result.newest = match (result.newest, pass.newest) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            if keep {
                emitted.extend(pass.seen);
            }
        }
        if !drift.is_empty() || result.duplicates > 0 {
            // Records may have shifted between pages (a hire or purge during
            // the read), so one may have been skipped: keep this feed's
            // incoming watermark so the next delta re-reads the whole window.
            drifted = true;
            outcome.warnings.extend(drift);
            outcome.warnings.push(format!(
                "the {} watermark was not advanced because the read drifted; the next delta re-reads them",
                feed.noun()
            ));
            continue;
        }
        // The read vouches for changes up to the time it started, not for
        // what changed while it paged: the newest time seen never moves the
        // watermark past that (a record updated after its page was read, or
        // stamped in the future, is in the next delta's window).
        if let Some(rt) = read_time {
            // SOAP: every page was read as of the end of the read time's
            // second, so the feed is clean up to the read time itself (the
            // start of that second; see `as_of`).
            *slot(&mut next, feed) = Some(rt);
            continue;
        }
        let started = match first_date.as_ref() {
            Some(ServerDate::At(t)) => *t,
            other => {
                let header = other.unwrap_or(&ServerDate::Missing);
                outcome.warnings.push(format!(
                    "Workday's first {noun} page had {header}, so the {noun} watermark was not advanced: it never passes the server time the read started, and that time is unknown. The next delta reads them again; check that no proxy between this host and Workday strips or rewrites the Date header",
                    noun = feed.noun()
                ));
                continue;
            }
        };
        let current = slot(&mut next, feed);
        let newest = match (*current, result.newest) {
            (Some(a), Some(b)) => a.max(b),
            (a, b) => a.or(b).unwrap_or(DateTime::<Utc>::UNIX_EPOCH),
        };
        *current = Some(newest.min(started));
    }
    outcome.complete =
        request.mode == ImportMode::Full && !drifted && outcome.record_errors.is_empty();
    if !outcome.complete && request.mode == ImportMode::Full {
        outcome.warnings.push(
            "this full run is not complete (see above): objects it did not see must not be treated as purged; run a full import again later".into(),
        );
    }
    outcome.watermark = outcome
        .record_errors
        .is_empty()
        .then(|| watermark::encode(&next));
    Ok(outcome)
}

/// A record as the run receives it from the pager: mapped, or why not.
type Mapped = Result<Change, MappingError>;

/// Filters (a delta skips records older than `from`) and maps each record;
/// runs inside the pager's fetch tasks, in parallel.
fn preparer(
    feed: Feed,
    from: Option<DateTime<Utc>>,
    external_id: ExternalIdAttribute,
) -> Prepare<Mapped> {
    Arc::new(move |record: &dyn Fields| {
        if let (Some(from), Some(updated)) = (from, mapping::last_updated(record)) {
            if updated < from {
                return None;
            }
        }
        Some(match feed {
            Feed::Workers => mapping::map_worker(record, external_id),
            Feed::Organizations => mapping::map_org(record).map(|mut change| {
                // Only the SOAP source says `inactive`: such an
                // organization is gone.
                if record.field(mapping::INACTIVE) == Some(FieldValue::Bool(true)) {
                    change.kind = connector_api::ChangeKind::Delete;
                    change
                        .attributes
                        .insert(mapping::IS_DELETED.into(), Value::Bool(true));
                }
                change
            }),
        })
    })
}

async fn read_feed(
    pager: &mut Pager<Mapped>,
    feed: Feed,
    from: Option<DateTime<Utc>>,
    mut seen: PassIds<'_>,
    sink: &mut dyn ChangeSink,
    ctx: &RunContext,
    outcome: &mut ImportOutcome,
) -> Result<FeedResult, ConnectorError> {
    let mut duplicates: Vec<String> = Vec::new();
    let mut duplicate_count = 0u64;
    let mut undated = 0u64;
    let mut newest: Option<DateTime<Utc>> = None;
    let mut coverage = Coverage::new(feed);
    loop {
        if ctx.is_cancelled() {
            return Err(ConnectorError::cancelled());
        }
        let Some(page) = pager.next_page().await? else {
            break;
        };
        if seen.is_empty() {
            // Sized once from the first page's `total`: growing by doubling
            // would briefly hold the old and the new run (1.5x the memory).
            seen.expect(pager.total());
        }
        let mut changes = Vec::with_capacity(page.items.len());
        for (position, mapped) in page.items {
            match mapped {
                Ok(change) => {
                    let hash = id_hash(&change.external_id);
                    if seen.emitted_earlier(hash) {
                        // An earlier pass of this run emitted it.
                        continue;
                    }
                    if !seen.insert(hash) {
                        duplicate_count += 1;
                        if duplicates.len() < SHOWN_DUPLICATES {
                            duplicates.push(change.external_id.clone());
                        }
                    }
                    match change.attributes.get(LAST_UPDATED) {
                        Some(Value::DateTime(t)) => {
                            newest = Some(newest.map_or(*t, |n| n.max(*t)));
                        }
                        _ => undated += 1,
                    }
                    outcome.counts.add(&change.object_type, change.kind);
                    coverage.record(&change);
                    changes.push(change);
                }
                Err(e) => {
                    tracing::warn!(
                        object_type = feed.object_type(),
                        position,
                        field = e.field.as_deref().unwrap_or(""),
                        "skipped a record that could not be mapped: {e}"
                    );
                    outcome
                        .record_errors
                        .push(e.into_record_error(feed.object_type(), position));
                }
            }
        }
        if ctx.is_cancelled() {
            return Err(ConnectorError::cancelled());
        }
        let records = page.records;
        sink.apply(changes).await?;
        ctx.metrics().add_page(records);
    }
    let end = seen.finish();
    duplicate_count += end.repeats;
    if duplicate_count > 0 {
        // Repeats among the ids spilled to files are counted at the end,
        // without their ids.
        let examples = if duplicates.is_empty() {
            String::new()
        } else {
            format!(" (e.g. {})", duplicates.join(", "))
        };
        outcome.warnings.push(format!(
            "Workday returned {duplicate_count} {} more than once while paging{examples}: records moved between pages during the read",
            feed.noun(),
        ));
    }
    if undated > 0 && from.is_some() {
        outcome.warnings.push(format!(
            "{undated} {} had no lastUpdatedDateTime: they cannot be filtered by time, so every delta re-emits them, and they do not move the watermark",
            feed.noun()
        ));
    }
    // The SOAP source reads deltas from the transaction log, so a worker
    // without lastUpdatedDateTime costs nothing there: only another missing
    // field is worth the warning.
    let soap = pager.is_soap();
    let worth_it = !soap
        || coverage
            .missing()
            .any(|r| r.when_absent.is_some() && r.attribute != LAST_UPDATED);
    if worth_it {
        outcome.warnings.extend(if soap {
            coverage.report(feed, SOAP_MISSING_WHY)
        } else {
            coverage.warning(feed)
        });
    }
    Ok(FeedResult {
        newest,
        duplicates: duplicate_count,
        seen: end.seen,
        unverified: end.unverified,
    })
}
