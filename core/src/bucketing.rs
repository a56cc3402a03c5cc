//! The bucketing contract, version 1.
//!
//! Percentage rollouts and experiment variants must give every node the same answer on every
//! machine, for every build of Vexil, forever: a silent change reshuffles a fleet. This module
//! is that contract. It is guarded by golden vectors (`core/tests/golden/bucketing_v1.csv`);
//! a change that moves any vector must come with a new [`VERSION`].
//!
//! ## Formula (version 1)
//!
//! All hashing is wyhash *final3* from the `wyhash` crate (endianness-independent: it reads
//! bytes little-endian on every target; do not enable its `mum32bit` feature, which changes
//! its output), with the fixed secret [`SECRET`] = `make_secret(SECRET_SEED)`.
//!
//! 1. **Key hash** (once per context): `key = wyhash(key_bytes, KEY_SEED, SECRET)` over the
//!    UTF-8 bytes of the bucket key (`node_id`, `validator_key` or an attribute value). An
//!    empty key has no hash: the context is outside every partial rollout and gets no variant.
//! 2. **Salt hash** (once per flag, at compile time):
//!    `salt = wyhash(salt_bytes, domain_seed, SECRET)` where the salt defaults to the flag's
//!    (or experiment's) name and `domain_seed` is [`ROLLOUT_SEED`] for rollouts and
//!    [`EXPERIMENT_SEED`] for experiments, so a flag and an experiment of the same name are
//!    independent.
//! 3. **Bucket**: wyhash's own finishing step applied to the two hashes, as if they were the
//!    two 64-bit words of a 16-byte input:
//!    `bucket = mum(SECRET[1] ^ 16, mum(key ^ SECRET[1], salt ^ SECRET[0]))`, where
//!    `mum(a, b)` folds the 128-bit product: `(a * b) as u64 ^ ((a * b) >> 64) as u64`. Both
//!    inputs are already full wyhash outputs, so two multiply-folds are all a check pays; the
//!    statistics tests (shares within 4 sigma, independent flags) hold it to that.
//! 4. **Position**: `position = (bucket * 1_000_000) >> 64` (128-bit product), an integer in
//!    `0..1_000_000`: one unit is 0.0001 %.
//! 5. **Decision**: a percentage `p` becomes `ppm = round(p * 10_000)` (0..=1_000_000); the
//!    context is included iff `position < ppm`. So 0 % includes nobody, 100 % everybody, and
//!    raising `p` only ever adds contexts. The check compares `bucket < threshold(ppm)` with
//!    `threshold = ceil(ppm * 2^64 / 1_000_000)`, which is the same decision.
//! 6. **Variants**: variant `i` covers positions `[sum(ppm_0..i), sum(ppm_0..=i))` of the
//!    experiment's bucket; positions past the last variant get no variant.

use wyhash::final3;

/// The version of this contract. Bumped on any change that moves a golden vector.
pub const VERSION: u32 = 1;

/// Seed of the wyhash secret: the bytes `b"vexil-v1"` read little-endian.
pub const SECRET_SEED: u64 = 0x3176_2d6c_6978_6576;

/// `wyhash::final3::make_secret(SECRET_SEED)`, spelled out so that it costs nothing at run time
/// (a test recomputes it).
pub const SECRET: [u64; 4] = [
    0xca87_d8a5_d439_b833,
    0x4d8b_6335_e1ca_6353,
    0xb155_e2a9_b2a6_e22b,
    0x93ca_1b93_7272_0f27,
];

/// Seed of the per-context key hash.
pub const KEY_SEED: u64 = 0x6b65_7973;
/// Seed of the rollout salt domain.
pub const ROLLOUT_SEED: u64 = 0x726f_6c6c;
/// Seed of the experiment salt domain.
pub const EXPERIMENT_SEED: u64 = 0x6578_7065;

/// Positions per 100 %: the resolution is 0.0001 %.
pub const SCALE: u32 = 1_000_000;

/// Which salt domain a salt hash belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Domain {
    /// Percentage rollouts of flags.
    Rollout,
    /// Variant assignment of experiments.
    Experiment,
}

/// The key hash of a bucket key; `None` for an empty key (step 1).
#[inline]
pub fn key_hash(key: &str) -> Option<u64> {
    if key.is_empty() {
        None
    } else {
        Some(final3::wyhash(key.as_bytes(), KEY_SEED, SECRET))
    }
}

/// The salt hash of a flag or experiment in a domain (step 2).
pub fn salt_hash(domain: Domain, salt: &str) -> u64 {
    let seed = match domain {
        Domain::Rollout => ROLLOUT_SEED,
        Domain::Experiment => EXPERIMENT_SEED,
    };
    final3::wyhash(salt.as_bytes(), seed, SECRET)
}

/// wyhash's multiply-fold (`wymum`): the 128-bit product of `a` and `b`, high half xor low.
/// The `wyhash` crate keeps it private, so it is spelled out here; it is the same function.
#[inline(always)]
pub fn mum(a: u64, b: u64) -> u64 {
    let r = u128::from(a) * u128::from(b);
    (r as u64) ^ ((r >> 64) as u64)
}

/// The 64-bit bucket of a key in a salt (step 3).
#[inline(always)]
pub fn bucket(key_hash: u64, salt_hash: u64) -> u64 {
    mum(
        SECRET[1] ^ 16,
        mum(key_hash ^ SECRET[1], salt_hash ^ SECRET[0]),
    )
}

/// The position `0..SCALE` of a bucket (step 4).
#[inline]
pub fn position(bucket: u64) -> u32 {
    ((u128::from(bucket) * u128::from(SCALE)) >> 64) as u32
}

/// A percentage as parts per million of the population (step 5), or `None` when it is NaN,
/// infinite or outside `0..=100` (checked before rounding).
pub fn percentage_to_ppm(percentage: f64) -> Option<u32> {
    if !percentage.is_finite() || !(0.0..=100.0).contains(&percentage) {
        return None;
    }
    // `f64::round` needs std; 0 <= x <= 1e6, so adding a half and truncating rounds half up.
    Some((percentage * 10_000.0 + 0.5) as u32)
}

/// The bucket threshold of a partial rollout: `bucket < threshold` iff `position < ppm`.
/// `ppm` must be below [`SCALE`] (100 % needs no threshold).
pub fn threshold(ppm: u32) -> u64 {
    debug_assert!(ppm < SCALE);
    let numerator = u128::from(ppm) << 64;
    numerator.div_ceil(u128::from(SCALE)) as u64
}

/// The whole decision for one key: is a context with this key inside a rollout of `ppm`?
pub fn in_rollout(key_hash: Option<u64>, salt_hash: u64, ppm: u32) -> bool {
    if ppm >= SCALE {
        return true;
    }
    match key_hash {
        Some(key) => position(bucket(key, salt_hash)) < ppm,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_derived_from_its_seed() {
        assert_eq!(final3::make_secret(SECRET_SEED), SECRET);
        assert_eq!(SECRET_SEED.to_le_bytes(), *b"vexil-v1");
    }

    #[test]
    fn threshold_agrees_with_position() {
        let salt = salt_hash(Domain::Rollout, "agree");
        for ppm in [0, 1, 2, 999, 1_000, 333_300, 500_000, 999_000, 999_999] {
            let t = threshold(ppm);
            for i in 0..2_000u32 {
                let b = bucket(i.into(), salt);
                assert_eq!(b < t, position(b) < ppm, "ppm {ppm} bucket {b}");
            }
            // The boundary itself: the last bucket below the threshold is inside.
            if ppm > 0 {
                assert!(position(t - 1) < ppm);
            }
            assert!(position(t) >= ppm);
        }
    }

    #[test]
    fn percentage_conversion_is_exact_and_checked() {
        assert_eq!(percentage_to_ppm(0.0), Some(0));
        assert_eq!(percentage_to_ppm(100.0), Some(SCALE));
        assert_eq!(percentage_to_ppm(12.5), Some(125_000));
        assert_eq!(percentage_to_ppm(0.0001), Some(1));
        assert_eq!(percentage_to_ppm(33.33), Some(333_300));
        assert_eq!(percentage_to_ppm(-0.0001), None);
        assert_eq!(percentage_to_ppm(100.00001), None);
        assert_eq!(percentage_to_ppm(f64::NAN), None);
        assert_eq!(percentage_to_ppm(f64::INFINITY), None);
    }

    #[test]
    fn empty_key_is_only_in_full_rollouts() {
        assert_eq!(key_hash(""), None);
        assert!(!in_rollout(None, 1, 999_999));
        assert!(in_rollout(None, 1, SCALE));
    }

    #[test]
    fn domains_are_separate() {
        assert_ne!(
            salt_hash(Domain::Rollout, "x"),
            salt_hash(Domain::Experiment, "x")
        );
    }
}
