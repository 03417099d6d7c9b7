//! Health checks: an access token, then up to 10 workers and up to 5
//! supervisory organizations (only the feeds that are enabled). Checks make
//! one attempt each, without retries, so they answer quickly.

use std::sync::Arc;

use connector_api::{HealthCheck, RunContext};

use crate::record::Fields;

use crate::client::WorkdayClient;
use crate::config::ExternalIdAttribute;
use crate::coverage::Coverage;
use crate::endpoint::Feed;
use crate::error::WorkdayError;
use crate::mapping::{self, LAST_UPDATED};
use crate::retry::RetryPolicy;
use crate::run::SOAP_MISSING_WHY;
use crate::soap::request::Query;

/// Added to a failure on 401/403.
pub const PERMISSION_HINT: &str = " The API credentials may be invalid or the integration user may not have the required permissions.";
/// Added to a failure on 5xx.
pub const SERVER_HINT: &str =
    " Workday returned a server error. This is likely a temporary issue - please try again later.";

fn suffix(e: &WorkdayError) -> &'static str {
    match e {
        WorkdayError::SoapNotAuthorized { .. } => return PERMISSION_HINT,
        WorkdayError::SoapClientFault { code, .. } if code.contains("authentication") => {
            return PERMISSION_HINT
        }
        WorkdayError::SoapClientFault { .. } => return "",
        _ => {}
    }
    match e.status() {
        Some(401 | 403) => PERMISSION_HINT,
        Some(500..=599) => SERVER_HINT,
        _ => "",
    }
}

fn failure(name: &str, lead: &str, e: &WorkdayError) -> HealthCheck {
    HealthCheck::fail(name, format!("{lead}{} Details: {e}", suffix(e)))
}

/// Runs the checks.
pub(crate) async fn run_checks(
    client: &Arc<WorkdayClient>,
    workers: bool,
    organizations: bool,
) -> Vec<HealthCheck> {
    let ctx = RunContext::new();
    let policy = RetryPolicy::none();
    let mut checks = Vec::new();
    let username_token = client.soap.as_ref().is_some_and(|s| s.isu.is_some());
    let token_ok = if username_token {
        true
    } else {
        token_check(client, &ctx, policy, &mut checks).await
    };
    if client.soap.is_some() {
        soap_checks(client, workers, organizations, token_ok, &ctx, &mut checks).await;
        return checks;
    }
    let feeds = [
        (Feed::Workers, workers, 10, "workers"),
        (
            Feed::Organizations,
            organizations,
            5,
            "supervisoryOrganizations",
        ),
    ];
    for (feed, enabled, limit, name) in feeds {
        if !enabled {
            continue;
        }
        let lead = format!("Unable to list {}.", feed.noun());
        if !token_ok {
            checks.push(HealthCheck::fail(
                name,
                format!("{lead} Skipped: no access token (see the token check)."),
            ));
            continue;
        }
        let page = match client.list(feed, 0, limit, None, &ctx, policy).await {
            Ok(page) => page,
            Err(e) => {
                checks.push(failure(name, &lead, &e));
                continue;
            }
        };
        match page.read() {
            Ok(page) => {
                checks.push(HealthCheck::pass(
                    name,
                    format!("Successfully listed {} {}", page.len(), feed.noun()),
                ));
                if feed == Feed::Workers {
                    checks.push(coverage_check(page.records(), false));
                }
            }
            Err(e) => checks.push(failure(name, &lead, &e)),
        }
    }
    checks
}

/// Api Soap: one `Get_Workers` and one `Get_Organizations`, each with
/// `Count` 1. With a UsernameToken the first also checks the ISU's
/// credentials (reported as the `usernameToken` check).
async fn soap_checks(
    client: &Arc<WorkdayClient>,
    workers: bool,
    organizations: bool,
    token_ok: bool,
    ctx: &RunContext,
    checks: &mut Vec<HealthCheck>,
) {
    let policy = RetryPolicy::none();
    let username_token = client.soap.as_ref().is_some_and(|s| s.isu.is_some());
    let queries = [
        (
            Query::Workers {
                exclude_inactive: true,
                window: None,
            },
            workers || username_token,
            Feed::Workers,
        ),
        (
            Query::Organizations {
                include_inactive: false,
                window: None,
            },
            organizations,
            Feed::Organizations,
        ),
    ];
    for (query, enabled, feed) in queries {
        if !enabled {
            continue;
        }
        let name = query.operation();
        let lead = format!("Unable to call {name}.");
        if !token_ok {
            checks.push(HealthCheck::fail(
                name,
                format!("{lead} Skipped: no access token (see the token check)."),
            ));
            continue;
        }
        let result = client.soap_page(query, None, 1, 1, ctx, policy).await;
        if username_token && feed == Feed::Workers {
            checks.push(match &result {
                Err(e) if e.kind() == connector_api::ErrorKind::Authentication => failure(
                    "usernameToken",
                    "Workday refused the integration system user's UsernameToken (IsuUsername and the password at IsuPasswordRef).",
                    e,
                ),
                _ => HealthCheck::pass(
                    "usernameToken",
                    "Workday accepted the integration system user's UsernameToken",
                ),
            });
            if !workers {
                continue;
            }
        }
        match result.as_ref().map(|page| page.read()) {
            Ok(Ok(page)) => {
                checks.push(HealthCheck::pass(
                    name,
                    format!("{name} answered: {} {} in all", page.total(), feed.noun()),
                ));
                if feed == Feed::Workers {
                    checks.push(coverage_check(page.records(), true));
                }
            }
            Ok(Err(e)) => checks.push(failure(name, &lead, &e)),
            Err(e) => checks.push(failure(name, &lead, e)),
        }
    }
}

/// The access token check; whether a token was obtained.
async fn token_check(
    client: &Arc<WorkdayClient>,
    ctx: &RunContext,
    policy: RetryPolicy,
    checks: &mut Vec<HealthCheck>,
) -> bool {
    match client.token.refresh(&client.http, ctx, policy).await {
        Ok(_) => {
            let rotation = client
                .token
                .rotation_warning()
                .map(|w| format!(". {w}"))
                .unwrap_or_default();
            checks.push(HealthCheck::pass(
                "token",
                format!(
                    "Successfully obtained an access token from {}{rotation}",
                    client.endpoints.token_url()
                ),
            ));
            true
        }
        Err(e) => {
            checks.push(failure("token", "Unable to obtain an access token.", &e));
            false
        }
    }
}

/// The `fieldCoverage` check: which mapped fields none of the workers the
/// workers check read carried. It fails when one whose absence costs the
/// import something is missing (terminations, names, or, over REST, deltas),
/// so an operator learns before the first import that a tenant's REST
/// collection, or the ISU's domains, are too thin.
fn coverage_check(records: impl Iterator<Item = impl Fields>, soap: bool) -> HealthCheck {
    const NAME: &str = "fieldCoverage";
    let mut coverage = Coverage::new(Feed::Workers);
    for record in records {
        // The anchor does not change which attributes a record carries.
        if let Ok(change) = mapping::map_worker(&record, ExternalIdAttribute::Id) {
            coverage.record(&change);
        }
    }
    let n = coverage.records();
    if n == 0 {
        return HealthCheck::pass(
            NAME,
            "No worker was read, so which fields the workers carry is unknown",
        );
    }
    // Over SOAP, deltas come from the transaction log: an absent
    // lastUpdatedDateTime costs nothing there.
    let lacking = coverage
        .missing()
        .any(|r| r.when_absent.is_some() && !(soap && r.attribute == LAST_UPDATED));
    let report = if soap {
        coverage.report(Feed::Workers, SOAP_MISSING_WHY)
    } else {
        coverage.warning(Feed::Workers)
    };
    match report {
        Some(report) if lacking => {
            let advice = if soap {
                "grant the integration system user's security group the domains that carry them"
            } else {
                "set Api to \"Soap\", or grant the integration system user's security group the domains that carry them"
            };
            HealthCheck::fail(NAME, format!("{report}. To import them, {advice}."))
        }
        _ => {
            let absent: Vec<&str> = coverage.missing().map(|r| r.attribute).collect();
            let others = if absent.is_empty() {
                String::new()
            } else {
                format!(" (none carried {})", absent.join(", "))
            };
            HealthCheck::pass(
                NAME,
                format!("The workers read ({n}) carry every field the import needs{others}"),
            )
        }
    }
}
