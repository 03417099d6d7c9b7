//! Holds the end-to-end suites; see `tests/`.
