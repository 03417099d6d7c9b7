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
    wid_buf(seed, kind, idx).as_str().to_string()
}

/// A WID in place: 32 lowercase hex digits, no allocation (records render
/// a few per worker).
#[derive(Clone, Copy)]
pub(crate) struct Wid([u8; 32]);

impl Wid {
    pub(crate) fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever written.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl std::fmt::Display for Wid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Wid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// [`wid`] without the `String`: `{hi:016x}{lo:016x}`.
pub(crate) fn wid_buf(seed: u64, kind: IdKind, idx: u64) -> Wid {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let k = key(seed, kind);
    let lo = feistel(k, idx);
    let hi = mix64(k ^ lo.rotate_left(29));
    let mut b = [0u8; 32];
    for (n, v) in [hi, lo].into_iter().enumerate() {
        for (i, d) in b[n * 16..n * 16 + 16].iter_mut().enumerate() {
            *d = HEX[((v >> (60 - 4 * i)) & 0xf) as usize];
        }
    }
    Wid(b)
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
    fn wid_buf_spells_the_wid_as_lowercase_hex() {
        for (seed, idx) in [
            (0, 0),
            (42, 1),
            (7, 999_999),
            (u64::MAX, u64::from(u32::MAX)),
        ] {
            let k = key(seed, IdKind::Worker);
            let lo = feistel(k, idx);
            let hi = mix64(k ^ lo.rotate_left(29));
            let expected = format!("{hi:016x}{lo:016x}");
            assert_eq!(wid_buf(seed, IdKind::Worker, idx).as_str(), expected);
            assert_eq!(wid(seed, IdKind::Worker, idx), expected);
        }
    }

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
