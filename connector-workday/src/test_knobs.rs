//! Switches for test builds only. Each is compiled in only with the cargo
//! feature `test-knobs`, which the workspace's test crates turn on (as a
//! dev-dependency feature, so `cargo build --release` never enables it);
//! without it, the environment variables below are ignored.

/// The environment variable that, set to `1` in a build with the
/// `test-knobs` feature, makes the Workday connector skip its retry back-off
/// and `Retry-After` waits (retries still happen and are counted).
pub const NO_RETRY_DELAY_ENV: &str = "IDMESH_TEST_NO_RETRY_DELAY";

/// Whether this build honours the test knobs (the `test-knobs` feature).
pub const ENABLED: bool = cfg!(feature = "test-knobs");

/// Whether retries should skip their waits: only in a build with the
/// `test-knobs` feature, and only when [`NO_RETRY_DELAY_ENV`] is `1`.
pub fn no_retry_delay() -> bool {
    honoured(ENABLED, std::env::var(NO_RETRY_DELAY_ENV).ok().as_deref())
}

/// The rule of [`no_retry_delay`]: `compiled_in` and the value `1`.
fn honoured(compiled_in: bool, value: Option<&str>) -> bool {
    compiled_in && value == Some("1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_build_with_the_feature_honours_the_variable() {
        assert!(!honoured(false, Some("1")));
        assert!(honoured(true, Some("1")));
        for other in [None, Some("0"), Some(""), Some("true"), Some(" 1")] {
            assert!(!honoured(true, other), "{other:?}");
            assert!(!honoured(false, other), "{other:?}");
        }
    }

    #[test]
    fn this_crates_tests_are_built_with_the_feature() {
        // The dev-dependency on this crate with `test-knobs` turns it on for
        // tests; if it did not, the harness's spawned binaries would sleep.
        // Checked when the tests compile.
        const { assert!(ENABLED, "the test-knobs feature is off in a test build") };
    }
}
