//! The forms names and values are encoded in for comparison, shared by the context (which
//! encodes what it is given, once) and the compiler (which encodes the configuration), so that
//! both sides of a compare are encoded alike: the hash attribute names are looked up by, names
//! of 8 to 16 bytes as two words, and versions without a pre-release as a triple.

use crate::bucketing;

/// The `(major, minor, patch)` of a version without a pre-release (build metadata does not take
/// part in precedence), ordered as the version's precedence is among such versions.
pub(crate) fn release_of(v: &semver::Version) -> Option<[u64; 3]> {
    v.pre.is_empty().then_some([v.major, v.minor, v.patch])
}

/// `a == b`, inline for the 8 to 16 bytes most attribute names are (two overlapping words
/// each, no call to `memcmp`); other lengths compare as slices.
#[inline(always)]
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    same_short_bytes(a, b).unwrap_or_else(|| a == b)
}

/// `Some(a == b)` when the lengths differ or are 8 to 16 bytes; `None` for equal lengths
/// outside that range, which need a `memcmp`.
#[inline(always)]
fn same_short_bytes(a: &[u8], b: &[u8]) -> Option<bool> {
    if a.len() != b.len() {
        return Some(false);
    }
    Some(short_words(a)? == short_words(b)?)
}

/// The first and the last 8 bytes of a string of 8 to 16 bytes (they overlap below 16), which
/// with its length are the string; `None` for other lengths.
#[inline(always)]
pub(crate) fn short_words(s: &[u8]) -> Option<[u64; 2]> {
    let n = s.len();
    if !(8..=16).contains(&n) {
        return None;
    }
    let word = |at: usize| {
        s.get(at..at + 8)
            .and_then(|w| w.try_into().ok())
            .map_or(0, u64::from_ne_bytes)
    };
    Some([word(0), word(n - 8)])
}

/// The hash attribute names are looked up by (an empty name hashes to 0).
pub(crate) fn name_hash(name: &str) -> u64 {
    bucketing::key_hash(name).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn same_bytes_is_slice_equality_at_every_length_and_position() {
        for n in 0..40usize {
            let a: Vec<u8> = (0..n as u8).map(|i| b'a' + i % 26).collect();
            assert!(same_bytes(&a, &a.clone()), "length {n}");
            for at in 0..n {
                let mut b = a.clone();
                b[at] ^= 0x20;
                assert!(!same_bytes(&a, &b), "length {n}, difference at {at}");
            }
            let mut longer = a.clone();
            longer.push(b'x');
            assert!(!same_bytes(&a, &longer), "length {n} against {}", n + 1);
        }
    }

    #[test]
    fn release_triples_order_as_semver_precedence() {
        let versions = [
            "0.0.0",
            "0.0.1",
            "0.1.0",
            "1.0.0",
            "1.0.0+build.7",
            "1.0.1",
            "1.2.3",
            "1.10.0",
            "2.0.0",
            "18446744073709551615.0.0",
            "1.0.0-alpha",
            "1.0.0-rc.1",
        ];
        for a in versions {
            for b in versions {
                let (va, vb) = (
                    semver::Version::parse(a).unwrap(),
                    semver::Version::parse(b).unwrap(),
                );
                match (release_of(&va), release_of(&vb)) {
                    (Some(ra), Some(rb)) => {
                        assert_eq!(ra.cmp(&rb), va.cmp_precedence(&vb), "{a} vs {b}")
                    }
                    _ => assert!(!va.pre.is_empty() || !vb.pre.is_empty(), "{a} vs {b}"),
                }
            }
        }
    }
}
