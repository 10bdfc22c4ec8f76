//! Parquet's RLE / bit-packed hybrid encoding of small unsigned integers
//! (dictionary indices, definition levels), for the pages
//! [`super::dictionary_chunk`] writes.
//!
//! Why by hand: the parquet crate's encoder is public only behind its
//! `experimental` feature, which also builds its variant-type crates (17
//! more crates for one function of about sixty lines).
//!
//! The format (Parquet's `Encodings.md`): runs, each a ULEB128 header
//! then either one value repeated (`count << 1`, the value in
//! `ceil(bit_width / 8)` little-endian bytes) or groups of 8 values
//! bit-packed least significant bit first (`groups << 1 | 1`). Here a run
//! of 8 or more equal values is a repeated run and anything else is
//! bit-packed, padded to a whole group with the values that follow.

/// Appends `values`, each below `2^bit_width` (`bit_width` at most 32),
/// to `out` as runs of the hybrid encoding.
pub fn encode(values: &[u32], bit_width: u8, out: &mut Vec<u8>) {
    debug_assert!(
        bit_width >= 32 || values.iter().all(|&v| v >> bit_width == 0),
        "a value needs more than {bit_width} bits"
    );
    let run_at = |i: usize| {
        let first = values[i];
        values[i..].iter().take_while(|&&v| v == first).count()
    };
    let mut i = 0;
    while i < values.len() {
        let run = run_at(i);
        if run >= 8 {
            encode_run(values[i], run, bit_width, out);
            i += run;
            continue;
        }
        // Values up to the next run of 8, in whole groups: a last group
        // short of values at the end is padded with zeros (a page's value
        // count tells the reader where they stop), one that reaches into
        // the next run takes its first values.
        let mut end = i + run;
        while end < values.len() {
            let run = run_at(end);
            if run >= 8 {
                break;
            }
            end += run;
        }
        let groups = (end - i).div_ceil(8);
        let taken = (groups * 8).min(values.len() - i);
        bit_packed(&values[i..i + taken], groups, bit_width, out);
        let borrowed = i + taken > end;
        i += taken;
        if borrowed {
            // The rest of the run it borrowed from, as a repeated run.
            let rest = run_at(i);
            encode_run(values[i], rest, bit_width, out);
            i += rest;
        }
    }
}

/// `value` repeated `count` times, as one run.
pub fn encode_run(value: u32, count: usize, bit_width: u8, out: &mut Vec<u8>) {
    uleb128((count as u64) << 1, out);
    let bytes = usize::from(bit_width).div_ceil(8);
    out.extend_from_slice(&value.to_le_bytes()[..bytes]);
}

/// `groups` groups of 8 values, `values` padded with zeros to fill them.
fn bit_packed(values: &[u32], groups: usize, bit_width: u8, out: &mut Vec<u8>) {
    uleb128(((groups as u64) << 1) | 1, out);
    let mut bits: u64 = 0;
    let mut held = 0u32;
    let padding = std::iter::repeat_n(0, groups * 8 - values.len());
    for value in values.iter().copied().chain(padding) {
        bits |= u64::from(value) << held;
        held += u32::from(bit_width);
        while held >= 8 {
            out.push(bits as u8);
            bits >>= 8;
            held -= 8;
        }
    }
}

fn uleb128(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reference decoder, straight from the format's description.
    fn decode(mut bytes: &[u8], bit_width: u8, count: usize) -> Vec<u32> {
        let mut values = Vec::new();
        let width = usize::from(bit_width).div_ceil(8);
        while values.len() < count {
            let mut header = 0u64;
            let mut shift = 0;
            loop {
                let byte = bytes[0];
                bytes = &bytes[1..];
                header |= u64::from(byte & 0x7f) << shift;
                shift += 7;
                if byte < 0x80 {
                    break;
                }
            }
            if header & 1 == 0 {
                let mut value = [0u8; 4];
                value[..width].copy_from_slice(&bytes[..width]);
                bytes = &bytes[width..];
                values.extend(std::iter::repeat_n(
                    u32::from_le_bytes(value),
                    (header >> 1) as usize,
                ));
            } else {
                let n = (header >> 1) as usize * 8;
                for k in 0..n {
                    let mut value = 0u32;
                    for b in 0..usize::from(bit_width) {
                        let bit = k * usize::from(bit_width) + b;
                        value |= u32::from(bytes[bit / 8] >> (bit % 8) & 1) << b;
                    }
                    values.push(value);
                }
                bytes = &bytes[n * usize::from(bit_width) / 8..];
            }
        }
        assert!(bytes.is_empty(), "{} bytes left over", bytes.len());
        values.truncate(count);
        values
    }

    #[test]
    fn runs_and_literals_encode_as_the_format_says() {
        // Eight 5s as one repeated run: header 8 << 1, one value byte.
        let mut out = Vec::new();
        encode(&[5; 8], 3, &mut out);
        assert_eq!(out, [16, 5]);
        // Three values bit-packed in one group of 8 (padded with zeros),
        // 3 bits each, least significant bit first: 1, 2, 3 -> 0b011_010_001.
        let mut out = Vec::new();
        encode(&[1, 2, 3], 3, &mut out);
        assert_eq!(out, [3, 0b1101_0001, 0b0000_0000, 0]);
    }

    proptest::proptest! {
        #[test]
        fn any_values_decode_to_themselves(
            runs in proptest::collection::vec((0u32..1000, 1usize..20), 0..60),
            bit_width in 0u8..=32,
        ) {
            // Values kept below 2^bit_width (all 0 at width 0).
            let limit = if bit_width >= 32 { u32::MAX } else { (1u32 << bit_width) - 1 };
            let values: Vec<u32> = runs
                .iter()
                .flat_map(|&(v, n)| std::iter::repeat_n(v.min(limit), n))
                .collect();
            let mut out = Vec::new();
            encode(&values, bit_width, &mut out);
            proptest::prop_assert_eq!(decode(&out, bit_width, values.len()), values);
        }
    }
}
