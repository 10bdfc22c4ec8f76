//! Builds the perfect hashes of a compiled model's product-code tables
//! (the scheme is described in `forest_core::compiled::phf`, which holds
//! the hash and the lookup that generated code calls).

use forest_core::compiled::phf::{bucket_of, hash, slot_of, EMPTY};

/// Keys per bucket on average: small buckets are easy to place.
const BUCKET_LOAD: usize = 4;
/// Slots per key: a little slack makes the last buckets quick to place.
const SLOT_SLACK: f64 = 1.25;
/// Displacements tried per bucket before the build starts over with another
/// seed.
const MAX_DISPLACEMENT: u32 = 1 << 16;
/// Seeds tried before giving up (a caller then falls back to binary search).
const MAX_SEEDS: u64 = 32;
/// A perfect hash as the generator builds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PerfectHashTables {
    /// The seed that placed every bucket.
    pub seed: u64,
    /// One per bucket.
    pub displacements: Vec<u32>,
    /// Key index per slot, `EMPTY` where none.
    pub slots: Vec<u32>,
}

/// Builds a perfect hash over distinct `keys`, deterministically. `None`
/// when no seed works (never seen in practice; two keys with equal 64-bit
/// hashes under every seed would do it), or for no keys at all.
pub fn build<S: AsRef<str>>(keys: &[S]) -> Option<PerfectHashTables> {
    if keys.is_empty() || keys.len() >= EMPTY as usize {
        return None;
    }
    let n_buckets = keys.len().div_ceil(BUCKET_LOAD);
    let n_slots = ((keys.len() as f64 * SLOT_SLACK).ceil() as usize).max(1);
    (0..MAX_SEEDS).find_map(|seed| try_seed(keys, seed, n_buckets, n_slots))
}

fn try_seed<S: AsRef<str>>(
    keys: &[S],
    seed: u64,
    n_buckets: usize,
    n_slots: usize,
) -> Option<PerfectHashTables> {
    let hashes: Vec<u64> = keys
        .iter()
        .map(|k| hash(seed, k.as_ref().as_bytes()))
        .collect();
    let mut buckets: Vec<Vec<usize>> = vec![Vec::new(); n_buckets];
    for (i, &h) in hashes.iter().enumerate() {
        buckets[bucket_of(h, n_buckets)].push(i);
    }
    let mut order: Vec<usize> = (0..n_buckets).collect();
    order.sort_by_key(|&b| (std::cmp::Reverse(buckets[b].len()), b));

    let mut slots = vec![EMPTY; n_slots];
    let mut displacements = vec![0u32; n_buckets];
    let mut taken = Vec::new();
    for b in order {
        let members = &buckets[b];
        if members.is_empty() {
            break;
        }
        let placed = (0..MAX_DISPLACEMENT).find(|&d| {
            taken.clear();
            for &i in members {
                let s = slot_of(hashes[i], d, n_slots);
                if slots[s] != EMPTY || taken.contains(&s) {
                    return false;
                }
                taken.push(s);
            }
            true
        })?;
        displacements[b] = placed;
        for (&i, &s) in members.iter().zip(&taken) {
            slots[s] = i as u32;
        }
    }
    Some(PerfectHashTables {
        seed,
        displacements,
        slots,
    })
}

#[cfg(test)]
impl PerfectHashTables {
    /// The tables as the lookup borrows them.
    fn view(&self) -> forest_core::compiled::phf::PerfectHash<'_> {
        forest_core::compiled::phf::PerfectHash {
            seed: self.seed,
            displacements: &self.displacements,
            slots: &self.slots,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_key_and_nothing_else() {
        let keys: Vec<String> = (0..5000).map(|i| format!("PRD{:07}", i * 7)).collect();
        let tables = build(&keys).unwrap();
        let h = tables.view();
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(h.find(&keys, k), Some(i));
        }
        for miss in ["", "PRD0000001", "PRD00000000", "x", "PRD0000007 "] {
            assert_eq!(h.find(&keys, miss), None, "{miss}");
        }
        assert!(tables.slots.len() < 2 * keys.len());
        assert_eq!(build(&keys), Some(tables), "deterministic");
    }

    #[test]
    fn small_and_empty_key_sets() {
        assert_eq!(build::<&str>(&[]), None);
        let one = build(&["only"]).unwrap();
        assert_eq!(one.view().find(&["only"], "only"), Some(0));
        assert_eq!(one.view().find(&["only"], "other"), None);
    }
}
