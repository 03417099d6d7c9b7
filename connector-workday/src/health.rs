//! Health checks: an access token, then up to 10 workers and up to 5
//! supervisory organizations (only the feeds that are enabled). Checks make
//! one attempt each, without retries, so they answer quickly.

use std::sync::Arc;

use connector_api::{HealthCheck, RunContext};

use crate::client::WorkdayClient;
use crate::endpoint::Feed;
use crate::error::WorkdayError;
use crate::retry::RetryPolicy;

/// Added to a failure on 401/403.
pub const PERMISSION_HINT: &str = " The API credentials may be invalid or the integration user may not have the required permissions.";
/// Added to a failure on 5xx.
pub const SERVER_HINT: &str =
    " Workday returned a server error. This is likely a temporary issue - please try again later.";

fn suffix(e: &WorkdayError) -> &'static str {
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
    let token_ok = match client.token.refresh(&client.http, &ctx, policy).await {
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
    };
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
        match client.list(feed, 0, limit, None, &ctx, policy).await {
            Ok(page) => checks.push(HealthCheck::pass(
                name,
                format!("Successfully listed {} {}", page.data.len(), feed.noun()),
            )),
            Err(e) => checks.push(failure(name, &lead, &e)),
        }
    }
    checks
}
