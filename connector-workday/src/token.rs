//! OAuth2 access tokens: fetched from `{base}/ccx/oauth2/{Realm}/token`
//! (client credentials or refresh token, client id and secret as HTTP Basic),
//! cached and reused until shortly before `expires_in`, one fetch at a time.
//! A refresh token the endpoint rotates is used from then on, and reported
//! (never its value) so that the operator stores the new one.

use std::sync::Arc;
use std::time::Duration;

use connector_api::RunContext;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value as Json;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::client::{Http, ServerDate};
use crate::config::GrantType;
use crate::error::{oauth_detail, OAuthFields, WorkdayError};
use crate::retry::{retrying, RetryPolicy};

/// How long a token is assumed valid when Workday does not say (`expires_in` absent).
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);

/// The longest safety margin before `expires_in` at which a token is renewed.
pub const MAX_MARGIN: Duration = Duration::from_secs(60);

/// The longest lifetime a token is trusted for (24 h): a larger `expires_in`
/// is clamped to it. A zero or negative `expires_in` counts as 0 (the token
/// serves the request it was fetched for and is renewed for the next one).
pub const MAX_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// What the connector authenticates with. Never printed: secrets are
/// [`SecretString`]s.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The API client's id.
    pub client_id: String,
    /// The API client's secret.
    pub client_secret: SecretString,
    /// The grant to use.
    pub grant: GrantType,
    /// The refresh token, for [`GrantType::RefreshToken`].
    pub refresh_token: Option<SecretString>,
    /// Where the client secret is stored (for messages).
    pub secret_ref: String,
    /// Where the refresh token is stored (for messages).
    pub refresh_token_ref: Option<String>,
}

#[derive(Debug)]
struct Cached {
    token: SecretString,
    renew_at: Instant,
    /// The token answer's `Date`.
    date: ServerDate,
}

/// Fetches and caches access tokens.
#[derive(Debug)]
pub(crate) struct TokenProvider {
    url: String,
    realm: String,
    credentials: Credentials,
    cache: Mutex<Option<Cached>>,
    /// The refresh token the endpoint last issued, when it rotated the one
    /// in [`Credentials::refresh_token`]; used for every later request.
    rotated: std::sync::Mutex<Option<SecretString>>,
}

/// When to renew a token that lives `lifetime`: `min(60 s, lifetime / 2)` before it ends.
fn renew_after(lifetime: Duration) -> Duration {
    lifetime - (lifetime / 2).min(MAX_MARGIN)
}

/// How long a token lives by its `expires_in` (seconds, as a number or a
/// string): absent is [`DEFAULT_LIFETIME`]; the value is clamped to
/// `0..=`[`MAX_LIFETIME`] (zero and negative values are 0). An unreadable
/// value is reported and counts as absent.
fn lifetime(expires_in: Option<&Json>) -> Duration {
    let secs: Option<f64> = match expires_in {
        None | Some(Json::Null) => return DEFAULT_LIFETIME,
        Some(Json::Number(n)) => n
            .as_u64()
            .map(|s| s.min(MAX_LIFETIME.as_secs()) as f64)
            .or_else(|| n.as_f64()),
        Some(Json::String(s)) => {
            let s = s.trim();
            if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                // All digits: the only parse error is overflow, so saturate.
                Some(
                    s.parse::<u64>()
                        .unwrap_or(u64::MAX)
                        .min(MAX_LIFETIME.as_secs()) as f64,
                )
            } else {
                s.parse::<f64>().ok()
            }
        }
        Some(_) => None,
    };
    match secs.filter(|s| !s.is_nan()) {
        Some(s) if s <= 0.0 => Duration::ZERO,
        Some(s) if s >= MAX_LIFETIME.as_secs_f64() => MAX_LIFETIME,
        Some(s) => Duration::from_secs_f64(s),
        None => {
            tracing::warn!(
                "Workday's token answer has an expires_in that is not a number of seconds; assuming {} s",
                DEFAULT_LIFETIME.as_secs()
            );
            DEFAULT_LIFETIME
        }
    }
}

impl TokenProvider {
    pub(crate) fn new(url: String, realm: String, credentials: Credentials) -> Self {
        Self {
            url,
            realm,
            credentials,
            cache: Mutex::new(None),
            rotated: std::sync::Mutex::new(None),
        }
    }

    /// The refresh token to send: the rotated one, or the configured one.
    fn refresh_token(&self) -> Option<SecretString> {
        let rotated = self.rotated.lock().ok().and_then(|r| r.clone());
        rotated.or_else(|| self.credentials.refresh_token.clone())
    }

    /// Keeps a refresh token the endpoint issued, when it differs from the
    /// one in use (rotation). Only under the refresh-token grant.
    fn keep_rotated(&self, issued: Option<&str>) {
        let Some(issued) = issued.filter(|t| !t.is_empty()) else {
            return;
        };
        if self.credentials.grant != GrantType::RefreshToken
            || self
                .refresh_token()
                .is_some_and(|current| current.expose_secret() == issued)
        {
            return;
        }
        if let Ok(mut rotated) = self.rotated.lock() {
            *rotated = Some(SecretString::from(issued.to_string()));
        }
        tracing::warn!(
            refresh_token_ref = self.credentials.refresh_token_ref.as_deref().unwrap_or(""),
            "Workday issued a new refresh token (rotation); this connector uses it from now on, but the stored one may no longer be accepted"
        );
    }

    /// When the token endpoint rotated the refresh token: what the operator
    /// must do about it (never the value).
    pub(crate) fn rotation_warning(&self) -> Option<String> {
        let rotated = self.rotated.lock().ok().is_some_and(|r| r.is_some());
        rotated.then(|| {
            let at = self
                .credentials
                .refresh_token_ref
                .as_deref()
                .unwrap_or("RefreshTokenRef");
            format!(
                "Workday's token endpoint issued a new refresh token (rotation) and the connector used it for the rest of the run; the refresh token stored at {at} may no longer be accepted: store the current one there before the next run (get it in Workday with Manage Refresh Tokens for Integrations, for this API client and its integration system user). The new value is not shown here or in any log"
            )
        })
    }

    /// A valid token: the cached one, or a new one. Concurrent callers wait
    /// for the one fetch in progress and share its token.
    pub(crate) async fn get(
        self: &Arc<Self>,
        http: &Arc<Http>,
        ctx: &RunContext,
    ) -> Result<SecretString, WorkdayError> {
        let mut cache = ctx
            .cancellation_token()
            .run_until_cancelled(self.cache.lock())
            .await
            .ok_or(WorkdayError::Cancelled)?;
        if let Some(cached) = cache.as_ref() {
            if Instant::now() < cached.renew_at {
                return Ok(cached.token.clone());
            }
        }
        let fresh = self.fetch(http, ctx, http.retry).await?;
        let token = fresh.token.clone();
        *cache = Some(fresh);
        Ok(token)
    }

    /// Forgets `stale` (a token the API refused), unless another caller
    /// already replaced it.
    pub(crate) async fn invalidate(&self, stale: &SecretString) {
        let mut cache = self.cache.lock().await;
        if cache
            .as_ref()
            .is_some_and(|c| c.token.expose_secret() == stale.expose_secret())
        {
            *cache = None;
        }
    }

    /// Fetches a new token under `policy` and caches it.
    pub(crate) async fn refresh(
        self: &Arc<Self>,
        http: &Arc<Http>,
        ctx: &RunContext,
        policy: RetryPolicy,
    ) -> Result<SecretString, WorkdayError> {
        let mut cache = self.cache.lock().await;
        let fresh = self.fetch(http, ctx, policy).await?;
        let token = fresh.token.clone();
        *cache = Some(fresh);
        Ok(token)
    }

    /// Fetches a new token under `policy`, caches it, and returns the `Date`
    /// of the token endpoint's answer (the server's clock).
    pub(crate) async fn refresh_dated(
        self: &Arc<Self>,
        http: &Arc<Http>,
        ctx: &RunContext,
        policy: RetryPolicy,
    ) -> Result<ServerDate, WorkdayError> {
        let mut cache = self.cache.lock().await;
        let fresh = self.fetch(http, ctx, policy).await?;
        let date = fresh.date.clone();
        *cache = Some(fresh);
        Ok(date)
    }

    async fn fetch(
        self: &Arc<Self>,
        http: &Arc<Http>,
        ctx: &RunContext,
        policy: RetryPolicy,
    ) -> Result<Cached, WorkdayError> {
        let (this, http_owned, run) = (Arc::clone(self), Arc::clone(http), ctx.clone());
        retrying(
            policy,
            Arc::clone(&http.sleeper),
            ctx.clone(),
            Box::new(move || {
                let (this, http, run) = (Arc::clone(&this), Arc::clone(&http_owned), run.clone());
                Box::pin(async move {
                    this.fetch_once(&http, &run, "the access token request")
                        .await
                })
            }),
        )
        .await
    }

    async fn fetch_once(
        &self,
        http: &Http,
        ctx: &RunContext,
        what: &str,
    ) -> Result<Cached, WorkdayError> {
        if ctx.is_cancelled() {
            return Err(WorkdayError::Cancelled);
        }
        let c = &self.credentials;
        let refresh_token = match c.grant {
            GrantType::RefreshToken => self.refresh_token(),
            GrantType::ClientCredentials => None,
        };
        let mut form: Vec<(&str, &str)> = vec![("grant_type", c.grant.as_str())];
        if let Some(rt) = &refresh_token {
            form.push(("refresh_token", rt.expose_secret()));
        }
        let request = http
            .client
            .post(&self.url)
            .basic_auth(&c.client_id, Some(c.client_secret.expose_secret()))
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&form);
        let mut answer = http.send(ctx, what, request).await?;
        if matches!(
            answer.status,
            StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED
        ) {
            return Err(self.oauth_error(answer.status.as_u16(), &answer.body));
        }
        if !answer.status.is_success() {
            // The token endpoint's answer may echo the request (and so the
            // credentials): quote only its OAuth error fields.
            let detail = oauth_detail(answer.status.as_u16(), &answer.body);
            answer.body.clear();
            answer = answer.classify(what).map_err(|e| e.with_detail(detail))?;
        }
        let date = ServerDate::of(&answer.headers);
        let json = answer.json(what)?;
        let bad = |why: &str| WorkdayError::BadResponse {
            what: what.to_string(),
            why: why.to_string(),
        };
        let token = json
            .get("access_token")
            .and_then(Json::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| bad("it has no \"access_token\""))?;
        if let Some(kind) = json.get("token_type").and_then(Json::as_str) {
            if !kind.eq_ignore_ascii_case("bearer") {
                return Err(bad(&format!(
                    "the token type is {:?}, expected \"Bearer\"",
                    kind.chars().take(40).collect::<String>()
                )));
            }
        }
        let lifetime = lifetime(json.get("expires_in"));
        self.keep_rotated(json.get("refresh_token").and_then(Json::as_str));
        tracing::debug!(
            lifetime_s = lifetime.as_secs(),
            "obtained a Workday access token"
        );
        let now = Instant::now();
        Ok(Cached {
            token: SecretString::from(token.to_string()),
            renew_at: now.checked_add(renew_after(lifetime)).unwrap_or(now),
            date,
        })
    }

    fn oauth_error(&self, status: u16, body: &str) -> WorkdayError {
        let (code, detail) = match OAuthFields::parse(body) {
            Some(f) => (
                f.code,
                f.description
                    .map(|d| format!(": Workday says {d:?}"))
                    .unwrap_or_default(),
            ),
            None => (None, oauth_detail(status, body)),
        };
        let c = &self.credentials;
        let secret = &c.secret_ref;
        let hint = match (code.as_deref(), c.grant) {
            (Some("invalid_client"), _) => format!(
                "check ClientId ({}) and the client secret stored at {secret}: they must be the Client ID and Client Secret of the API client registered with Register API Client for Integrations; after rotating the secret in Workday, store the new one with: secretscli set {secret} \"<the secret>\"",
                c.client_id
            ),
            (Some("invalid_grant"), GrantType::RefreshToken) => format!(
                "the refresh token stored at {} is expired, revoked or was issued to another API client: generate a new one with Manage Refresh Tokens for Integrations and store it there",
                c.refresh_token_ref.as_deref().unwrap_or("RefreshTokenRef")
            ),
            (Some("invalid_grant"), GrantType::ClientCredentials) => "Workday refused the client credentials grant: check that the API client's integration system user is active and that the client is allowed this grant".to_string(),
            (Some("unauthorized_client"), g) => format!(
                "the API client is not allowed the {} grant: enable it on the API client in Workday (View API Clients), or set GrantType to the grant it allows",
                g.as_str()
            ),
            (Some("unsupported_grant_type"), g) => format!(
                "this tenant's token endpoint does not accept grant_type={}: set GrantType to the grant your API client uses (\"client_credentials\" or \"refresh_token\" with RefreshTokenRef)",
                g.as_str()
            ),
            (Some("invalid_scope"), _) => "the API client lacks a scope it needs: add the Staffing and Organizations and Roles functional areas to the API client in Workday".to_string(),
            _ if status == 401 => format!(
                "check ClientId ({}) and the client secret stored at {secret}",
                c.client_id
            ),
            _ => format!(
                "check ClientId, the client secret stored at {secret}, GrantType and Realm ({}); the token URL is {}",
                self.realm, self.url
            ),
        };
        WorkdayError::Token {
            url: self.url.clone(),
            status,
            code,
            detail,
            hint,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_margin() {
        assert_eq!(
            renew_after(Duration::from_secs(1800)),
            Duration::from_secs(1740)
        );
        assert_eq!(renew_after(Duration::from_secs(10)), Duration::from_secs(5));
        assert_eq!(renew_after(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn lifetime_is_clamped() {
        use serde_json::json;
        let of = |v: Json| lifetime(Some(&v));
        assert_eq!(lifetime(None), DEFAULT_LIFETIME);
        assert_eq!(of(Json::Null), DEFAULT_LIFETIME);
        assert_eq!(of(json!(1800)), Duration::from_secs(1800));
        assert_eq!(of(json!("1800")), Duration::from_secs(1800));
        assert_eq!(of(json!(1.5)), Duration::from_millis(1500));
        assert_eq!(of(json!(86_400)), MAX_LIFETIME);
        for huge in [
            json!(86_401),
            json!(u64::MAX),
            json!(1e300),
            json!("99999999999999999999999"),
            json!("1e300"),
        ] {
            assert_eq!(of(huge.clone()), MAX_LIFETIME, "{huge}");
        }
        for zero in [
            json!(0),
            json!(-5),
            json!(i64::MIN),
            json!(-1e300),
            json!("-5"),
            json!("0"),
        ] {
            assert_eq!(of(zero.clone()), Duration::ZERO, "{zero}");
        }
        for unreadable in [json!("soon"), json!(true), json!({"s": 1}), json!("NaN")] {
            assert_eq!(of(unreadable.clone()), DEFAULT_LIFETIME, "{unreadable}");
        }
    }
}
