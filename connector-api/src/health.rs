//! Health checks.

use serde::{Deserialize, Serialize};

/// The result of one health check.
///
/// ```
/// use connector_api::HealthCheck;
/// let ok = HealthCheck::pass("token", "Successfully obtained an access token");
/// assert!(ok.passed);
/// assert_eq!(ok.to_string(), "PASS token: Successfully obtained an access token");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck {
    /// A short stable name, e.g. `token`, `workers`.
    pub name: String,
    /// Whether it passed.
    pub passed: bool,
    /// What was found, and on failure what to do.
    pub message: String,
}

impl HealthCheck {
    /// A passed check.
    pub fn pass(name: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            passed: true,
            message: message.into(),
        }
    }

    /// A failed check.
    pub fn fail(name: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            passed: false,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for HealthCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let status = if self.passed { "PASS" } else { "FAIL" };
        write!(f, "{status} {}: {}", self.name, self.message)
    }
}
