//! Secret resolution for the harness: a secrets file first, then the
//! environment; and a [`Redactor`] that scrubs every resolved value out of
//! text before it is printed, logged or stored.
//!
//! `secret://workday/contoso_preview/clientsecret` resolves from
//!
//! 1. the `--secrets-file`, a JSON object mapping references to values, which
//!    is refused when group- or world-readable; then
//! 2. the environment variable `IDMESH_SECRET_` + the reference's path
//!    upper-cased with every non-alphanumeric character as `_`
//!    (`IDMESH_SECRET_WORKDAY_CONTOSO_PREVIEW_CLIENTSECRET`).

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use connector_api::{SecretError, SecretRef, SecretResolver};
use secrecy::{ExposeSecret, SecretString};

/// The prefix of the environment variables secrets resolve from.
pub const ENV_PREFIX: &str = "IDMESH_SECRET_";

/// The environment variable a reference resolves from.
///
/// ```
/// use harness::secrets::env_var_name;
/// let r = "secret://workday/contoso_preview/clientsecret".parse().unwrap();
/// assert_eq!(env_var_name(&r), "IDMESH_SECRET_WORKDAY_CONTOSO_PREVIEW_CLIENTSECRET");
/// ```
pub fn env_var_name(reference: &SecretRef) -> String {
    let mut name = String::from(ENV_PREFIX);
    name.extend(reference.path().chars().map(|c| {
        if c.is_ascii_alphanumeric() {
            c.to_ascii_uppercase()
        } else {
            '_'
        }
    }));
    name
}

/// Why a secrets file could not be used. Never carries a secret value.
#[derive(Debug, thiserror::Error)]
pub enum SecretsFileError {
    /// The file could not be read.
    #[error("cannot read the secrets file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is readable by group or others.
    #[error(
        "the secrets file {path} is readable by group or others (mode {mode:03o}); \
         run `chmod 600 {path}` and try again"
    )]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file is not a JSON object of string values.
    #[error(
        "the secrets file {path} must be a JSON object mapping secret references to string values: {why}"
    )]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong (names keys and positions, never values).
        why: String,
    },
}

/// Where the process environment is read from: the real one, or a fixed map
/// (for tests).
#[derive(Clone, Default)]
enum EnvSource {
    #[default]
    Process,
    Fixed(Arc<HashMap<String, String>>),
}

impl EnvSource {
    fn get(&self, name: &str) -> Option<String> {
        match self {
            EnvSource::Process => std::env::var(name).ok(),
            EnvSource::Fixed(map) => map.get(name).cloned(),
        }
    }
}

/// The harness's [`SecretResolver`]: the secrets file, then the environment.
///
/// Every value it resolves is added to its [`Redactor`].
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use std::collections::HashMap;
/// use connector_api::SecretResolver;
/// use harness::secrets::HarnessSecrets;
/// use secrecy::ExposeSecret;
/// let env = HashMap::from([("IDMESH_SECRET_WORKDAY_T_CLIENTSECRET".to_string(), "s3cret-value".to_string())]);
/// let secrets = HarnessSecrets::new().with_env(env);
/// let v = secrets.resolve(&"secret://workday/t/clientsecret".parse().unwrap()).await.unwrap();
/// assert_eq!(v.expose_secret(), "s3cret-value");
/// assert_eq!(secrets.redactor().redact("token s3cret-value"), "token [REDACTED]");
/// # });
/// ```
#[derive(Clone, Default)]
pub struct HarnessSecrets {
    file: Option<(PathBuf, Arc<HashMap<String, SecretString>>)>,
    env: EnvSource,
    redactor: Redactor,
}

impl fmt::Debug for HarnessSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HarnessSecrets")
            .field("file", &self.file.as_ref().map(|(p, _)| p))
            .finish_non_exhaustive()
    }
}

impl HarnessSecrets {
    /// A resolver reading only the process environment.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also reads the secrets file at `path` (checked first).
    ///
    /// # Errors
    /// [`SecretsFileError`] when the file cannot be read, is group- or
    /// world-readable (on unix), or is not a JSON object of strings.
    pub fn with_file(mut self, path: &Path) -> Result<Self, SecretsFileError> {
        let values = read_secrets_file(path)?;
        self.file = Some((path.to_path_buf(), Arc::new(values)));
        Ok(self)
    }

    /// Reads environment variables from `env` instead of the process environment.
    #[must_use]
    pub fn with_env(mut self, env: HashMap<String, String>) -> Self {
        self.env = EnvSource::Fixed(Arc::new(env));
        self
    }

    /// Uses `redactor` (shared with the logger) instead of a private one.
    #[must_use]
    pub fn with_redactor(mut self, redactor: Redactor) -> Self {
        self.redactor = redactor;
        self
    }

    /// The redactor holding every value this resolver has handed out.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }
}

fn read_secrets_file(path: &Path) -> Result<HashMap<String, SecretString>, SecretsFileError> {
    let read_err = |source| SecretsFileError::Read {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read_err)?;
    check_permissions(path, &meta)?;
    let text = std::fs::read_to_string(path).map_err(read_err)?;
    let format = |why: String| SecretsFileError::Format {
        path: path.to_path_buf(),
        why,
    };
    // Parse to a generic value first: serde_json's syntax errors give only a
    // line and column, never the text, so no value can leak through them.
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format(format!("invalid JSON ({e})")))?;
    let serde_json::Value::Object(map) = json else {
        return Err(format("the top level is not an object".into()));
    };
    let mut values = HashMap::with_capacity(map.len());
    for (key, value) in map {
        match value {
            serde_json::Value::String(s) => {
                values.insert(key, SecretString::from(s));
            }
            _ => return Err(format(format!("the value of {key:?} is not a string"))),
        }
    }
    Ok(values)
}

#[cfg(unix)]
fn check_permissions(path: &Path, meta: &std::fs::Metadata) -> Result<(), SecretsFileError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(SecretsFileError::Permissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_path: &Path, _meta: &std::fs::Metadata) -> Result<(), SecretsFileError> {
    Ok(())
}

#[async_trait]
impl SecretResolver for HarnessSecrets {
    async fn resolve(&self, reference: &SecretRef) -> Result<SecretString, SecretError> {
        let key = reference.to_string();
        let file_note = match &self.file {
            Some((path, values)) => {
                if let Some(v) = values.get(&key) {
                    self.redactor.add(v);
                    return Ok(v.clone());
                }
                format!("the secrets file {} has no key {key:?}", path.display())
            }
            None => "no --secrets-file was given".to_string(),
        };
        let var = env_var_name(reference);
        match self.env.get(&var) {
            Some(v) if !v.is_empty() => {
                let v = SecretString::from(v);
                self.redactor.add(&v);
                Ok(v)
            }
            _ => Err(SecretError::NotFound {
                reference: key,
                looked_in: format!(
                    "{file_note}, and the environment variable {var} is not set; \
                     add the secret to one of them"
                ),
            }),
        }
    }
}

/// Scrubs known secret values out of text. Cloning shares the set.
///
/// Values shorter than 4 characters are not scrubbed (they would mangle
/// ordinary text and are not real secrets).
#[derive(Clone, Default)]
pub struct Redactor {
    values: Arc<RwLock<Vec<SecretString>>>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor").finish_non_exhaustive()
    }
}

/// What a scrubbed value is replaced with.
pub const REDACTED: &str = "[REDACTED]";

impl Redactor {
    /// An empty redactor.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a value to scrub.
    pub fn add(&self, value: &SecretString) {
        if value.expose_secret().len() < 4 {
            return;
        }
        let mut values = self.values.write().unwrap_or_else(|e| e.into_inner());
        if !values
            .iter()
            .any(|v| v.expose_secret() == value.expose_secret())
        {
            values.push(value.clone());
        }
    }

    /// Whether `text` holds any known value.
    pub fn contains_secret(&self, text: &str) -> bool {
        let values = self.values.read().unwrap_or_else(|e| e.into_inner());
        values.iter().any(|v| text.contains(v.expose_secret()))
    }

    /// `text` with every known value replaced by [`REDACTED`].
    pub fn redact(&self, text: &str) -> String {
        let values = self.values.read().unwrap_or_else(|e| e.into_inner());
        let mut out = text.to_string();
        for v in values.iter() {
            if out.contains(v.expose_secret()) {
                out = out.replace(v.expose_secret(), REDACTED);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> SecretRef {
        s.parse().unwrap()
    }

    #[tokio::test]
    async fn file_wins_over_env_and_env_is_the_fallback() {
        let dir = tempdir();
        let path = dir.join("secrets.json");
        write_private(
            &path,
            r#"{"secret://workday/a/clientsecret": "from-file-1234"}"#,
        );
        let env = HashMap::from([
            (
                "IDMESH_SECRET_WORKDAY_A_CLIENTSECRET".to_string(),
                "from-env-aaaa".to_string(),
            ),
            (
                "IDMESH_SECRET_WORKDAY_B_CLIENTSECRET".to_string(),
                "from-env-bbbb".to_string(),
            ),
        ]);
        let s = HarnessSecrets::new()
            .with_env(env)
            .with_file(&path)
            .unwrap();
        let a = s
            .resolve(&r("secret://workday/a/clientsecret"))
            .await
            .unwrap();
        assert_eq!(a.expose_secret(), "from-file-1234");
        let b = s
            .resolve(&r("secret://workday/b/clientsecret"))
            .await
            .unwrap();
        assert_eq!(b.expose_secret(), "from-env-bbbb");
        assert_eq!(
            s.redactor().redact("x from-file-1234 y from-env-bbbb"),
            "x [REDACTED] y [REDACTED]"
        );
    }

    #[tokio::test]
    async fn not_found_names_the_reference_and_both_places() {
        let dir = tempdir();
        let path = dir.join("s.json");
        write_private(&path, r#"{"secret://x/y": "zzzz-value"}"#);
        let s = HarnessSecrets::new()
            .with_env(HashMap::new())
            .with_file(&path)
            .unwrap();
        let e = s
            .resolve(&r("secret://workday/contoso_preview/clientsecret"))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("secret://workday/contoso_preview/clientsecret"),
            "{e}"
        );
        assert!(
            e.contains("IDMESH_SECRET_WORKDAY_CONTOSO_PREVIEW_CLIENTSECRET"),
            "{e}"
        );
        assert!(e.contains("s.json"), "{e}");
        assert!(!e.contains("zzzz-value"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn group_readable_file_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempdir();
        let path = dir.join("s.json");
        std::fs::write(&path, r#"{"secret://x/y": "v"}"#).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let e = HarnessSecrets::new()
            .with_file(&path)
            .unwrap_err()
            .to_string();
        assert!(e.contains("chmod 600"), "{e}");
        assert!(e.contains("s.json"), "{e}");
    }

    #[test]
    fn malformed_file_never_echoes_values() {
        let dir = tempdir();
        let path = dir.join("s.json");
        write_private(&path, r#"{"secret://x/y": 12345678, "k": "leaky-value"}"#);
        let e = HarnessSecrets::new()
            .with_file(&path)
            .unwrap_err()
            .to_string();
        assert!(!e.contains("12345678") && !e.contains("leaky-value"), "{e}");
        write_private(&path, r#"{"secret://x/y": "leaky-value" "#);
        let e = HarnessSecrets::new()
            .with_file(&path)
            .unwrap_err()
            .to_string();
        assert!(!e.contains("leaky-value"), "{e}");
    }

    fn tempdir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "harness-secrets-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn write_private(path: &Path, text: &str) {
        std::fs::write(path, text).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
    }
}
