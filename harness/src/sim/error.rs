//! The simulator's error type.

/// Everything the simulator API can refuse or fail at.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The configuration cannot produce a tenant (e.g. fewer workers than orgs).
    #[error("invalid simulator configuration: {0}")]
    Config(String),
    /// Binding or serving the listener on 127.0.0.1 failed.
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind {
        /// The requested port (0 = ephemeral).
        port: u16,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// No live worker has this id.
    #[error("unknown worker id {0:?}")]
    UnknownWorker(String),
    /// No supervisory organization has this id.
    #[error("unknown supervisory organization id {0:?}")]
    UnknownOrg(String),
    /// The mutation would break the tenant's invariants.
    #[error("mutation refused: {0}")]
    Conflict(String),
    /// A field cannot be set through `update_worker`/`update_org`.
    #[error("field {0:?} cannot be updated")]
    InvalidField(String),
    /// A fault spec did not parse.
    #[error("invalid fault spec {spec:?}: {reason}")]
    InvalidFault {
        /// The spec as given.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A page request is invalid (the message is the one the API would send).
    #[error("bad request: {0}")]
    BadRequest(String),
}
