//! What consecutive SOAP pages of one snapshot share: the selected worker
//! indices and the orgs as of the read. Every key holds the read's entry
//! time, the transaction log's length and the tenant's shape, so any
//! mutation makes a fresh start.
//!
//! Pages of one run are served concurrently (MaxConcurrentRequests), so
//! the org cache is shared, not handed from page to page: each org is
//! computed once per snapshot, by whichever page needs it first. It holds
//! one small record per org (never per worker) and at most
//! [`MAX_RENDERED_LEVELS`] rendered chain levels, and only one snapshot is
//! kept at a time.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use super::view::OrgInfo;

/// At most this many orgs keep their rendered management-chain level per
/// snapshot (about 600 bytes each). The levels near the top of the tree,
/// which every worker's chain passes through, are rendered first and so
/// are the ones kept; the rest are rendered as they are written.
pub(crate) const MAX_RENDERED_LEVELS: usize = 1024;

/// The orgs as one snapshot (entry time, log length, shape) sees them.
#[derive(Debug)]
pub(crate) struct OrgSnapshot {
    key: String,
    orgs: Vec<OnceLock<OrgInfo>>,
    /// How many orgs' chain levels were rendered and kept.
    rendered: AtomicUsize,
}

impl OrgSnapshot {
    /// Whether one more org may keep its rendered chain level.
    pub(crate) fn may_keep_level(&self) -> bool {
        self.rendered.fetch_add(1, Ordering::Relaxed) < MAX_RENDERED_LEVELS
    }

    /// Org `j`, computed by `make` the first time it is asked for (`None`
    /// for an index beyond the tenant's orgs).
    pub(crate) fn get_or_init(&self, j: usize, make: impl FnOnce() -> OrgInfo) -> Option<&OrgInfo> {
        self.orgs.get(j).map(|slot| slot.get_or_init(make))
    }
}

/// The cache (one snapshot at a time).
#[derive(Debug, Default)]
pub(crate) struct SoapCache {
    selection: Option<(String, Arc<Vec<u32>>)>,
    orgs: Option<Arc<OrgSnapshot>>,
    /// Bytes per worker of the last `Get_Workers` page, to size the next
    /// page's buffer once instead of growing it.
    worker_bytes: AtomicUsize,
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

    /// The org snapshot for `key` (a fresh one, replacing the last, if the
    /// last was for another key).
    pub(crate) fn orgs(&mut self, key: &str, org_count: usize) -> Arc<OrgSnapshot> {
        match &self.orgs {
            Some(s) if s.key == key && s.orgs.len() == org_count => Arc::clone(s),
            _ => {
                let s = Arc::new(OrgSnapshot {
                    key: key.to_string(),
                    orgs: (0..org_count).map(|_| OnceLock::new()).collect(),
                    rendered: AtomicUsize::new(0),
                });
                self.orgs = Some(Arc::clone(&s));
                s
            }
        }
    }

    /// The expected size of a `Get_Workers` response of `workers` workers.
    pub(crate) fn worker_page_capacity(&self, workers: usize) -> usize {
        let per = match self.worker_bytes.load(Ordering::Relaxed) {
            0 => 8192,
            n => n + n / 16,
        };
        4096 + per.saturating_mul(workers)
    }

    /// Records the size of a `Get_Workers` response.
    pub(crate) fn record_worker_page(&self, workers: usize, bytes: usize) {
        if let Some(per) = bytes.checked_div(workers) {
            self.worker_bytes.store(per, Ordering::Relaxed);
        }
    }
}
