//! The external ids a feed has emitted in this run, as 64-bit hashes, so
//! that a record read twice (a page that shifted while paging) is counted
//! as a duplicate.
//!
//! This is the one structure of a run that grows with the tenant, so it is
//! kept compact: a sorted `Vec<u64>` (8 bytes a record, sized once from the
//! feed's `total`) plus a small hash set of the newest ids, merged into the
//! sorted run in place whenever it fills. A `HashSet<u64>` of a million ids
//! takes about 19 MiB, and briefly half as much again while it grows; this
//! takes 8 MiB.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hash, Hasher};

/// The fewest ids the recent set holds before it is merged.
const MIN_RECENT: usize = 1 << 12;

/// The most ids the recent set holds before it is merged: 14,336 fit a
/// 16,384-bucket table (about 150 KB), where a sixteenth of a million ids
/// would take a 131,072-bucket one (1.2 MB) at the peak of a large run.
const MAX_RECENT: usize = 14_336;

/// The most ids the sorted run is sized for up front (16 MiB); a larger
/// `total` (or one a broken server made up) grows it as ids arrive.
const PRESIZE_LIMIT: u64 = 1 << 21;

/// The 64-bit hash an id is remembered by.
pub(crate) fn id_hash(id: &str) -> u64 {
    let mut h = DefaultHasher::new();
    id.hash(&mut h);
    h.finish()
}

/// Hashes an id hash (already a well-mixed 64-bit hash) to itself, so the
/// recent set does not hash it a second time.
#[derive(Debug, Default, Clone, Copy)]
struct AlreadyHashed(u64);

impl Hasher for AlreadyHashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used (the set holds `u64`s); any other input
        // is folded in, so this stays a correct, if weak, hasher.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A set of id hashes: exact, compact, no large reallocation spikes.
#[derive(Debug)]
pub(crate) struct SeenIds {
    /// Merged ids, ascending, no repeats.
    sorted: Vec<u64>,
    /// Ids inserted since the last merge (none of them in `sorted`).
    recent: HashSet<u64, BuildHasherDefault<AlreadyHashed>>,
    /// The fewest ids `recent` holds before it is merged.
    batch: usize,
}

impl Default for SeenIds {
    fn default() -> Self {
        Self::with_batch(MIN_RECENT)
    }
}

impl SeenIds {
    /// An empty set.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// An empty set merging every `batch` ids (at least 1).
    fn with_batch(batch: usize) -> Self {
        Self {
            sorted: Vec::new(),
            recent: HashSet::default(),
            batch: batch.max(1),
        }
    }

    /// Sizes the set for `expected` ids (at most [`PRESIZE_LIMIT`]), once.
    pub(crate) fn expect(&mut self, expected: u64) {
        let n = usize::try_from(expected.min(PRESIZE_LIMIT)).unwrap_or(0);
        self.sorted.reserve(n.saturating_sub(self.sorted.len()));
    }

    /// Whether the set holds `hash`.
    pub(crate) fn contains(&self, hash: u64) -> bool {
        self.recent.contains(&hash) || find(&self.sorted, hash).is_ok()
    }

    /// Adds `hash`; `false` when it was already there.
    pub(crate) fn insert(&mut self, hash: u64) -> bool {
        if find(&self.sorted, hash).is_ok() || !self.recent.insert(hash) {
            return false;
        }
        if self.recent.len() >= self.batch.max((self.sorted.len() / 16).min(MAX_RECENT)) {
            self.merge();
        }
        true
    }

    /// Adds every id of `other` (taking it whole when this set is empty,
    /// as after a run's only pass: no second copy of a million ids).
    pub(crate) fn extend(&mut self, other: SeenIds) {
        if self.is_empty() {
            *self = other;
            return;
        }
        for hash in other.sorted.into_iter().chain(other.recent) {
            self.insert(hash);
        }
    }

    /// How many ids the set holds.
    pub(crate) fn len(&self) -> usize {
        self.sorted.len() + self.recent.len()
    }

    /// Whether the set is empty.
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Moves `recent` into `sorted`, merging from the back in place (no
    /// second copy of `sorted`).
    fn merge(&mut self) {
        let mut new: Vec<u64> = self.recent.drain().collect();
        new.sort_unstable();
        let old_len = self.sorted.len();
        self.sorted.resize(old_len + new.len(), 0);
        let (mut i, mut j, mut k) = (old_len, new.len(), self.sorted.len());
        while j > 0 {
            k -= 1;
            if i > 0 && self.sorted[i - 1] > new[j - 1] {
                self.sorted[k] = self.sorted[i - 1];
                i -= 1;
            } else {
                self.sorted[k] = new[j - 1];
                j -= 1;
            }
        }
    }
}

/// `sorted.binary_search(&hash)`, with fewer cache misses: the ids are
/// hashes, spread evenly over `u64`, so where `hash` sits is guessed from
/// its value (interpolation), bracketed by probes 1, 2, 4, ... away from the
/// guess, and only that bracket is bisected. A binary search of 100,000 ids
/// misses the cache about 17 times; this touches a few neighbouring lines.
/// An uneven set costs at most about twice a binary search.
fn find(sorted: &[u64], hash: u64) -> Result<usize, usize> {
    let n = sorted.len();
    let (Some(&first), Some(&last)) = (sorted.first(), sorted.last()) else {
        return Err(0);
    };
    if n < 16 || hash <= first || hash >= last {
        return sorted.binary_search(&hash);
    }
    // first < hash < last, so the guess is in 0..n-1.
    let offset = u128::from(hash - first) * (n - 1) as u128 / u128::from(last - first);
    let guess = usize::try_from(offset).unwrap_or(0).min(n - 1);
    // Everything before `lo` is below `hash`, everything from `hi` on above.
    let (lo, hi) = if sorted[guess] < hash {
        let (mut lo, mut step) = (guess + 1, 1);
        loop {
            let probe = guess + step;
            if probe >= n {
                break (lo, n);
            }
            if sorted[probe] >= hash {
                break (lo, probe + 1);
            }
            lo = probe + 1;
            step *= 2;
        }
    } else {
        let (mut hi, mut step) = (guess + 1, 1);
        loop {
            if step > guess {
                break (0, hi);
            }
            let probe = guess - step;
            if sorted[probe] < hash {
                break (probe + 1, hi);
            }
            hi = probe + 1;
            step *= 2;
        }
    };
    match sorted[lo..hi].binary_search(&hash) {
        Ok(i) => Ok(lo + i),
        Err(i) => Err(lo + i),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn duplicates_are_found_across_merges() {
        let mut s = SeenIds::new();
        s.expect(10);
        let n = (MIN_RECENT * 3 + 7) as u64;
        for i in 0..n {
            assert!(s.insert(i.wrapping_mul(0x9E37_79B9_7F4A_7C15)), "{i}");
        }
        assert_eq!(s.len() as u64, n);
        assert!(!s.sorted.is_empty(), "the recent set was merged");
        for i in (0..n).step_by(997) {
            assert!(!s.insert(i.wrapping_mul(0x9E37_79B9_7F4A_7C15)), "{i}");
            assert!(s.contains(i.wrapping_mul(0x9E37_79B9_7F4A_7C15)));
        }
        assert!(!s.contains(1));
        assert_eq!(s.len() as u64, n);
        assert!(s.sorted.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn an_absurd_total_sizes_at_most_the_limit() {
        let mut s = SeenIds::new();
        s.expect(u64::MAX);
        assert_eq!(s.sorted.capacity(), PRESIZE_LIMIT as usize);
    }

    #[test]
    fn extending_an_empty_set_takes_the_other_whole() {
        let mut other = SeenIds::with_batch(2);
        for i in 0..5u64 {
            other.insert(i);
        }
        let capacity = other.sorted.capacity();
        let mut s = SeenIds::new();
        s.extend(other);
        assert_eq!(s.len(), 5);
        assert_eq!(s.sorted.capacity(), capacity);
        assert!((0..5).all(|i| s.contains(i)));
    }

    #[test]
    fn extend_keeps_both() {
        let (mut a, mut b) = (SeenIds::new(), SeenIds::new());
        a.insert(id_hash("a"));
        b.insert(id_hash("b"));
        a.extend(b);
        assert!(a.contains(id_hash("a")) && a.contains(id_hash("b")));
        assert_eq!(a.len(), 2);
    }

    proptest! {
        /// `find` answers as `binary_search` does, for even and uneven sets.
        #[test]
        fn find_is_a_binary_search(
            mut set in proptest::collection::vec(prop_oneof![any::<u64>(), 0u64..64, (u64::MAX - 64)..], 0..400),
            probes in proptest::collection::vec(prop_oneof![any::<u64>(), 0u64..64, (u64::MAX - 64)..], 0..50),
        ) {
            set.sort_unstable();
            set.dedup();
            for hash in probes.into_iter().chain(set.iter().copied()) {
                prop_assert_eq!(find(&set, hash), set.binary_search(&hash));
            }
        }

        #[test]
        fn behaves_like_a_hash_set(ids in proptest::collection::vec(0u64..5_000, 0..3_000)) {
            let mut s = SeenIds::with_batch(7);
            let mut model = HashSet::new();
            for id in ids {
                prop_assert_eq!(s.insert(id), model.insert(id));
                prop_assert!(s.contains(id));
            }
            prop_assert_eq!(s.len(), model.len());
        }
    }
}
