//! Perfect-hash lookups for product-code tables: the builder ([`build`]),
//! which `forest-codegen` runs at generation time and [`super::BasketIndex`]
//! at run time, and the probe ([`PerfectHash::find`]) generated code calls.
//! Both halves live here, over the same hash functions, so they cannot
//! drift apart.
//!
//! Scheme: hash and displace (Belazzougui, Botelho, Dietzfelbinger, "CHD").
//! A key's 64-bit hash picks a bucket ([`bucket_of`]); each bucket stores
//! one displacement `d` chosen at build time so that [`slot_of`]`(hash, d)`
//! sends every key of the bucket to a free slot. A lookup is therefore one
//! hash of the key, two table reads and one string comparison, against the
//! dozen unpredictable string comparisons of a binary search over
//! thousands of codes.
//!
//! Everything here is integer arithmetic on `u64`, so the build machine and
//! the target agree on every slot whatever their word size or byte order.

/// Marks an empty slot.
pub const EMPTY: u32 = u32::MAX;

const K0: u64 = 0x9E37_79B9_7F4A_7C15;
const K1: u64 = 0xC2B2_AE3D_27D4_EB4F;

/// MurmurHash3's 64-bit finaliser: every input bit reaches every output bit.
fn mix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    h ^= h >> 33;
    h = h.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    h ^ (h >> 33)
}

/// A seeded 64-bit hash of `key`, eight bytes at a time: whole words, then
/// the last eight bytes (overlapping the words before them; the length is
/// hashed in, so no two keys alias by the overlap). Keys under eight bytes
/// take two overlapping four-byte words, or their bytes. No copying and no
/// call into the C library: the product codes are 6 to 10 bytes long, and
/// a lookup hashes one for every line of a basket and level of the
/// hierarchy.
pub fn hash(seed: u64, key: &[u8]) -> u64 {
    let n = key.len();
    let mut h = seed ^ (n as u64).wrapping_mul(K0);
    let mut at = 0;
    while at + 8 < n {
        h = (h ^ word8(key, at)).wrapping_mul(K1).rotate_left(31);
        at += 8;
    }
    let tail = match n {
        8.. => word8(key, n - 8),
        4..=7 => u64::from(word4(key, 0)) << 32 | u64::from(word4(key, n - 4)),
        _ => key.iter().fold(0u64, |t, &b| t << 8 | u64::from(b)),
    };
    mix((h ^ tail).wrapping_mul(K1))
}

/// The eight bytes of `key` from `at` (which must leave eight), as a
/// little-endian number.
#[inline]
fn word8(key: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&key[at..at + 8]);
    u64::from_le_bytes(w)
}

/// The four bytes of `key` from `at` (which must leave four).
#[inline]
fn word4(key: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&key[at..at + 4]);
    u32::from_le_bytes(w)
}

/// `a == b` by words, like [`hash`] reads them: for 6- to 10-byte codes
/// this is two or three compares, where `==` calls the C library's memcmp
/// (a lookup of a 10-byte code among 3,000: 9.1 ns against 10.5 ns).
#[inline]
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    match n {
        8.. => {
            let mut at = 0;
            while at + 8 < n {
                if word8(a, at) != word8(b, at) {
                    return false;
                }
                at += 8;
            }
            word8(a, n - 8) == word8(b, n - 8)
        }
        4..=7 => word4(a, 0) == word4(b, 0) && word4(a, n - 4) == word4(b, n - 4),
        _ => a == b,
    }
}

/// `x` scaled into `0..n` (Lemire's multiply-shift, no division).
fn reduce(x: u32, n: usize) -> usize {
    ((u64::from(x) * n as u64) >> 32) as usize
}

/// The bucket of a key with hash `h` among `buckets` buckets.
pub fn bucket_of(h: u64, buckets: usize) -> usize {
    reduce((h >> 32) as u32, buckets)
}

/// The slot of a key with hash `h` under its bucket's `displacement`,
/// among `slots` slots. One multiplication: `h` is already mixed, and
/// `displacement * K0` spreads the displacements apart.
pub fn slot_of(h: u64, displacement: u32, slots: usize) -> usize {
    let x = (h ^ u64::from(displacement).wrapping_mul(K0)).wrapping_mul(K1);
    reduce((x >> 32) as u32, slots)
}

/// A perfect hash over borrowed tables, as generated code holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PerfectHash<'a> {
    /// The seed the hashes were built with.
    pub seed: u64,
    /// One per bucket.
    pub displacements: &'a [u32],
    /// Key index per slot, [`EMPTY`] where none.
    pub slots: &'a [u32],
}

impl PerfectHash<'_> {
    /// The index of `key` in `keys` (the key list the hash was built over),
    /// or `None` for a key not in it.
    #[inline]
    pub fn find<S: AsRef<str>>(&self, keys: &[S], key: &str) -> Option<usize> {
        if self.displacements.is_empty() || self.slots.is_empty() {
            return None;
        }
        let h = hash(self.seed, key.as_bytes());
        let d = self.displacements[bucket_of(h, self.displacements.len())];
        let index = self.slots[slot_of(h, d, self.slots.len())] as usize;
        keys.get(index)
            .filter(|k| same_bytes(k.as_ref().as_bytes(), key.as_bytes()))
            .map(|_| index)
    }
}

/// Keys per bucket on average: small buckets are easy to place.
const BUCKET_LOAD: usize = 4;
/// Slots per key: a little slack makes the last buckets quick to place.
const SLOT_SLACK: f64 = 1.25;
/// Displacements tried per bucket before the build starts over with another
/// seed.
const MAX_DISPLACEMENT: u32 = 1 << 16;
/// Seeds tried before giving up (a caller then falls back to binary search).
const MAX_SEEDS: u64 = 32;
/// A perfect hash as the builder makes it (owned); [`PerfectHashTables::view`]
/// gives the form generated code holds.
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

impl PerfectHashTables {
    /// The tables as a lookup borrows them.
    pub fn view(&self) -> PerfectHash<'_> {
        PerfectHash {
            seed: self.seed,
            displacements: &self.displacements,
            slots: &self.slots,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn word_compare_is_byte_equality(
            a in proptest::collection::vec(any::<u8>(), 0..24),
            flip in any::<prop::sample::Index>(),
            cut in any::<bool>(),
        ) {
            prop_assert!(same_bytes(&a, &a));
            let mut b = a.clone();
            if cut {
                b.pop();
            } else if !b.is_empty() {
                let i = flip.index(b.len());
                b[i] ^= 1;
            }
            prop_assert_eq!(same_bytes(&a, &b), a == b);
        }
    }

    #[test]
    fn an_empty_table_finds_nothing() {
        let empty = PerfectHash {
            seed: 0,
            displacements: &[],
            slots: &[],
        };
        assert_eq!(empty.find(&["a"], "a"), None);
    }
    #[test]
    fn the_hash_is_fixed() {
        // Generation and lookup may run on different machines: pin values.
        assert_eq!(hash(0, b""), hash(0, b""));
        assert_ne!(hash(0, b"a"), hash(1, b"a"));
        assert_ne!(hash(0, b"a"), hash(0, b"a\0"));
        // Every byte counts, at every length the word paths take.
        for len in 0..=24 {
            let key: Vec<u8> = (0..len as u8).map(|b| b.wrapping_mul(37) ^ 0x55).collect();
            for i in 0..len {
                let mut other = key.clone();
                other[i] ^= 1;
                assert_ne!(hash(7, &key), hash(7, &other), "length {len}, byte {i}");
            }
        }
        assert_eq!(hash(7, b"PRD0900001"), 0x5419_ca61_5664_fd2c);
    }

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
