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
//!
//! A pass keeps at most [`SPILL_AT`] ids (1 MiB) in memory ([`PassIds`]):
//! the ids of a larger read go to unnamed temporary files, 8 bytes each,
//! and their repeats are counted when the pass ends, so memory stays flat
//! however large the tenant.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashSet;
use std::fs::File;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

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

/// The most ids a pass keeps in memory (1 MiB of hashes) before it writes
/// the rest to temporary files ([`PassIds`]). Tenants up to this size are
/// read without a file.
pub(crate) const SPILL_AT: usize = 1 << 17;

/// The most files a pass spreads its spilled ids over (by their top bits),
/// so that each is read back whole, sorted and counted at the end.
const MAX_PARTS: u64 = 64;

/// The buffer of each spill file, written and read.
const PART_BUFFER: usize = 16 * 1024;

/// The ids one pass emitted, to count the records it read more than once:
/// exactly, in flat memory.
///
/// The first [`SPILL_AT`] ids are kept in memory (a [`SeenIds`], which then
/// stops growing) and a repeat of one of them is known at once. Ids after
/// those are appended to temporary files, spread over them by their top
/// bits; a repeat among them is counted when the pass ends
/// ([`PassIds::finish`]), by reading each file back, sorting it and
/// counting equal neighbours. The files are unnamed (`tempfile`, in
/// `TMPDIR` or the system's temporary directory) and vanish with the
/// pass, or with the process.
#[derive(Debug)]
pub(crate) struct PassIds<'e> {
    /// The ids earlier passes of the run emitted, which this one skips.
    earlier: Option<&'e SeenIds>,
    memory: SeenIds,
    spill_at: usize,
    /// The pass's expected size (its first page's `total`): how many files
    /// the spilled ids are spread over.
    expected: u64,
    /// Where the files go; `None`: the system's temporary directory.
    dir: Option<PathBuf>,
    /// Whether [`PassIds::finish`] hands back every id (a later pass skips
    /// this one's), not only those in memory.
    keep: bool,
    spill: Spill,
}

#[derive(Debug)]
enum Spill {
    /// Nothing spilled.
    Off,
    /// The spilled ids: file `hash >> shift` holds those with those top bits.
    Parts {
        files: Vec<BufWriter<File>>,
        shift: u32,
    },
    /// A spill file could not be created, written or read: why. The pass
    /// cannot rule repeats out ([`PassEnd::unverified`]).
    Failed(String),
}

/// What [`PassIds::finish`] found.
#[derive(Debug)]
pub(crate) struct PassEnd {
    /// Repeats among the spilled ids (those in memory were counted as they
    /// came, by [`PassIds::insert`]).
    pub(crate) repeats: u64,
    /// Why repeats could not be ruled out, when a spill file failed.
    pub(crate) unverified: Option<String>,
    /// The ids in memory; when kept ([`PassIds::keeping`]), every id of the
    /// pass.
    pub(crate) seen: SeenIds,
}

impl<'e> PassIds<'e> {
    /// An empty pass keeping `spill_at` ids in memory, spilling into `dir`
    /// (the system's temporary directory when `None`).
    pub(crate) fn spilling_at(spill_at: usize, dir: Option<PathBuf>) -> Self {
        Self {
            earlier: None,
            memory: SeenIds::new(),
            spill_at: spill_at.max(1),
            expected: 0,
            dir,
            keep: false,
            spill: Spill::Off,
        }
    }

    /// A pass after those that emitted `earlier`, whose ids it skips.
    #[must_use]
    pub(crate) fn after(mut self, earlier: &'e SeenIds) -> Self {
        self.earlier = Some(earlier);
        self
    }

    /// Whether an earlier pass of the run emitted `hash`.
    pub(crate) fn emitted_earlier(&self, hash: u64) -> bool {
        self.earlier.is_some_and(|e| e.contains(hash))
    }

    /// Whether [`PassIds::finish`] hands back every id of the pass (read
    /// back from the files into memory) rather than those in memory: for a
    /// pass a later pass of the run skips.
    #[must_use]
    pub(crate) fn keeping(mut self, keep: bool) -> Self {
        self.keep = keep;
        self
    }

    /// Whether no id was inserted yet.
    pub(crate) fn is_empty(&self) -> bool {
        self.memory.is_empty()
    }

    /// Sizes the pass for `expected` ids, once (the memory part for at most
    /// [`SPILL_AT`] of them).
    pub(crate) fn expect(&mut self, expected: u64) {
        self.expected = expected;
        self.memory.expect(expected.min(self.spill_at as u64));
    }

    /// Adds `hash`; `false` when it is known to be a repeat now (a repeat
    /// of a spilled id is counted by [`PassIds::finish`]).
    pub(crate) fn insert(&mut self, hash: u64) -> bool {
        if self.memory.len() < self.spill_at {
            return self.memory.insert(hash);
        }
        if self.memory.contains(hash) {
            return false;
        }
        if matches!(self.spill, Spill::Off) {
            self.spill = self.open();
        }
        if let Spill::Parts { files, shift } = &mut self.spill {
            let part = usize::try_from(hash.checked_shr(*shift).unwrap_or(0)).unwrap_or(0);
            let written = match files.get_mut(part) {
                Some(file) => file.write_all(&hash.to_le_bytes()),
                None => Err(io::Error::other("no file for the id's part")),
            };
            if let Err(e) = written {
                self.spill = Spill::Failed(self.failure("write", &e));
            }
        }
        true
    }

    /// The spill files, one per part of the ids still expected.
    fn open(&self) -> Spill {
        let left = self.expected.saturating_sub(self.spill_at as u64);
        let parts = left
            .div_ceil(self.spill_at as u64)
            .clamp(1, MAX_PARTS)
            .next_power_of_two();
        let files = (0..parts)
            .map(|_| {
                match &self.dir {
                    Some(dir) => tempfile::tempfile_in(dir),
                    None => tempfile::tempfile(),
                }
                .map(|f| BufWriter::with_capacity(PART_BUFFER, f))
            })
            .collect::<io::Result<Vec<_>>>();
        match files {
            Ok(files) => Spill::Parts {
                files,
                shift: 64 - parts.trailing_zeros(),
            },
            Err(e) => Spill::Failed(self.failure("create", &e)),
        }
    }

    /// Why the spill failed, for the run's warning.
    fn failure(&self, what: &str, e: &io::Error) -> String {
        let dir = self.dir.clone().unwrap_or_else(std::env::temp_dir);
        format!(
            "could not {what} a temporary file in {} for the ids beyond the first {} ({e}); free space there or set TMPDIR to a writable directory",
            dir.display(),
            self.spill_at
        )
    }

    /// Ends the pass: counts the repeats among the spilled ids, and when
    /// kept ([`PassIds::keeping`]) reads them into memory.
    pub(crate) fn finish(mut self) -> PassEnd {
        let mut end = PassEnd {
            repeats: 0,
            unverified: None,
            seen: SeenIds::new(),
        };
        match std::mem::replace(&mut self.spill, Spill::Off) {
            Spill::Off => {}
            Spill::Failed(why) => end.unverified = Some(why),
            Spill::Parts { files, .. } => {
                let keep = self.keep.then_some(&mut self.memory);
                match count_repeats(files, keep) {
                    Ok(repeats) => end.repeats = repeats,
                    Err(e) => end.unverified = Some(self.failure("read back", &e)),
                }
            }
        }
        end.seen = self.memory;
        end
    }
}

/// Reads each spill file back, sorts it and counts equal neighbours; with
/// `keep`, adds its ids to that set.
fn count_repeats(files: Vec<BufWriter<File>>, mut keep: Option<&mut SeenIds>) -> io::Result<u64> {
    let mut repeats = 0u64;
    let mut part: Vec<u64> = Vec::new();
    for writer in files {
        let mut file = writer
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?;
        let len = file.seek(SeekFrom::End(0))?;
        if len % 8 != 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the file holds {len} bytes, not whole ids"),
            ));
        }
        file.seek(SeekFrom::Start(0))?;
        part.clear();
        part.reserve(usize::try_from(len / 8).unwrap_or(0));
        let mut reader = BufReader::with_capacity(PART_BUFFER, file);
        let mut id = [0u8; 8];
        for _ in 0..len / 8 {
            reader.read_exact(&mut id)?;
            part.push(u64::from_le_bytes(id));
        }
        part.sort_unstable();
        let read = part.len();
        part.dedup();
        repeats += (read - part.len()) as u64;
        if let Some(seen) = keep.as_deref_mut() {
            for &hash in &part {
                seen.insert(hash);
            }
        }
    }
    Ok(repeats)
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

    /// An id hash spread over `u64`, so that spilled ids fill every file.
    fn spread(i: u64) -> u64 {
        i.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }

    #[test]
    fn a_pass_keeps_at_most_its_memory_part_and_spills_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let mut pass = PassIds::spilling_at(100, Some(dir.path().to_path_buf())).keeping(true);
        pass.expect(1_000);
        for i in 0..1_000 {
            assert!(pass.insert(spread(i)), "{i}");
        }
        assert_eq!(pass.memory.len(), 100);
        match &pass.spill {
            // 900 left for a memory part of 100: 16 files (a power of two).
            Spill::Parts { files, shift } => assert_eq!((files.len(), *shift), (16, 60)),
            other => panic!("{other:?}"),
        }
        // A repeat of an id in memory is known at once; of a spilled one,
        // at the end.
        assert!(!pass.insert(spread(5)));
        assert!(pass.insert(spread(500)));
        assert!(pass.insert(spread(999)));
        // The files have no names on Unix: nothing is left behind, even by
        // a crash (Windows deletes them when they close).
        if cfg!(unix) {
            assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        }
        let end = pass.finish();
        assert_eq!(end.repeats, 2);
        assert!(end.unverified.is_none());
        assert_eq!(end.seen.len(), 1_000);
        assert!((0..1_000).all(|i| end.seen.contains(spread(i))));
        assert!(!end.seen.contains(spread(1_000)));
    }

    #[test]
    fn without_keep_a_pass_hands_back_only_its_memory_part() {
        let mut pass = PassIds::spilling_at(10, None);
        for i in 0..50 {
            pass.insert(spread(i));
        }
        pass.insert(spread(40));
        let end = pass.finish();
        assert_eq!((end.repeats, end.seen.len()), (1, 10));
    }

    #[test]
    fn a_spill_that_cannot_be_created_leaves_the_pass_unverified() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        let mut pass = PassIds::spilling_at(2, Some(missing.clone())).keeping(true);
        for i in 0..5 {
            assert!(pass.insert(spread(i)));
        }
        // A repeat of a spilled id cannot be seen: the pass says so.
        assert!(pass.insert(spread(4)));
        let end = pass.finish();
        assert_eq!(end.repeats, 0);
        let why = end.unverified.unwrap();
        assert!(
            why.starts_with(&format!(
                "could not create a temporary file in {} for the ids beyond the first 2 (",
                missing.display()
            )),
            "{why}"
        );
        assert!(
            why.ends_with("); free space there or set TMPDIR to a writable directory"),
            "{why}"
        );
    }

    proptest! {
        /// However small the memory part and whatever the expected size
        /// (a wrong `total` included), the repeats known at once plus those
        /// counted at the end are exactly the repeats, and `keep` hands
        /// back exactly the distinct ids.
        #[test]
        fn a_pass_counts_every_repeat_however_much_it_spills(
            ids in proptest::collection::vec(0u64..300, 0..500),
            spread_ids: bool,
            spill_at in 1usize..40,
            expected in 0u64..1_000,
            keep: bool,
        ) {
            let mut pass = PassIds::spilling_at(spill_at, None).keeping(keep);
            pass.expect(expected);
            let mut model = HashSet::new();
            let (mut known_now, mut repeats) = (0u64, 0u64);
            for id in ids {
                let hash = if spread_ids { spread(id) } else { id };
                known_now += u64::from(!pass.insert(hash));
                repeats += u64::from(!model.insert(hash));
            }
            let end = pass.finish();
            prop_assert!(end.unverified.is_none());
            prop_assert_eq!(known_now + end.repeats, repeats);
            if keep {
                prop_assert_eq!(end.seen.len(), model.len());
                for hash in &model {
                    prop_assert!(end.seen.contains(*hash));
                }
            } else {
                prop_assert_eq!(end.seen.len(), model.len().min(spill_at));
            }
        }

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
