//! How a plugin process is started: its program, arguments and environment.
//!
//! A plugin never inherits the engine's whole environment: the engine's may
//! hold the secrets of every tenant (`IDMESH_SECRET_*`), and a plugin gets
//! its secrets only in its `validate` message. It starts with a cleared
//! environment plus the variables named by [`PLUGIN_ENV_ALLOWLIST`], and the
//! ones its caller adds explicitly with [`PluginCommand::env`].

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};

use tokio::process::Command;

/// The environment variables a plugin inherits from the engine, when set:
/// the search path, home, locale (`LANG` and every `LC_*`), time zone,
/// temporary directory, Rust logging and backtraces, TLS trust stores, and
/// the HTTP proxy settings in both the upper- and lower-case spellings. An
/// entry ending in `*` names every variable starting with what precedes it.
///
/// Nothing else reaches the plugin, in particular no `IDMESH_SECRET_*`
/// variable: secrets reach a plugin only in its `validate` message. A caller
/// that must hand the plugin another variable names it with
/// [`PluginCommand::env`].
pub const PLUGIN_ENV_ALLOWLIST: &[&str] = &[
    "PATH",
    "HOME",
    "LANG",
    "LC_*",
    "TZ",
    "TMPDIR",
    "RUST_LOG",
    "RUST_BACKTRACE",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// Whether a plugin inherits the engine's variable `name`
/// ([`PLUGIN_ENV_ALLOWLIST`]).
///
/// ```
/// use connector_api::plugin::inherits_env;
/// assert!(inherits_env("PATH"));
/// assert!(inherits_env("LC_ALL"));
/// assert!(inherits_env("https_proxy"));
/// assert!(!inherits_env("IDMESH_SECRET_WORKDAY_ACME_CLIENTSECRET"));
/// assert!(!inherits_env("path"));
/// ```
pub fn inherits_env(name: &str) -> bool {
    PLUGIN_ENV_ALLOWLIST
        .iter()
        .any(|allowed| match allowed.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => name == *allowed,
        })
}

/// A plugin executable to start: its program, arguments, and the variables
/// it gets beyond the inherited [`PLUGIN_ENV_ALLOWLIST`]. Started by
/// [`PluginFactory::spawn_command`](super::PluginFactory::spawn_command).
///
/// ```
/// use connector_api::plugin::PluginCommand;
/// let command = PluginCommand::new("connector-workday")
///     .arg("--quiet")
///     .env("WORKDAY_TRACE", "1");
/// assert_eq!(command.program().to_str(), Some("connector-workday"));
/// // Debug shows variable names, never their values.
/// assert!(format!("{command:?}").contains("WORKDAY_TRACE"));
/// ```
#[derive(Clone)]
pub struct PluginCommand {
    program: PathBuf,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
}

impl PluginCommand {
    /// The executable `program`, with no arguments and only the inherited
    /// variables.
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Self {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    /// Adds one argument.
    #[must_use]
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Adds arguments.
    #[must_use]
    pub fn args<I, A>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = A>,
        A: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets the variable `name` to `value` in the plugin's environment,
    /// whether or not the allowlist names it (and over an inherited value).
    /// For settings the caller means the plugin to have; never a secret
    /// (secrets travel in the `validate` message).
    #[must_use]
    pub fn env(mut self, name: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    /// The executable.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// The command to spawn: the cleared environment, the inherited
    /// variables of `engine_env`, then the explicit ones.
    pub(crate) fn command(
        &self,
        engine_env: impl IntoIterator<Item = (OsString, OsString)>,
    ) -> Command {
        let mut command = Command::new(&self.program);
        command.args(&self.args).env_clear();
        for (name, value) in engine_env {
            if name.to_str().is_some_and(inherits_env) {
                command.env(name, value);
            }
        }
        for (name, value) in &self.env {
            command.env(name, value);
        }
        command
    }
}

impl fmt::Debug for PluginCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&OsStr> = self.env.iter().map(|(n, _)| n.as_os_str()).collect();
        f.debug_struct("PluginCommand")
            .field("program", &self.program)
            .field("args", &self.args)
            .field("env", &names)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn env_of(command: &Command) -> Vec<(String, Option<String>)> {
        command
            .as_std()
            .get_envs()
            .map(|(k, v)| {
                (
                    k.to_string_lossy().into_owned(),
                    v.map(|v| v.to_string_lossy().into_owned()),
                )
            })
            .collect()
    }

    #[test]
    fn only_allowed_and_explicit_variables_are_set() {
        let engine = [
            ("PATH", "/usr/bin"),
            ("LC_TIME", "de_DE.UTF-8"),
            ("no_proxy", "127.0.0.1"),
            ("IDMESH_SECRET_WORKDAY_ACME_CLIENTSECRET", "canary"),
            ("AWS_SECRET_ACCESS_KEY", "canary"),
            ("IDMESH_TEST_NO_RETRY_DELAY", "1"),
        ]
        .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        let command = PluginCommand::new("plugin")
            .env("IDMESH_TEST_NO_RETRY_DELAY", "1")
            .command(engine);
        let mut env = env_of(&command);
        env.sort();
        let some = |k: &str, v: &str| (k.to_string(), Some(v.to_string()));
        assert_eq!(
            env,
            vec![
                some("IDMESH_TEST_NO_RETRY_DELAY", "1"),
                some("LC_TIME", "de_DE.UTF-8"),
                some("PATH", "/usr/bin"),
                some("no_proxy", "127.0.0.1"),
            ]
        );
    }
}
