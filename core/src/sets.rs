//! The compiled forms of target lists: key sets, the filters of node-id sets, and CIDR sets.
//! Built once per publication; a lookup never allocates, hashes a string or parses.

use alloc::string::String;
use alloc::vec::Vec;
use core::net::IpAddr;

use crate::bucketing;

// === impl KeySet ===

/// A set of strings by key hash: an open-addressing table of the hashes (capacity a power of
/// two, at most half full, linear probing; 0 marks an empty bucket), so a lookup is one or two
/// probes, and a string compare rules out a collision on a hit.
pub(crate) struct KeySet {
    hashes: Vec<u64>,
    names: Vec<String>,
    mask: usize,
}

impl KeySet {
    /// The set of `items` (an empty string has no key hash and is never a member).
    pub(crate) fn new(items: &[String]) -> KeySet {
        let capacity = (items.len() * 2).next_power_of_two().max(2);
        let mut set = KeySet {
            hashes: alloc::vec![0; capacity],
            names: alloc::vec![String::new(); capacity],
            mask: capacity - 1,
        };
        for item in items {
            let Some(hash) = bucketing::key_hash(item) else {
                continue;
            };
            let hash = hash.max(1);
            let mut from = hash as usize & set.mask;
            loop {
                let (i, h) = probe(&set.hashes, set.mask, hash, from);
                if h == 0 {
                    set.hashes[i] = hash;
                    set.names[i] = item.clone();
                    break;
                }
                if set.names[i] == *item {
                    break;
                }
                from = (i + 1) & set.mask;
            }
        }
        set
    }

    /// Whether the set holds `key`, whose key hash is `hash` (the hash, then the name).
    #[inline]
    pub(crate) fn contains(&self, hash: Option<u64>, key: &str) -> bool {
        let Some(hash) = hash else { return false };
        let hash = hash.max(1);
        let mut from = hash as usize & self.mask;
        loop {
            let (i, h) = probe(&self.hashes, self.mask, hash, from);
            if h == 0 {
                return false;
            }
            if self.names[i] == key {
                return true;
            }
            from = (i + 1) & self.mask;
        }
    }

    /// This set's filter (see [`node_filter`]).
    pub(crate) fn filter(&self) -> Vec<u64> {
        node_filter(&self.hashes)
    }
}

/// Linear probing in a key set's `hashes` (0 = empty, stored hashes raised to at least 1) for
/// `hash` (raised likewise), from slot `from`: the first slot that holds `hash` or is empty,
/// with its hash (0 for empty; a slot past the end counts as empty).
#[inline(always)]
fn probe(hashes: &[u64], mask: usize, hash: u64, mut from: usize) -> (usize, u64) {
    loop {
        let h = hashes.get(from).copied().unwrap_or(0);
        if h == hash || h == 0 {
            return (from, h);
        }
        from = (from + 1) & mask;
    }
}

// === the node filter ===

/// A filter of a key set: one bit per key hash in a power of two of words, at least 32 bits
/// per key (at most one bit in 32 is set, so about 3 % or fewer of the keys not in the set
/// pass). A key hash `h` is bit `h % 64` of word `(h / 64) & mask` (see [`may_contain`]).
/// Built from a [`KeySet`]'s `hashes`, which are raised to at least 1: a stored 1 also sets
/// key 0's bit, so the filter is tested with the raw hash.
fn node_filter(hashes: &[u64]) -> Vec<u64> {
    let keys = hashes.iter().filter(|&&h| h != 0).count();
    let mut words = alloc::vec![0u64; keys.div_ceil(2).next_power_of_two()];
    let mask = words.len() as u64 - 1;
    let mut set = |h: u64| words[((h >> 6) & mask) as usize] |= 1 << (h & 63);
    for &h in hashes.iter().filter(|&&h| h != 0) {
        set(h);
        if h == 1 {
            set(0);
        }
    }
    words
}

/// Whether the filter at `offset` in `filters` with word mask `mask` (see [`node_filter`]) may
/// hold key hash `hash`: `false` if its set certainly does not, `true` if it may (the set
/// itself then decides).
#[inline(always)]
pub(crate) fn may_contain(filters: &[u64], offset: usize, mask: usize, hash: u64) -> bool {
    let word = filters.get(offset + ((hash >> 6) as usize & mask));
    word.is_some_and(|w| w >> (hash & 63) & 1 != 0)
}

// === impl IpSet ===

/// CIDR ranges as `(network, mask)` pairs.
#[derive(Default)]
pub(crate) struct IpSet {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

impl IpSet {
    /// Adds a range (its host bits, if any, ignored).
    pub(crate) fn push(&mut self, net: ipnet::IpNet) {
        match net.trunc() {
            ipnet::IpNet::V4(n) => self
                .v4
                .push((u32::from(n.network()), u32::from(n.netmask()))),
            ipnet::IpNet::V6(n) => self
                .v6
                .push((u128::from(n.network()), u128::from(n.netmask()))),
        }
    }

    /// Whether a range holds `ip` (an IPv4-mapped IPv6 address as IPv4).
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6(v6),
            },
            v4 => v4,
        };
        match ip {
            IpAddr::V4(a) => {
                let a = u32::from(a);
                self.v4.iter().any(|&(net, mask)| a & mask == net)
            }
            IpAddr::V6(a) => {
                let a = u128::from(a);
                self.v6.iter().any(|&(net, mask)| a & mask == net)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn a_node_filter_passes_every_member_and_few_others() {
        // Under Miri (which runs this module): the small sets, and too few others for a rate.
        let (sizes, others): (&[usize], usize) = if cfg!(miri) {
            (&[1, 3, 7], 0)
        } else {
            (&[1, 2, 3, 7, 100, 1000], 20_000)
        };
        for &n in sizes {
            let names: Vec<String> = (0..n).map(|i| format!("member-{i}")).collect();
            let set = KeySet::new(&names);
            let filter = set.filter();
            assert!(filter.len().is_power_of_two());
            // Two filters side by side: the offset locates the second.
            let mut filters = alloc::vec![u64::MAX; 3];
            filters.extend_from_slice(&filter);
            let (offset, mask) = (3, filter.len() - 1);
            for name in &names {
                let hash = bucketing::key_hash(name).unwrap();
                assert!(may_contain(&filters, offset, mask, hash), "{name} of {n}");
            }
            let passed = (0..others)
                .filter(|i| {
                    let hash = bucketing::key_hash(&format!("other-{i}")).unwrap();
                    may_contain(&filters, offset, mask, hash)
                })
                .count();
            // 32 or more bits per key: at most one bit in 32 set, about 3 % passing.
            assert!(
                passed * 1000 <= others * 35,
                "{passed} of {others} passed for {n} keys"
            );
        }
    }

    #[test]
    fn a_node_filter_of_a_raised_hash_passes_key_zero() {
        let filter = node_filter(&[0, 1, 0, 0]);
        assert!(may_contain(&filter, 0, 0, 0));
        assert!(may_contain(&filter, 0, 0, 1));
        assert!(!may_contain(&filter, 0, 0, 2));
    }
}
