//! Secret references and the resolver the engine provides.
//!
//! A connector's configuration never holds a secret, only a reference such as
//! `secret://workday/contoso_preview/clientsecret`. The engine resolves it at
//! run time through a [`SecretResolver`] into a [`SecretString`], which prints
//! as `[REDACTED]` and cannot be serialized.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use secrecy::SecretString;

/// A parsed `secret://segment/segment/...` reference.
///
/// ```
/// use connector_api::SecretRef;
/// let r: SecretRef = "secret://workday/contoso_preview/clientsecret".parse().unwrap();
/// assert_eq!(r.segments(), ["workday", "contoso_preview", "clientsecret"]);
/// assert_eq!(r.to_string(), "secret://workday/contoso_preview/clientsecret");
/// assert!("workday/clientsecret".parse::<SecretRef>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SecretRef {
    segments: Vec<String>,
}

/// The scheme every secret reference starts with.
pub const SECRET_SCHEME: &str = "secret://";

impl SecretRef {
    /// The path segments after `secret://`.
    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    /// The path after `secret://`, e.g. `workday/contoso_preview/clientsecret`.
    pub fn path(&self) -> String {
        self.segments.join("/")
    }
}

impl FromStr for SecretRef {
    type Err = SecretError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let malformed = |why: &str| SecretError::malformed(s, why);
        let rest = s
            .strip_prefix(SECRET_SCHEME)
            .ok_or_else(|| malformed("it must start with secret://"))?;
        if rest.is_empty() {
            return Err(malformed("it has no path after secret://"));
        }
        let segments: Vec<String> = rest.split('/').map(str::to_string).collect();
        if segments.iter().any(String::is_empty) {
            return Err(malformed("it has an empty path segment"));
        }
        let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
        if segments.iter().any(|seg| !seg.chars().all(ok)) {
            return Err(malformed(
                "path segments may hold only letters, digits, '_', '-' and '.'",
            ));
        }
        Ok(Self { segments })
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SECRET_SCHEME}{}", self.path())
    }
}

/// Why a secret could not be had. Never carries a secret value.
///
/// A malformed reference is echoed only when it starts with `secret://`:
/// anything else may be the secret itself, pasted where its reference
/// belongs, so the message names the problem and leaves the value out (the
/// caller names the configuration key or flag).
///
/// ```
/// use connector_api::SecretRef;
/// let e = "hunter2-the-secret".parse::<SecretRef>().unwrap_err();
/// assert!(!e.to_string().contains("hunter2"));
/// assert!(!format!("{e:?}").contains("hunter2"));
/// let e = "secret://workday//x".parse::<SecretRef>().unwrap_err();
/// assert!(e.to_string().contains("secret://workday//x"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The reference is not of the form `secret://a/b/c`.
    #[error("malformed secret reference{}: {why}", shown_reference(reference))]
    Malformed {
        /// The reference as given when it starts with `secret://`; empty
        /// otherwise (it may be a secret). Build it with [`SecretError::malformed`].
        reference: String,
        /// What is wrong with it.
        why: String,
    },
    /// No store the resolver looked in holds the reference.
    #[error("secret {reference} could not be resolved: {looked_in}")]
    NotFound {
        /// The reference.
        reference: String,
        /// Where the resolver looked, and what to do.
        looked_in: String,
    },
    /// The store holding the secret failed.
    #[error("secret {reference} could not be read: {why}")]
    Store {
        /// The reference.
        reference: String,
        /// What failed.
        why: String,
    },
}

impl SecretError {
    /// A [`SecretError::Malformed`] for the text `given`, which keeps
    /// `given` only when it starts with `secret://` (anything else may be the
    /// secret itself, pasted where its reference belongs).
    pub fn malformed(given: &str, why: &str) -> Self {
        if given.starts_with(SECRET_SCHEME) {
            SecretError::Malformed {
                reference: given.to_string(),
                why: why.to_string(),
            }
        } else {
            SecretError::Malformed {
                reference: String::new(),
                why: format!(
                    "{why} (the value given is not shown, as it may be the secret itself)"
                ),
            }
        }
    }
}

/// ` "secret://..."` for a reference that starts with `secret://`, nothing
/// otherwise: a value without the scheme is never echoed.
fn shown_reference(reference: &str) -> String {
    if reference.starts_with(SECRET_SCHEME) {
        format!(" {reference:?}")
    } else {
        String::new()
    }
}

/// The auth material and every `secret://` string value anywhere in the
/// configuration JSON, parsed, without duplicates, in order; malformed ones
/// are left out. The default of
/// [`ConnectorFactory::secret_references`](crate::ConnectorFactory::secret_references).
///
/// ```
/// use connector_api::secret_references_in;
/// let refs = secret_references_in(
///     r#"{"a":"secret://x/2","b":["secret://x/1", "plain"],"c":"secret://"}"#,
///     "secret://x/2",
/// );
/// let refs: Vec<String> = refs.iter().map(ToString::to_string).collect();
/// assert_eq!(refs, ["secret://x/1", "secret://x/2"]);
/// ```
pub fn secret_references_in(config_json: &str, auth_material: &str) -> Vec<SecretRef> {
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::String(s) if s.starts_with(SECRET_SCHEME) => out.push(s.clone()),
            serde_json::Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            serde_json::Value::Object(map) => map.values().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    let mut found = vec![auth_material.trim().to_string()];
    if let Ok(config) = serde_json::from_str::<serde_json::Value>(config_json) {
        walk(&config, &mut found);
    }
    let parsed: std::collections::BTreeMap<String, SecretRef> = found
        .iter()
        .filter_map(|s| s.trim().parse::<SecretRef>().ok())
        .map(|r| (r.to_string(), r))
        .collect();
    parsed.into_values().collect()
}

/// Turns a secret reference into its value. The engine provides one.
///
/// # Errors
/// [`SecretError`] naming the reference (never the value) when it cannot be resolved.
#[async_trait]
pub trait SecretResolver: Send + Sync {
    /// Resolves `reference`.
    async fn resolve(&self, reference: &SecretRef) -> Result<SecretString, SecretError>;
}

/// An in-memory resolver, for tests and embedding.
///
/// ```
/// # tokio_test_block(async {
/// use connector_api::{SecretResolver, StaticSecrets};
/// use secrecy::ExposeSecret;
/// let secrets = StaticSecrets::new().with("secret://workday/t/clientsecret", "s3cret");
/// let value = secrets.resolve(&"secret://workday/t/clientsecret".parse().unwrap()).await.unwrap();
/// assert_eq!(value.expose_secret(), "s3cret");
/// assert!(!format!("{secrets:?}").contains("s3cret"));
/// # });
/// # fn tokio_test_block(f: impl std::future::Future<Output = ()>) {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Default, Clone)]
pub struct StaticSecrets {
    values: HashMap<String, SecretString>,
}

impl StaticSecrets {
    /// An empty resolver.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a reference and its value.
    #[must_use]
    pub fn with(mut self, reference: &str, value: &str) -> Self {
        self.values
            .insert(reference.to_string(), SecretString::from(value.to_string()));
        self
    }
}

impl fmt::Debug for StaticSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut keys: Vec<&String> = self.values.keys().collect();
        keys.sort();
        f.debug_struct("StaticSecrets")
            .field("references", &keys)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl SecretResolver for StaticSecrets {
    async fn resolve(&self, reference: &SecretRef) -> Result<SecretString, SecretError> {
        self.values
            .get(&reference.to_string())
            .cloned()
            .ok_or_else(|| SecretError::NotFound {
                reference: reference.to_string(),
                looked_in: "the in-memory secret set has no such reference".into(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANARY: &str = "Zq9-canary-value-7f3a";

    #[test]
    fn a_value_without_the_scheme_is_never_echoed() {
        for given in [
            CANARY.to_string(),
            format!(" {CANARY}"),
            format!("Secret://{CANARY}"),
            format!("https://{CANARY}"),
            format!("{CANARY}/with/slashes"),
        ] {
            let e = given.parse::<SecretRef>().unwrap_err();
            let (shown, debug) = (e.to_string(), format!("{e:?}"));
            assert!(!shown.contains("canary"), "{given:?} echoed: {shown}");
            assert!(!debug.contains("canary"), "{given:?} echoed: {debug}");
            assert_eq!(
                shown,
                "malformed secret reference: it must start with secret:// \
                 (the value given is not shown, as it may be the secret itself)"
            );
        }
    }

    #[test]
    fn a_malformed_reference_with_the_scheme_is_echoed() {
        let e = "secret://workday//clientsecret"
            .parse::<SecretRef>()
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "malformed secret reference \"secret://workday//clientsecret\": it has an empty path segment"
        );
    }

    #[test]
    fn a_hand_built_malformed_error_still_hides_a_value_without_the_scheme() {
        let e = SecretError::Malformed {
            reference: CANARY.into(),
            why: "bad".into(),
        };
        assert_eq!(e.to_string(), "malformed secret reference: bad");
        let e = SecretError::malformed(CANARY, "bad");
        assert!(!format!("{e:?}").contains("canary"), "{e:?}");
    }
}
