//! Workday IDs (WIDs): 32 lowercase hex characters, deterministic from the
//! seed, and reversible to the generation index so the simulator needs no
//! id -> index map even for a million workers.

/// What a WID names; each kind gets its own key so ids never collide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IdKind {
    Worker = 1,
    Org = 2,
    JobProfile = 3,
    Location = 4,
    WorkerType = 5,
    CostCenter = 6,
    OrgType = 7,
}

/// SplitMix64 finaliser: a good 64-bit mixer.
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn key(seed: u64, kind: IdKind) -> u64 {
    mix64(seed ^ mix64(kind as u64).rotate_left(17))
}

fn round(key: u64, r: u32, half: u32) -> u32 {
    // Truncation to the low 32 bits is the point of a Feistel round function.
    (mix64(key ^ (u64::from(r) << 40) ^ u64::from(half)) & 0xffff_ffff) as u32
}

fn feistel(key: u64, x: u64) -> u64 {
    let mut l = (x >> 32) as u32;
    let mut r = (x & 0xffff_ffff) as u32;
    for i in 0..4 {
        let nl = r;
        r = l ^ round(key, i, r);
        l = nl;
    }
    (u64::from(l) << 32) | u64::from(r)
}

fn unfeistel(key: u64, y: u64) -> u64 {
    let mut l = (y >> 32) as u32;
    let mut r = (y & 0xffff_ffff) as u32;
    for i in (0..4).rev() {
        let pr = l;
        l = r ^ round(key, i, pr);
        r = pr;
    }
    (u64::from(l) << 32) | u64::from(r)
}

/// The WID of item `idx` of `kind` under `seed`.
pub(crate) fn wid(seed: u64, kind: IdKind, idx: u64) -> String {
    let k = key(seed, kind);
    let lo = feistel(k, idx);
    let hi = mix64(k ^ lo.rotate_left(29));
    format!("{hi:016x}{lo:016x}")
}

/// The index behind a WID of `kind`, if `id` is one this seed could produce.
pub(crate) fn index_of(seed: u64, kind: IdKind, id: &str) -> Option<u64> {
    if id.len() != 32 || !id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let hi = u64::from_str_radix(id.get(..16)?, 16).ok()?;
    let lo = u64::from_str_radix(id.get(16..)?, 16).ok()?;
    let k = key(seed, kind);
    if mix64(k ^ lo.rotate_left(29)) != hi {
        return None;
    }
    Some(unfeistel(k, lo))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        for idx in [0u64, 1, 2, 999_999, 1 << 40] {
            let w = wid(42, IdKind::Worker, idx);
            assert_eq!(w.len(), 32);
            assert_eq!(index_of(42, IdKind::Worker, &w), Some(idx));
            assert_eq!(index_of(42, IdKind::Org, &w), None);
            assert_eq!(index_of(43, IdKind::Worker, &w), None);
        }
        assert_ne!(wid(1, IdKind::Worker, 0), wid(2, IdKind::Worker, 0));
    }
}
