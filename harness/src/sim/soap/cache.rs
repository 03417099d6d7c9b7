//! What consecutive SOAP pages of one snapshot share: the selected worker
//! indices, the orgs as of the read and their rendered management chains.
//! Every key holds the read's entry time, the transaction log's length and
//! the tenant's shape, so any mutation makes a fresh start.

use std::collections::HashMap;
use std::sync::Arc;

use super::view::OrgInfo;

/// Orgs as of one read, and their rendered chains.
#[derive(Debug, Default)]
pub(crate) struct OrgCache {
    pub(crate) orgs: HashMap<usize, Arc<OrgInfo>>,
    pub(crate) chains: HashMap<usize, Arc<str>>,
}

/// The cache (one snapshot at a time).
#[derive(Debug, Default)]
pub(crate) struct SoapCache {
    selection: Option<(String, Arc<Vec<u32>>)>,
    orgs: Option<(String, OrgCache)>,
}

impl SoapCache {
    /// The selection made for `key`, if it is the last one made.
    pub(crate) fn selection(&self, key: &str) -> Option<Arc<Vec<u32>>> {
        match &self.selection {
            Some((k, v)) if k == key => Some(Arc::clone(v)),
            _ => None,
        }
    }

    /// Remembers a selection.
    pub(crate) fn put_selection(&mut self, key: String, v: Arc<Vec<u32>>) {
        self.selection = Some((key, v));
    }

    /// Takes the org cache for `key` (empty if the last one was for another).
    pub(crate) fn take_orgs(&mut self, key: &str) -> OrgCache {
        match self.orgs.take() {
            Some((k, c)) if k == key => c,
            _ => OrgCache::default(),
        }
    }

    /// Puts an org cache back.
    pub(crate) fn put_orgs(&mut self, key: String, c: OrgCache) {
        self.orgs = Some((key, c));
    }
}
