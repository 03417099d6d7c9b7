//! Where requests go: the tenant's base URL, the URLs derived from it, and the
//! rule deciding which hosts the client secret may be sent to.

use std::net::IpAddr;

use reqwest::Url;

/// The Workday host suffixes the client secret may be sent to.
pub const ALLOWED_HOST_SUFFIXES: [&str; 2] = [".workday.com", ".myworkday.com"];

/// Why a URL may not receive the client secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DestinationError {
    /// The scheme is neither `https` nor (for loopback) `http`.
    #[error("the client secret is only sent over https (plain http only to a loopback address such as 127.0.0.1 for the simulator); got the scheme {scheme:?} in {url}")]
    Scheme {
        /// The scheme found.
        scheme: String,
        /// The URL.
        url: String,
    },
    /// `http` to a host that is not a loopback address.
    #[error("the client secret is only sent over https; plain http is allowed only to a loopback address (127.0.0.0/8, ::1, localhost) for the simulator, got {url}")]
    PlainHttp {
        /// The URL.
        url: String,
    },
    /// A host outside the Workday domains.
    #[error("{host} is not a Workday host: the client secret is only sent to *.workday.com or *.myworkday.com (or to a loopback address for the simulator); use your tenant's API host, e.g. wd5-impl-services1.workday.com")]
    Host {
        /// The host found.
        host: String,
    },
    /// A URL without a host.
    #[error("{url} has no host")]
    NoHost {
        /// The URL.
        url: String,
    },
}

/// The host as an IP address, when it is one (`host_str` keeps IPv6 brackets).
fn host_ip(host: &str) -> Option<IpAddr> {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .ok()
}

/// Whether `host` is a loopback address or `localhost`.
fn is_loopback(host: &str) -> bool {
    match host_ip(host) {
        Some(ip) => ip.is_loopback(),
        None => host.eq_ignore_ascii_case("localhost"),
    }
}

/// Checks that the client secret may be sent to `url`: `https` to a host
/// under `*.workday.com` or `*.myworkday.com`, or `http`/`https` to a
/// loopback address (`127.0.0.0/8`, `::1`, `localhost`).
///
/// ```
/// use connector_workday::endpoint::check_secret_destination;
/// let ok = |u: &str| check_secret_destination(&u.parse().unwrap()).is_ok();
/// assert!(ok("https://wd5-impl-services1.workday.com"));
/// assert!(ok("https://acme.myworkday.com"));
/// assert!(ok("http://127.0.0.1:8080"));
/// assert!(!ok("http://wd5-impl-services1.workday.com"));
/// assert!(!ok("https://workday.com.evil.example"));
/// assert!(!ok("https://evilworkday.com"));
/// ```
///
/// # Errors
/// [`DestinationError`] saying what is wrong with the scheme or host.
pub fn check_secret_destination(url: &Url) -> Result<(), DestinationError> {
    let host = url.host_str().ok_or_else(|| DestinationError::NoHost {
        url: url.to_string(),
    })?;
    let loopback = is_loopback(host);
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(DestinationError::PlainHttp {
                url: url.to_string(),
            })
        }
        other => {
            return Err(DestinationError::Scheme {
                scheme: other.to_string(),
                url: url.to_string(),
            })
        }
    }
    if loopback {
        return Ok(());
    }
    if host_ip(host).is_some() {
        return Err(DestinationError::Host {
            host: host.to_string(),
        });
    }
    let name = host.to_ascii_lowercase();
    let allowed = ALLOWED_HOST_SUFFIXES
        .iter()
        .any(|suffix| name.len() > suffix.len() && name.ends_with(suffix));
    if allowed {
        Ok(())
    } else {
        Err(DestinationError::Host { host: name })
    }
}

/// The two feeds the connector reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Feed {
    /// `/workers` → `User`.
    Workers,
    /// `/supervisoryOrganizations` → `OrgUnit`.
    Organizations,
}

impl Feed {
    /// The REST collection's path segment.
    pub fn path(self) -> &'static str {
        match self {
            Feed::Workers => "workers",
            Feed::Organizations => "supervisoryOrganizations",
        }
    }

    /// The object type the feed's records become.
    pub fn object_type(self) -> &'static str {
        match self {
            Feed::Workers => "User",
            Feed::Organizations => "OrgUnit",
        }
    }

    /// The feed's records in words, for messages.
    pub fn noun(self) -> &'static str {
        match self {
            Feed::Workers => "workers",
            Feed::Organizations => "supervisory organizations",
        }
    }
}

/// The URLs of one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    base: Url,
    tenant: String,
    realm: String,
}

impl Endpoints {
    /// Endpoints under `base` (e.g. `https://wd5-impl-services1.workday.com`,
    /// possibly with a path prefix for a relay) for `tenant` and `realm`.
    pub fn new(base: Url, tenant: &str, realm: &str) -> Self {
        Self {
            base,
            tenant: tenant.to_string(),
            realm: realm.to_string(),
        }
    }

    /// The base URL.
    pub fn base(&self) -> &Url {
        &self.base
    }

    fn join(&self, tail: &str) -> String {
        let base = self.base.as_str().trim_end_matches('/');
        format!("{base}/{tail}")
    }

    /// `{base}/ccx/oauth2/{Realm}/token`.
    pub fn token_url(&self) -> String {
        self.join(&format!("ccx/oauth2/{}/token", self.realm))
    }

    /// `{base}/ccx/service/{TenantName}/Human_Resources/{version}`: the SOAP
    /// Human_Resources web service.
    pub fn soap_url(&self, version: &str) -> String {
        self.join(&format!(
            "ccx/service/{}/Human_Resources/{version}",
            self.tenant
        ))
    }

    /// `{base}/ccx/api/common/v1/{TenantName}/{feed}`.
    pub fn feed_url(&self, feed: Feed) -> String {
        self.join(&format!(
            "ccx/api/common/v1/{}/{}",
            self.tenant,
            feed.path()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(u: &str) -> Result<(), DestinationError> {
        check_secret_destination(&u.parse().unwrap())
    }

    #[test]
    fn allow_list() {
        for ok in [
            "https://wd5-impl-services1.workday.com",
            "https://WD2.Workday.com/relay",
            "https://acme.myworkday.com:8443",
            "http://127.0.0.1:1234",
            "http://127.9.9.9",
            "http://[::1]:99",
            "http://localhost:8080",
            "https://localhost",
        ] {
            assert!(check(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://wd5.workday.com",
            "https://workday.com",
            "https://evilworkday.com",
            "https://workday.com.evil.example",
            "https://10.0.0.1",
            "http://10.0.0.1",
            "https://[::2]",
            "ftp://wd5.workday.com",
            "http://localhost.evil.example",
        ] {
            assert!(check(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn urls() {
        let e = Endpoints::new(
            "http://127.0.0.1:9/relay/".parse().unwrap(),
            "acme",
            "acme_realm",
        );
        assert_eq!(
            e.token_url(),
            "http://127.0.0.1:9/relay/ccx/oauth2/acme_realm/token"
        );
        assert_eq!(
            e.feed_url(Feed::Organizations),
            "http://127.0.0.1:9/relay/ccx/api/common/v1/acme/supervisoryOrganizations"
        );
    }
}
