//! The connector's `configJson`: its keys, defaults, and validation.
//!
//! Validation reports every problem at once, one per key, in the order the
//! keys are documented, then unknown keys in alphabetical order.

use std::time::Duration;

use connector_api::ConfigProblem;
use reqwest::Url;
use serde_json::{Map, Value as Json};

use crate::endpoint::{check_secret_destination, Endpoints};

/// Every key the connector reads, in documentation order.
pub const KNOWN_KEYS: [&str; 20] = [
    "TenantHost",
    "TenantName",
    "Realm",
    "BaseUrl",
    "ClientId",
    "GrantType",
    "RefreshTokenRef",
    "PageSize",
    "ImportWorkers",
    "ImportOrganizations",
    "ImportPositions",
    "ExternalIdAttribute",
    "MaxConcurrentRequests",
    "MaxRequestsPerHour",
    "RequestTimeoutSeconds",
    "DeltaOverlapSeconds",
    "Api",
    "WebServiceVersion",
    "IsuUsername",
    "IsuPasswordRef",
];

/// The keys of the Api choice, documented (and reported) after the others.
const API_KEYS: [&str; 4] = ["Api", "WebServiceVersion", "IsuUsername", "IsuPasswordRef"];

/// Which of Workday's APIs the connector reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Api {
    /// The REST collections `common/v1` `/workers` and
    /// `/supervisoryOrganizations` (the default).
    #[default]
    Rest,
    /// The SOAP Human_Resources web service: `Get_Workers` and
    /// `Get_Organizations`.
    Soap,
}

impl Api {
    /// The value as written in configJson.
    pub fn as_str(self) -> &'static str {
        match self {
            Api::Rest => "Rest",
            Api::Soap => "Soap",
        }
    }
}

/// The default `WebServiceVersion`.
pub const DEFAULT_WEB_SERVICE_VERSION: &str = "v44.0";

/// Whether `v` is a web service version such as `v44.0`
/// (`^v[0-9]{1,3}(\.[0-9]{1,2})?$`).
pub fn is_web_service_version(v: &str) -> bool {
    let Some(rest) = v.strip_prefix('v') else {
        return false;
    };
    let (major, minor) = match rest.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (rest, None),
    };
    let digits = |s: &str, max: usize| {
        !s.is_empty() && s.len() <= max && s.chars().all(|c| c.is_ascii_digit())
    };
    digits(major, 3) && minor.is_none_or(|m| digits(m, 2))
}

/// How the connector obtains its access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantType {
    /// `grant_type=client_credentials`, client id and secret as HTTP Basic.
    ClientCredentials,
    /// `grant_type=refresh_token` with the refresh token at `RefreshTokenRef`,
    /// client id and secret as HTTP Basic.
    RefreshToken,
}

impl GrantType {
    /// The OAuth2 `grant_type` value.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::ClientCredentials => "client_credentials",
            GrantType::RefreshToken => "refresh_token",
        }
    }
}

/// Which worker field becomes the `User`'s external id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExternalIdAttribute {
    /// `id`, Workday's stable WID (the default).
    Id,
    /// `employeeNumber`.
    EmployeeNumber,
    /// `companyEmployeeId`.
    CompanyEmployeeId,
}

impl ExternalIdAttribute {
    /// The accepted values, as written in configJson.
    pub const ALL: [ExternalIdAttribute; 3] = [
        ExternalIdAttribute::Id,
        ExternalIdAttribute::EmployeeNumber,
        ExternalIdAttribute::CompanyEmployeeId,
    ];

    /// The worker field name.
    pub fn field(self) -> &'static str {
        match self {
            ExternalIdAttribute::Id => "id",
            ExternalIdAttribute::EmployeeNumber => "employeeNumber",
            ExternalIdAttribute::CompanyEmployeeId => "companyEmployeeId",
        }
    }
}

/// A validated configuration.
///
/// ```
/// use connector_workday::config::WorkdayConfig;
/// let cfg = WorkdayConfig::parse(r#"{
///     "TenantHost": "wd5-impl-services1.workday.com",
///     "TenantName": "contoso_preview",
///     "ClientId": "abc123"
/// }"#).unwrap();
/// assert_eq!(cfg.realm, "contoso_preview");
/// assert_eq!(cfg.page_size, 100);
/// assert_eq!(cfg.endpoints().token_url(),
///     "https://wd5-impl-services1.workday.com/ccx/oauth2/contoso_preview/token");
///
/// let problems = WorkdayConfig::parse(r#"{"TenantName": "t", "ClientId": "c",
///     "TenantHost": "x.workday.com", "PageSise": 50}"#).unwrap_err();
/// assert_eq!(problems[0].key, "PageSise");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkdayConfig {
    /// `TenantHost`, e.g. `wd5-impl-services1.workday.com` (absent when `BaseUrl` is set).
    pub tenant_host: Option<String>,
    /// `TenantName`, e.g. `contoso_preview`.
    pub tenant_name: String,
    /// `Realm` of the token URL; defaults to `TenantName`.
    pub realm: String,
    /// The effective base URL: `BaseUrl`, or `https://{TenantHost}`.
    pub base_url: Url,
    /// `Api`: which Workday API is read (default [`Api::Rest`]).
    pub api: Api,
    /// `WebServiceVersion` of the SOAP service, default `v44.0` (Soap only).
    pub web_service_version: String,
    /// `ClientId` of the API client for integrations (absent only with
    /// `IsuUsername`, when no OAuth token is requested).
    pub client_id: Option<String>,
    /// `IsuUsername` (Soap only): when set, SOAP requests carry a WS-Security
    /// UsernameToken instead of a bearer token.
    pub isu_username: Option<String>,
    /// `IsuPasswordRef`, the ISU password's `secret://` reference; set (to
    /// its default `secret://workday/{TenantName}/isupassword` when absent)
    /// exactly when `isu_username` is.
    pub isu_password_ref: Option<String>,
    /// `GrantType`; default `refresh_token` when `RefreshTokenRef` is set,
    /// `client_credentials` otherwise.
    pub grant_type: GrantType,
    /// `RefreshTokenRef`, a `secret://` reference (only with `refresh_token`,
    /// which it makes the default grant).
    pub refresh_token_ref: Option<String>,
    /// `PageSize`, 1..=100 (Rest) or 1..=999 (Soap), default 100.
    pub page_size: u32,
    /// `ImportWorkers`, default true.
    pub import_workers: bool,
    /// `ImportOrganizations`, default true.
    pub import_organizations: bool,
    /// `ExternalIdAttribute`, default `id`.
    pub external_id_attribute: ExternalIdAttribute,
    /// `MaxConcurrentRequests`, 1..=16, default 4.
    pub max_concurrent_requests: u32,
    /// `MaxRequestsPerHour`, 1..=10,000,000, default 1000.
    pub max_requests_per_hour: u32,
    /// `RequestTimeoutSeconds`, 1..=600, default 30.
    pub request_timeout: Duration,
    /// `DeltaOverlapSeconds`, 0..=86,400, default 300.
    pub delta_overlap: Duration,
}

/// One problem with one key of configJson.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigIssue {
    /// configJson is not JSON.
    #[error("is not valid JSON ({0}); it must be a JSON object such as {{\"TenantHost\": \"wd5-impl-services1.workday.com\", \"TenantName\": \"contoso_preview\", \"ClientId\": \"...\"}}")]
    NotJson(String),
    /// configJson is JSON but not an object.
    #[error("must be a JSON object of keys, got {0}")]
    NotObject(&'static str),
    /// A required key is missing.
    #[error("is required: {0}")]
    Missing(&'static str),
    /// A string key is empty.
    #[error("must not be empty: {0}")]
    Empty(&'static str),
    /// A key has the wrong JSON type.
    #[error("must be {expected}, got {got}")]
    WrongType {
        /// What is expected.
        expected: &'static str,
        /// What was found, e.g. `a string ("100")`.
        got: String,
    },
    /// A number is out of range.
    #[error("must be between {min} and {max}, got {got}")]
    OutOfRange {
        /// The smallest allowed value.
        min: u64,
        /// The largest allowed value.
        max: u64,
        /// The value found.
        got: String,
    },
    /// A key holds a value outside its allowed set.
    #[error("must be one of {allowed}, got {got:?}")]
    NotOneOf {
        /// The allowed values, quoted.
        allowed: String,
        /// The value found.
        got: String,
    },
    /// A key the connector does not know.
    #[error("is not a known key{suggestion}; remove it or fix its spelling (known keys: {known})", suggestion = .suggestion.as_ref().map(|s| format!(" (did you mean {s}?)")).unwrap_or_default(), known = KNOWN_KEYS.join(", "))]
    Unknown {
        /// The closest known key, when one is close.
        suggestion: Option<&'static str>,
    },
    /// `ImportPositions: true`.
    #[error("Position import is not supported yet (planned for phase 2); set ImportPositions to false or remove it")]
    PositionsUnsupported,
    /// Both feeds disabled.
    #[error("nothing to import: ImportWorkers and ImportOrganizations are both false; set at least one to true")]
    NothingToImport,
    /// A value that must look like something else.
    #[error("{0}")]
    Invalid(String),
}

impl ConfigIssue {
    fn at(self, key: &str) -> ConfigProblem {
        ConfigProblem {
            key: key.to_string(),
            message: self.to_string(),
        }
    }
}

/// The JSON type of a value, with a short rendering, for messages.
fn describe(v: &Json) -> String {
    let mut shown = v.to_string();
    if shown.chars().count() > 60 {
        shown = shown.chars().take(60).collect::<String>() + "...";
    }
    let ty = match v {
        Json::Null => return "null".into(),
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    };
    format!("{ty} ({shown})")
}

/// Levenshtein distance, case-insensitive, for key suggestions.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

fn suggest(key: &str) -> Option<&'static str> {
    KNOWN_KEYS
        .iter()
        .map(|k| (distance(key, k), *k))
        .filter(|(d, _)| *d <= 3)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Whether `s` is usable as a URL path segment and secret path segment.
fn is_name(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

struct Reader<'a> {
    obj: &'a Map<String, Json>,
    problems: Vec<ConfigProblem>,
}

impl Reader<'_> {
    /// The key's value; `null` counts as absent.
    fn get(&self, key: &str) -> Option<&Json> {
        self.obj.get(key).filter(|v| !v.is_null())
    }

    fn string(&mut self, key: &str, required: Option<&'static str>) -> Option<String> {
        match self.get(key) {
            None => {
                if let Some(hint) = required {
                    self.problems.push(ConfigIssue::Missing(hint).at(key));
                }
                None
            }
            Some(Json::String(s)) if s.trim().is_empty() => {
                let hint = required.unwrap_or("remove the key to use its default");
                self.problems.push(ConfigIssue::Empty(hint).at(key));
                None
            }
            Some(Json::String(s)) => Some(s.trim().to_string()),
            Some(other) => {
                self.problems.push(
                    ConfigIssue::WrongType {
                        expected: "a string",
                        got: describe(other),
                    }
                    .at(key),
                );
                None
            }
        }
    }

    /// Reports `value` of `key` unless [`is_name`] accepts it (`hint` is
    /// appended to the message).
    fn check_name(&mut self, key: &str, value: Option<&str>, hint: &str) {
        if let Some(v) = value.filter(|v| !is_name(v)) {
            self.problems.push(
                ConfigIssue::Invalid(format!(
                    "may hold only letters, digits, '_', '-' and '.', got {v:?}{hint}"
                ))
                .at(key),
            );
        }
    }

    fn boolean(&mut self, key: &str, default: bool) -> bool {
        match self.get(key) {
            None => default,
            Some(Json::Bool(b)) => *b,
            Some(other) => {
                self.problems.push(
                    ConfigIssue::WrongType {
                        expected: "true or false",
                        got: describe(other),
                    }
                    .at(key),
                );
                default
            }
        }
    }

    fn number(&mut self, key: &str, default: u64, min: u64, max: u64) -> u64 {
        let Some(v) = self.get(key) else {
            return default;
        };
        let range = |got: String| ConfigIssue::OutOfRange { min, max, got };
        match v {
            Json::Number(n) => match n.as_u64() {
                Some(x) if (min..=max).contains(&x) => x,
                Some(x) => {
                    self.problems.push(range(x.to_string()).at(key));
                    default
                }
                None if n.as_i64().is_some() => {
                    self.problems.push(range(n.to_string()).at(key));
                    default
                }
                None => {
                    self.problems.push(
                        ConfigIssue::WrongType {
                            expected: "a whole number",
                            got: describe(v),
                        }
                        .at(key),
                    );
                    default
                }
            },
            other => {
                self.problems.push(
                    ConfigIssue::WrongType {
                        expected: "a whole number",
                        got: describe(other),
                    }
                    .at(key),
                );
                default
            }
        }
    }
}

fn parse_tenant_host(host: &str) -> Result<Url, ConfigProblem> {
    let malformed = || {
        ConfigIssue::Invalid(format!(
            "must be a host name such as wd5-impl-services1.workday.com, without a scheme, path or spaces; got {host:?}"
        ))
        .at("TenantHost")
    };
    if host.contains("://")
        || host
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '/' | '?' | '#' | '@' | '\\'))
    {
        return Err(malformed());
    }
    let url: Url = format!("https://{host}").parse().map_err(|_| malformed())?;
    check_secret_destination(&url)
        .map_err(|e| ConfigIssue::Invalid(e.to_string()).at("TenantHost"))?;
    Ok(url)
}

fn parse_base_url(raw: &str) -> Result<Url, ConfigProblem> {
    let bad = |why: String| ConfigIssue::Invalid(why).at("BaseUrl");
    let url: Url = raw.parse().map_err(|e| {
        bad(format!(
            "must be an absolute URL such as https://wd5-impl-services1.workday.com ({e}); got {raw:?}"
        ))
    })?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(
            "must not carry a user name or password; the client secret comes from AuthMaterial"
                .into(),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad(format!(
            "must not have a query or fragment; got {raw:?}"
        )));
    }
    check_secret_destination(&url).map_err(|e| bad(e.to_string()))?;
    Ok(url)
}

impl WorkdayConfig {
    /// Parses and validates `config_json`.
    ///
    /// # Errors
    /// Every problem found, one per key (see [`ConfigIssue`] for the kinds).
    pub fn parse(config_json: &str) -> Result<Self, Vec<ConfigProblem>> {
        let json: Json = serde_json::from_str(config_json)
            .map_err(|e| vec![ConfigIssue::NotJson(e.to_string()).at("configJson")])?;
        let Json::Object(obj) = &json else {
            return Err(vec![ConfigIssue::NotObject(match json {
                Json::Array(_) => "an array",
                Json::String(_) => "a string",
                Json::Number(_) => "a number",
                Json::Bool(_) => "a boolean",
                _ => "null",
            })
            .at("configJson")]);
        };
        let mut r = Reader {
            obj,
            problems: Vec::new(),
        };

        let api = match r.string("Api", None).as_deref() {
            None | Some("Rest") => Api::Rest,
            Some("Soap") => Api::Soap,
            Some(other) => {
                r.problems.push(
                    ConfigIssue::NotOneOf {
                        allowed: "\"Rest\" or \"Soap\"".into(),
                        got: other.to_string(),
                    }
                    .at("Api"),
                );
                Api::Rest
            }
        };
        let soap_only = |r: &mut Reader<'_>, key: &str| {
            if api != Api::Soap && r.get(key).is_some() {
                r.problems.push(
                    ConfigIssue::Invalid(format!(
                        "only applies when Api is \"Soap\" (Api is \"{}\"); remove it or set Api to \"Soap\"",
                        api.as_str()
                    ))
                    .at(key),
                );
                true
            } else {
                false
            }
        };
        let mut web_service_version = DEFAULT_WEB_SERVICE_VERSION.to_string();
        if !soap_only(&mut r, "WebServiceVersion") {
            if let Some(v) = r.string("WebServiceVersion", None) {
                if is_web_service_version(&v) {
                    web_service_version = v;
                } else {
                    r.problems.push(
                        ConfigIssue::Invalid(format!(
                            "must be a Workday web service version such as \"v44.0\" (v, up to 3 digits, optionally . and up to 2 digits); got {v:?}"
                        ))
                        .at("WebServiceVersion"),
                    );
                }
            }
        }

        let has_base_url = r.get("BaseUrl").is_some();
        let tenant_host = r.string(
            "TenantHost",
            (!has_base_url)
                .then_some("set it to your tenant's API host, e.g. wd5-impl-services1.workday.com"),
        );
        let tenant_name = r.string(
            "TenantName",
            Some("set it to your Workday tenant name, e.g. contoso_preview"),
        );
        r.check_name(
            "TenantName",
            tenant_name.as_deref(),
            "; it is the tenant name from your Workday login URL, e.g. contoso_preview",
        );
        let realm = r.string("Realm", None);
        r.check_name("Realm", realm.as_deref(), "");
        let base_url_raw = r.string("BaseUrl", None);

        let mut base_url = None;
        if let Some(raw) = &base_url_raw {
            match parse_base_url(raw) {
                Ok(u) => base_url = Some(u),
                Err(p) => r.problems.push(p),
            }
        }
        if let Some(host) = &tenant_host {
            match parse_tenant_host(host) {
                Ok(u) => {
                    if base_url.is_none() && base_url_raw.is_none() {
                        base_url = Some(u);
                    }
                }
                Err(p) => r.problems.push(p),
            }
        }

        let isu_username = if soap_only(&mut r, "IsuUsername") {
            None
        } else {
            r.string("IsuUsername", None)
        };
        let isu_password_ref = if soap_only(&mut r, "IsuPasswordRef") {
            None
        } else {
            let given = r.string("IsuPasswordRef", None);
            match (&isu_username, given) {
                (Some(_), given) => Some(given.unwrap_or_else(|| {
                    format!(
                        "secret://workday/{}/isupassword",
                        tenant_name.as_deref().unwrap_or("")
                    )
                })),
                (None, Some(_)) => {
                    r.problems.push(
                        ConfigIssue::Invalid(
                            "is only used with IsuUsername (WS-Security UsernameToken); set IsuUsername or remove IsuPasswordRef".into(),
                        )
                        .at("IsuPasswordRef"),
                    );
                    None
                }
                (None, None) => None,
            }
        };
        let client_id = r.string(
            "ClientId",
            isu_username.is_none().then_some(
                "set it to the Client ID that Register API Client for Integrations returned",
            ),
        );
        // The default grant follows RefreshTokenRef: Workday's API clients
        // for integrations authenticate with a refresh token.
        let has_refresh_ref = r.get("RefreshTokenRef").is_some();
        let grant_type = match r.string("GrantType", None).as_deref() {
            None if has_refresh_ref => Some(GrantType::RefreshToken),
            None | Some("client_credentials") => Some(GrantType::ClientCredentials),
            Some("refresh_token") => Some(GrantType::RefreshToken),
            Some(other) => {
                r.problems.push(
                    ConfigIssue::NotOneOf {
                        allowed: "\"client_credentials\" or \"refresh_token\"".into(),
                        got: other.to_string(),
                    }
                    .at("GrantType"),
                );
                None
            }
        };
        let refresh_token_ref = match grant_type {
            Some(GrantType::RefreshToken) => r.string(
                "RefreshTokenRef",
                Some("with GrantType refresh_token, set it to the secret:// reference of the refresh token, e.g. secret://workday/contoso_preview/refreshtoken"),
            ),
            _ => {
                if r.get("RefreshTokenRef").is_some() {
                    r.problems.push(
                        ConfigIssue::Invalid(
                            "is only used with GrantType \"refresh_token\"; remove it or set GrantType to \"refresh_token\"".into(),
                        )
                        .at("RefreshTokenRef"),
                    );
                }
                None
            }
        };

        let page_size = match api {
            Api::Rest => r.number("PageSize", 100, 1, 100),
            Api::Soap => r.number("PageSize", 100, 1, 999),
        };
        let import_workers = r.boolean("ImportWorkers", true);
        let import_organizations = r.boolean("ImportOrganizations", true);
        if r.boolean("ImportPositions", false) {
            r.problems
                .push(ConfigIssue::PositionsUnsupported.at("ImportPositions"));
        }
        if !import_workers
            && !import_organizations
            && r.problems
                .iter()
                .all(|p| p.key != "ImportWorkers" && p.key != "ImportOrganizations")
        {
            r.problems
                .push(ConfigIssue::NothingToImport.at("ImportWorkers"));
        }
        let external_id_attribute = match r.string("ExternalIdAttribute", None).as_deref() {
            None => ExternalIdAttribute::Id,
            Some(s) => match ExternalIdAttribute::ALL.iter().find(|a| a.field() == s) {
                Some(a) => *a,
                None => {
                    r.problems.push(
                        ConfigIssue::NotOneOf {
                            allowed: "\"id\", \"employeeNumber\" or \"companyEmployeeId\"".into(),
                            got: s.to_string(),
                        }
                        .at("ExternalIdAttribute"),
                    );
                    ExternalIdAttribute::Id
                }
            },
        };
        let max_concurrent_requests = r.number("MaxConcurrentRequests", 4, 1, 16);
        let max_requests_per_hour = r.number("MaxRequestsPerHour", 1000, 1, 10_000_000);
        let request_timeout = r.number("RequestTimeoutSeconds", 30, 1, 600);
        let delta_overlap = r.number("DeltaOverlapSeconds", 300, 0, 86_400);

        // Report in documentation order: the Api keys come last (they are
        // read first, since PageSize and ClientId depend on them).
        let (api_problems, others): (Vec<_>, Vec<_>) = std::mem::take(&mut r.problems)
            .into_iter()
            .partition(|p| API_KEYS.contains(&p.key.as_str()));
        r.problems = others;
        r.problems.extend(api_problems);

        let mut unknown: Vec<&String> = obj
            .keys()
            .filter(|k| !KNOWN_KEYS.contains(&k.as_str()))
            .collect();
        unknown.sort();
        for key in unknown {
            r.problems.push(
                ConfigIssue::Unknown {
                    suggestion: suggest(key),
                }
                .at(key),
            );
        }

        let problems = r.problems;
        let auth_ok = client_id.is_some() || isu_username.is_some();
        match (tenant_name, grant_type, base_url) {
            (Some(tenant_name), Some(grant_type), Some(base_url))
                if problems.is_empty() && auth_ok =>
            {
                Ok(Self {
                    realm: realm.unwrap_or_else(|| tenant_name.clone()),
                    tenant_host,
                    tenant_name,
                    base_url,
                    api,
                    web_service_version,
                    client_id,
                    isu_username,
                    isu_password_ref,
                    grant_type,
                    refresh_token_ref,
                    // The ranges were checked above, so these fit.
                    page_size: u32::try_from(page_size).unwrap_or(100),
                    import_workers,
                    import_organizations,
                    external_id_attribute,
                    max_concurrent_requests: u32::try_from(max_concurrent_requests).unwrap_or(4),
                    max_requests_per_hour: u32::try_from(max_requests_per_hour).unwrap_or(1000),
                    request_timeout: Duration::from_secs(request_timeout),
                    delta_overlap: Duration::from_secs(delta_overlap),
                })
            }
            _ => Err(problems),
        }
    }

    /// The tenant's URLs.
    pub fn endpoints(&self) -> Endpoints {
        Endpoints::new(self.base_url.clone(), &self.tenant_name, &self.realm)
    }

    /// The auth material reference this tenant's documentation prescribes:
    /// `secret://workday/{TenantName}/clientsecret`.
    pub fn expected_secret_ref(&self) -> String {
        format!("secret://workday/{}/clientsecret", self.tenant_name)
    }

    /// Whether requests authenticate with a WS-Security UsernameToken
    /// (Api Soap with `IsuUsername`) instead of an OAuth bearer token.
    pub fn uses_username_token(&self) -> bool {
        self.api == Api::Soap && self.isu_username.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(suggest("PageSise"), Some("PageSize"));
        assert_eq!(suggest("pagesize"), Some("PageSize"));
        assert_eq!(suggest("Tenant"), None);
        assert_eq!(suggest("Completely different"), None);
    }

    #[test]
    fn problems_cannot_hide_behind_a_valid_result() {
        // With a problem, parse never returns a config.
        let e = WorkdayConfig::parse(
            r#"{"TenantHost":"a.workday.com","TenantName":"t","ClientId":"c","PageSize":0}"#,
        )
        .unwrap_err();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].message, "must be between 1 and 100, got 0");
    }
}
