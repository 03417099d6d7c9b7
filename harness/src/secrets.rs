//! Secret resolution for the harness: a secrets file first, then the
//! environment; and a [`Redactor`] that scrubs every resolved value out of
//! text before it is printed, logged or stored.
//!
//! `secret://workday/contoso_preview/clientsecret` resolves from
//!
//! 1. the `--secrets-file`, a JSON object mapping references to values, which
//!    is refused unless the current user owns it and no one else may read it;
//!    then
//! 2. the environment variable [`env_var_name`] gives
//!    (`IDMESH_SECRET_WORKDAY_CONTOSO_PREVIEW_CLIENTSECRET`).

use std::cmp::Reverse;
use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use connector_api::{SecretError, SecretRef, SecretResolver, SECRET_SCHEME};
use secrecy::{ExposeSecret, SecretString};

/// The prefix of the environment variables secrets resolve from.
pub const ENV_PREFIX: &str = "IDMESH_SECRET_";

/// The environment variable a reference resolves from: [`ENV_PREFIX`] and
/// the reference's path, one-to-one (no two references share a variable).
///
/// - A lower-case letter is written in upper case, a digit as itself.
/// - Every other character is `x` and its two-digit upper-case hex ASCII
///   code: `-` is `x2D`, `.` is `x2E`, `A` is `x41`. A lower-case `x` never
///   comes from anything else, so an escape cannot be mistaken for text.
/// - `/` and `_` are both written `_` (today's names) when that leaves no
///   doubt where the segments are: a path of one or two segments without
///   `_`, or of three segments with `_` only in the middle one (the shape
///   of `secret://workday/<TenantName>/clientsecret`). Any other path
///   writes `/` as `x2F` and `_` as `x5F`.
///
/// ```
/// use harness::secrets::env_var_name;
/// let name = |s: &str| env_var_name(&s.parse().unwrap());
/// assert_eq!(name("secret://workday/contoso_preview/clientsecret"), "IDMESH_SECRET_WORKDAY_CONTOSO_PREVIEW_CLIENTSECRET");
/// assert_eq!(name("secret://workday/acme-prod/clientsecret"), "IDMESH_SECRET_WORKDAY_ACMEx2DPROD_CLIENTSECRET");
/// assert_eq!(name("secret://workday/acme/prod_clientsecret"), "IDMESH_SECRET_WORKDAYx2FACMEx2FPRODx5FCLIENTSECRET");
/// ```
pub fn env_var_name(reference: &SecretRef) -> String {
    let has_underscore = |s: &String| s.contains('_');
    let plain = match reference.segments() {
        [_] => !reference.segments().iter().any(has_underscore),
        [a, b] => !has_underscore(a) && !has_underscore(b),
        [a, _, c] => !has_underscore(a) && !has_underscore(c),
        _ => false,
    };
    let mut name = String::from(ENV_PREFIX);
    for (i, segment) in reference.segments().iter().enumerate() {
        if i > 0 {
            name.push_str(if plain { "_" } else { "x2F" });
        }
        for c in segment.chars() {
            match c {
                'a'..='z' => name.push(c.to_ascii_uppercase()),
                '0'..='9' => name.push(c),
                '_' if plain => name.push('_'),
                _ => name.push_str(&format!("x{:02X}", u32::from(c))),
            }
        }
    }
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
    /// The file is owned by another user.
    #[error(
        "the secrets file {path} is owned by user id {owner}, not by the user running the harness \
         (user id {current}); run `chown {current} {path}` as its owner or root, and try again"
    )]
    Owner {
        /// The file.
        path: PathBuf,
        /// The file's owner.
        owner: u32,
        /// The effective user id of this process.
        current: u32,
    },
    /// The path is not a regular file.
    #[error("the secrets file {path} is not a regular file; give the path of a JSON file")]
    NotAFile {
        /// The path.
        path: PathBuf,
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
    /// [`SecretsFileError`] when the file cannot be read, is not a regular
    /// file, is group- or world-accessible or owned by another user (on
    /// unix, checked on the open handle that is then read), or is not a JSON
    /// object mapping `secret://` references to strings.
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

/// Opens, checks and reads the file through one handle, so the file that is
/// checked is the file that is read.
fn read_secrets_file(path: &Path) -> Result<HashMap<String, SecretString>, SecretsFileError> {
    let read_err = |source| SecretsFileError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(read_err)?;
    let meta = file.metadata().map_err(read_err)?;
    if !meta.is_file() {
        return Err(SecretsFileError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    check_owner_and_mode(path, &meta)?;
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(read_err)?;
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
    // A key without the scheme may be a secret written where its reference
    // belongs (key and value swapped): it is counted, never shown.
    let not_refs = map.keys().filter(|k| !k.starts_with(SECRET_SCHEME)).count();
    if not_refs > 0 {
        return Err(format(format!(
            "{not_refs} key(s) do not start with secret:// (not shown, as they may be secrets); \
             each key is a reference such as secret://workday/<TenantName>/clientsecret \
             and each value the secret itself"
        )));
    }
    let mut values = HashMap::with_capacity(map.len());
    for (key, value) in map {
        if let Err(e) = key.parse::<SecretRef>() {
            return Err(format(format!("a key is not a valid reference: {e}")));
        }
        match value {
            serde_json::Value::String(s) => {
                values.insert(key, SecretString::from(s));
            }
            _ => return Err(format(format!("the value of {key:?} is not a string"))),
        }
    }
    Ok(values)
}

/// Refuses a file owned by someone else, or readable or writable by group
/// or others.
#[cfg(unix)]
fn check_owner_and_mode(path: &Path, meta: &std::fs::Metadata) -> Result<(), SecretsFileError> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(SecretsFileError::Permissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    let current = effective_uid().map_err(|source| SecretsFileError::Read {
        path: path.to_path_buf(),
        source: std::io::Error::new(
            source.kind(),
            format!("cannot tell which user runs the harness to check the owner ({source})"),
        ),
    })?;
    if meta.uid() != current {
        return Err(SecretsFileError::Owner {
            path: path.to_path_buf(),
            owner: meta.uid(),
            current,
        });
    }
    Ok(())
}

/// The user id this process acts as for files: the owner the kernel gives
/// a new inode, read from a socket pair (nothing touches the file system).
///
/// std has no `geteuid`; `libc::geteuid` needs `unsafe`, which the workspace
/// forbids, and `nix` would be a new dependency for one call. A new inode
/// is owned by the process's file-system user id (its effective user id),
/// which is exactly the id file ownership is compared with.
#[cfg(unix)]
fn effective_uid() -> std::io::Result<u32> {
    use std::os::unix::fs::MetadataExt;
    let (socket, _peer) = std::os::unix::net::UnixStream::pair()?;
    let handle = std::fs::File::from(std::os::fd::OwnedFd::from(socket));
    Ok(handle.metadata()?.uid())
}

#[cfg(not(unix))]
fn check_owner_and_mode(_path: &Path, _meta: &std::fs::Metadata) -> Result<(), SecretsFileError> {
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
/// Each value is scrubbed in every form the harness's output can hold it:
/// as is, and escaped the ways log lines and messages escape text (Rust's
/// `{:?}`, JSON strings, the log formatter's control-character escapes),
/// including escapes of escapes (a `{:?}` string inside a JSON log line).
/// Every one of these escapes rewrites each character on its own, so a
/// value inside escaped text always appears as the escaped value.
///
/// Values shorter than 4 characters are not scrubbed (they would mangle
/// ordinary text and are not real secrets).
#[derive(Clone, Default)]
pub struct Redactor {
    /// Every form of every value, longest first (so a form is replaced
    /// before any shorter form inside it).
    forms: Arc<RwLock<Vec<SecretString>>>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor").finish_non_exhaustive()
    }
}

/// What a scrubbed value is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// How many escapes deep [`Redactor`] follows a value.
const ESCAPE_DEPTH: usize = 3;

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
        let mut forms = self.forms.write().unwrap_or_else(|e| e.into_inner());
        for form in written_forms(value.expose_secret()) {
            if !forms.iter().any(|f| f.expose_secret() == form) {
                forms.push(SecretString::from(form));
            }
        }
        forms.sort_by_key(|f| Reverse(f.expose_secret().len()));
    }

    /// Whether `text` holds any known value.
    pub fn contains_secret(&self, text: &str) -> bool {
        let forms = self.forms.read().unwrap_or_else(|e| e.into_inner());
        forms.iter().any(|v| text.contains(v.expose_secret()))
    }

    /// `text` with every known value replaced by [`REDACTED`].
    pub fn redact(&self, text: &str) -> String {
        let forms = self.forms.read().unwrap_or_else(|e| e.into_inner());
        let mut out = text.to_string();
        for v in forms.iter() {
            if out.contains(v.expose_secret()) {
                out = out.replace(v.expose_secret(), REDACTED);
            }
        }
        out
    }
}

/// `value` and its escaped forms, up to [`ESCAPE_DEPTH`] escapes deep.
fn written_forms(value: &str) -> Vec<String> {
    let escapes: [fn(&str) -> String; 3] = [debug_escaped, json_escaped, control_escaped];
    let mut forms = vec![value.to_string()];
    let mut frontier = forms.clone();
    for _ in 0..ESCAPE_DEPTH {
        let mut next = Vec::new();
        for form in &frontier {
            for escape in escapes {
                let escaped = escape(form);
                if !forms.contains(&escaped) {
                    forms.push(escaped.clone());
                    next.push(escaped);
                }
            }
        }
        frontier = next;
    }
    forms
}

/// `s` as Rust's `{:?}` writes it inside the quotes.
fn debug_escaped(s: &str) -> String {
    let quoted = format!("{s:?}");
    unquote(&quoted)
}

/// `s` as a JSON string holds it inside the quotes (as the JSON log format
/// writes it).
fn json_escaped(s: &str) -> String {
    let quoted = serde_json::Value::String(s.to_string()).to_string();
    unquote(&quoted)
}

fn unquote(quoted: &str) -> String {
    let inner = quoted.strip_prefix('"').unwrap_or(quoted);
    inner.strip_suffix('"').unwrap_or(inner).to_string()
}

/// `s` as the text log format writes messages and errors: terminal control
/// characters escaped (tracing-subscriber's ANSI sanitising).
fn control_escaped(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\x1b' => out.push_str("\\x1b"),
            '\x07' => out.push_str("\\x07"),
            '\x08' => out.push_str("\\x08"),
            '\x0c' => out.push_str("\\x0c"),
            '\x7f' => out.push_str("\\x7f"),
            c if ('\u{80}'..='\u{9f}').contains(&c) => {
                out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out
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

    #[tokio::test]
    async fn a_tenant_never_reads_another_tenants_variable() {
        let env = HashMap::from([(
            "IDMESH_SECRET_WORKDAY_ACME_PROD_CLIENTSECRET".to_string(),
            "acme-underscore-secret".to_string(),
        )]);
        let s = HarnessSecrets::new().with_env(env);
        let own = s
            .resolve(&r("secret://workday/acme_prod/clientsecret"))
            .await
            .unwrap();
        assert_eq!(own.expose_secret(), "acme-underscore-secret");
        for other in [
            "secret://workday/acme-prod/clientsecret",
            "secret://workday/acme.prod/clientsecret",
            "secret://workday/ACME_prod/clientsecret",
            "secret://workday/acme/prod_clientsecret",
            "secret://workday_acme/prod/clientsecret",
            "secret://workday/acme/prod/clientsecret",
        ] {
            let e = s.resolve(&r(other)).await.unwrap_err();
            assert!(matches!(e, SecretError::NotFound { .. }), "{other}: {e:?}");
        }
    }

    #[test]
    fn env_names_keep_todays_names_for_plain_references_and_escape_the_rest() {
        let name = |s: &str| env_var_name(&r(s));
        for (reference, expected) in [
            (
                "secret://workday/contoso_preview/clientsecret",
                "IDMESH_SECRET_WORKDAY_CONTOSO_PREVIEW_CLIENTSECRET",
            ),
            (
                "secret://workday/acme/refreshtoken",
                "IDMESH_SECRET_WORKDAY_ACME_REFRESHTOKEN",
            ),
            (
                "secret://memory/python/password",
                "IDMESH_SECRET_MEMORY_PYTHON_PASSWORD",
            ),
            ("secret://x/y", "IDMESH_SECRET_X_Y"),
            ("secret://token", "IDMESH_SECRET_TOKEN"),
            (
                "secret://workday/acme-prod/clientsecret",
                "IDMESH_SECRET_WORKDAY_ACMEx2DPROD_CLIENTSECRET",
            ),
            (
                "secret://workday/Acme.v2/clientsecret",
                "IDMESH_SECRET_WORKDAY_x41CMEx2EV2_CLIENTSECRET",
            ),
            (
                "secret://workday/acme/client_secret",
                "IDMESH_SECRET_WORKDAYx2FACMEx2FCLIENTx5FSECRET",
            ),
            ("secret://a/b/c/d", "IDMESH_SECRET_Ax2FBx2FCx2FD"),
            ("secret://my_token", "IDMESH_SECRET_MYx5FTOKEN"),
        ] {
            assert_eq!(name(reference), expected, "{reference}");
        }
    }

    /// The path an environment variable name stands for: the inverse of
    /// [`env_var_name`], so the mapping is one-to-one.
    fn decode(name: &str) -> Option<String> {
        let chars: Vec<char> = name.strip_prefix(ENV_PREFIX)?.chars().collect();
        let mut path = String::new();
        let mut underscores = Vec::new();
        let mut escaped_separator = false;
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                'x' => {
                    let hex: String = chars.get(i + 1..i + 3)?.iter().collect();
                    let c = char::from(u8::from_str_radix(&hex, 16).ok()?);
                    escaped_separator |= matches!(c, '/' | '_');
                    path.push(c);
                    i += 3;
                }
                '_' => {
                    underscores.push(path.len());
                    path.push('_');
                    i += 1;
                }
                c @ ('A'..='Z' | '0'..='9') => {
                    path.push(c.to_ascii_lowercase());
                    i += 1;
                }
                _ => return None,
            }
        }
        if escaped_separator {
            return underscores.is_empty().then_some(path);
        }
        let slashes = match underscores.as_slice() {
            [] => vec![],
            [one] => vec![*one],
            [first, .., last] => vec![*first, *last],
        };
        for at in slashes {
            path.replace_range(at..=at, "/");
        }
        Some(path)
    }

    fn any_reference() -> impl proptest::strategy::Strategy<Value = SecretRef> {
        use proptest::prelude::*;
        proptest::collection::vec("[A-Za-z0-9_.-]{1,6}", 1..5)
            .prop_map(|segments| r(&format!("secret://{}", segments.join("/"))))
    }

    /// References from a small alphabet, so that near-collisions are common.
    fn near_reference() -> impl proptest::strategy::Strategy<Value = SecretRef> {
        use proptest::prelude::*;
        proptest::collection::vec("[aA_.-]{1,3}", 1..4)
            .prop_map(|segments| r(&format!("secret://{}", segments.join("/"))))
    }

    proptest::proptest! {
        #[test]
        fn env_names_decode_back_to_their_reference(reference in any_reference()) {
            let name = env_var_name(&reference);
            proptest::prop_assert!(
                name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "{name} is not a portable variable name"
            );
            proptest::prop_assert_eq!(decode(&name), Some(reference.path()));
        }

        #[test]
        fn no_two_references_share_an_env_name(a in near_reference(), b in near_reference()) {
            if a != b {
                proptest::prop_assert_ne!(env_var_name(&a), env_var_name(&b));
            }
        }
    }

    #[test]
    fn redaction_covers_escaped_forms() {
        let secret = "Qz\"quote\\back\nline\ttab-\u{e9}-\u{1b}-CANARY";
        let redactor = Redactor::new();
        redactor.add(&SecretString::from(secret));
        let json = serde_json::json!({ "message": format!("got {secret}"), "body": format!("{secret:?}") })
            .to_string();
        for text in [
            format!("raw {secret} end"),
            format!("debug {secret:?} end"),
            format!("nested {:?} end", format!("{secret:?}")),
            json,
            control_escaped(&format!("text log {secret}")),
        ] {
            let out = redactor.redact(&text);
            assert!(!out.contains("CANARY"), "{text:?} became {out:?}");
            assert!(out.contains(REDACTED), "{out:?}");
            assert!(redactor.contains_secret(&text), "{text:?}");
        }
    }

    #[test]
    fn keys_that_are_not_references_are_refused_and_not_shown() {
        let dir = tempdir();
        let path = dir.join("s.json");
        // Key and value swapped: the key is the secret.
        write_private(
            &path,
            r#"{"leaky-swapped-value": "secret://workday/acme/clientsecret"}"#,
        );
        let e = HarnessSecrets::new()
            .with_file(&path)
            .unwrap_err()
            .to_string();
        assert!(!e.contains("leaky"), "{e}");
        assert!(e.contains("1 key(s) do not start with secret://"), "{e}");
        write_private(&path, r#"{"secret://workday//x": "leaky-value-2"}"#);
        let e = HarnessSecrets::new()
            .with_file(&path)
            .unwrap_err()
            .to_string();
        assert!(!e.contains("leaky"), "{e}");
        assert!(e.contains("secret://workday//x"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn a_file_owned_by_another_user_is_refused() {
        if effective_uid().unwrap() != 0 {
            // Only root can hand a file to another user; CI runs as root.
            return;
        }
        let dir = tempdir();
        let path = dir.join("s.json");
        write_private(&path, r#"{"secret://x/y": "value-1234"}"#);
        std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
        let e = HarnessSecrets::new()
            .with_file(&path)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("owned by user id 65534") && e.contains("user id 0") && e.contains("s.json"),
            "{e}"
        );
        // The mode check still applies, and comes first.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = HarnessSecrets::new()
            .with_file(&path)
            .unwrap_err()
            .to_string();
        assert!(e.contains("chmod 600"), "{e}");
        std::os::unix::fs::chown(&path, Some(0), Some(0)).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(HarnessSecrets::new().with_file(&path).is_ok());
    }

    #[cfg(unix)]
    #[test]
    fn effective_uid_is_the_owner_of_a_new_file() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempdir();
        let path = dir.join("new");
        std::fs::write(&path, "x").unwrap();
        assert_eq!(
            effective_uid().unwrap(),
            std::fs::metadata(&path).unwrap().uid()
        );
    }

    #[test]
    fn a_directory_is_not_a_secrets_file() {
        let dir = tempdir();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        let e = HarnessSecrets::new()
            .with_file(&dir)
            .unwrap_err()
            .to_string();
        assert!(e.contains("is not a regular file"), "{e}");
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
