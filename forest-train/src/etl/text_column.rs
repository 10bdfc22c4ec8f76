//! A text column of [`super::lines`] built a value at a time, as an Arrow
//! string-view array.
//!
//! Why not Arrow's `StringViewBuilder`: raw parsing appends 17 values a
//! line, most of them codes of up to 12 bytes that live inside their
//! view, and the builder copies each into its view with a `memcpy` call
//! sized at run time (its appends were 5% of the ETL's instructions on 52
//! synthetic weeks). Here a short value is read as two overlapping
//! fixed-size loads; the array holds the same values (inline views bit
//! for bit), and a long value that repeats the last long one (a basket's
//! customer and id on each of its lines) shares its view.
//! Appending a line ([`super::lines::LinesBuilder::push`]) on 13
//! synthetic weeks: 495M -> 414M instructions.

use std::sync::Arc;

use arrow_array::builder::NullBufferBuilder;
use arrow_array::StringViewArray;
use arrow_buffer::{Buffer, ScalarBuffer};

/// The longest value a view holds inline.
const INLINE_LEN: usize = 12;

/// Builds one string-view column.
#[derive(Debug)]
pub struct TextColumnBuilder {
    views: Vec<u128>,
    /// The bytes of the current block of values longer than 12 bytes.
    block: Vec<u8>,
    /// Full blocks.
    blocks: Vec<Buffer>,
    nulls: NullBufferBuilder,
    /// The view of the last long value, 0 before the first.
    last_long: u128,
}

impl TextColumnBuilder {
    /// Room for `values` values.
    pub fn with_capacity(values: usize) -> TextColumnBuilder {
        TextColumnBuilder {
            views: Vec::with_capacity(values),
            block: Vec::new(),
            blocks: Vec::new(),
            nulls: NullBufferBuilder::new(values),
            last_long: 0,
        }
    }

    /// Appends `value`.
    #[inline]
    pub fn append_value(&mut self, value: &str) {
        let bytes = value.as_bytes();
        let view = if bytes.len() <= INLINE_LEN {
            inline_view(bytes)
        } else {
            self.long_view(bytes)
        };
        self.views.push(view);
        self.nulls.append_non_null();
    }

    /// Appends `value`, or a null.
    #[inline]
    pub fn append_option(&mut self, value: Option<&str>) {
        match value {
            Some(value) => self.append_value(value),
            None => {
                self.views.push(0);
                self.nulls.append_null();
            }
        }
    }

    /// The view of a value longer than 12 bytes: its length, its first 4
    /// bytes, and where it lies (block, offset), its bytes copied there,
    /// unless it repeats the last long value (a basket's customer and id
    /// on each of its lines, a file's name on all of them), whose view it
    /// then shares: no copy, and equal views for the silver writer's run
    /// check ([`super::dictionary_chunk`]).
    fn long_view(&mut self, bytes: &[u8]) -> u128 {
        // A view's length is 32 bits, signed in Arrow's format; raw fields
        // are capped far below (`raw::MAX_FIELD_BYTES`), so this guards
        // the views' soundness, not input.
        assert!(
            bytes.len() <= i32::MAX as usize,
            "a text value of {} bytes does not fit a string view",
            bytes.len()
        );
        let prefix = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        let head = u128::from(bytes.len() as u32) | u128::from(prefix) << 32;
        let last = self.last_long;
        if last as u64 == head as u64 && (last >> 64) as u32 as usize == self.blocks.len() {
            let offset = (last >> 96) as usize;
            if self.block[offset..offset + bytes.len()] == *bytes {
                return last;
            }
        }
        // An offset is 32 bits (signed in Arrow's format): a block ends
        // before it would pass them.
        if self.block.len() + bytes.len() > i32::MAX as usize {
            self.blocks
                .push(Buffer::from_vec(std::mem::take(&mut self.block)));
        }
        let offset = self.block.len() as u32;
        self.block.extend_from_slice(bytes);
        self.last_long =
            head | u128::from(self.blocks.len() as u32) << 64 | u128::from(offset) << 96;
        self.last_long
    }

    /// The column of the values appended, and an empty builder.
    pub fn finish(&mut self) -> StringViewArray {
        if !self.block.is_empty() {
            self.blocks
                .push(Buffer::from_vec(std::mem::take(&mut self.block)));
        }
        let views = ScalarBuffer::from(std::mem::take(&mut self.views));
        let blocks: Arc<[Buffer]> = std::mem::take(&mut self.blocks).into();
        let nulls = self.nulls.finish();
        self.last_long = 0;
        // SAFETY: every view was made here from a `&str`: an inline view
        // holds the value's length and bytes, zero-padded; a long view its
        // length, first four bytes and a block and offset where its bytes
        // were copied whole (blocks are only appended to, and pushed in the
        // order their indices were given; a repeated value shares a view
        // made so). So each view is valid UTF-8 within its block, which is
        // what `try_new` would check.
        unsafe { StringViewArray::new_unchecked(views, blocks, nulls) }
    }
}

/// The view of a value of up to 12 bytes: its length in the low 32 bits,
/// then its bytes, zero-padded. The bytes are read as two overlapping
/// fixed-size loads (the first and the last 8 or 4), each shifted into
/// place, rather than copied at a run-time length.
#[inline]
fn inline_view(bytes: &[u8]) -> u128 {
    let len = bytes.len();
    debug_assert!(len <= INLINE_LEN);
    let word = |at: usize| u64::from(u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()));
    let payload = if len >= 8 {
        let low = u64::from_le_bytes(bytes[..8].try_into().unwrap());
        // The last four bytes, shifted so that only those past the eighth
        // remain.
        let high = word(len - 4) >> (8 * (INLINE_LEN - len));
        u128::from(low) | u128::from(high) << 64
    } else if len >= 4 {
        let high = word(len - 4) >> (8 * (8 - len));
        u128::from(word(0)) | u128::from(high) << 32
    } else {
        bytes
            .iter()
            .rev()
            .fold(0u128, |acc, &b| acc << 8 | u128::from(b))
    };
    len as u128 | payload << 32
}

/// Test columns: for each `(pick, run, null)`, `run` rows of the pool's
/// value `pick` (modulo its length), or of nulls where `null` is 0; from a
/// small pool values repeat both in a row and apart, as in silver.
#[cfg(test)]
pub(super) fn pool_runs(pool: &[String], picks: &[(usize, usize, u8)]) -> Vec<Option<String>> {
    let mut values = Vec::new();
    for &(pick, run, null) in picks {
        let value = (null != 0).then(|| pool[pick % pool.len()].clone());
        values.extend(std::iter::repeat_n(value, run));
    }
    values
}

#[cfg(test)]
mod tests {
    use arrow_array::builder::StringViewBuilder;
    use arrow_array::Array;
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// The same array as Arrow's builder makes, inline views bit for
        /// bit (long views point into other blocks, so values compare);
        /// values drawn from a small pool, so that long ones repeat, in a
        /// row and apart.
        #[test]
        fn columns_equal_arrows_own(
            pool in prop::collection::vec("[a-zé0-9 ]{0,30}", 1..6),
            picks in prop::collection::vec((0usize..6, 1usize..4, 0u8..10), 0..100),
        ) {
            let values = pool_runs(&pool, &picks);
            let mut ours = TextColumnBuilder::with_capacity(values.len());
            let mut arrows = StringViewBuilder::new();
            for value in &values {
                ours.append_option(value.as_deref());
                arrows.append_option(value.as_deref());
            }
            let ours = ours.finish();
            let arrows = arrows.finish();
            prop_assert_eq!(&ours, &arrows);
            for (i, value) in values.iter().enumerate() {
                prop_assert_eq!(ours.is_valid(i), value.is_some());
                if value.as_ref().is_some_and(|v| v.len() <= INLINE_LEN) {
                    prop_assert_eq!(ours.views()[i], arrows.views()[i]);
                }
                // A long value right after the same long value shares its view.
                if i > 0 && value.as_ref().is_some_and(|v| v.len() > INLINE_LEN) && values[i - 1] == *value {
                    prop_assert_eq!(ours.views()[i], ours.views()[i - 1]);
                }
            }
        }
    }

    #[test]
    fn every_inline_length_is_its_own_bytes() {
        let text = "abcdefghijkl";
        for len in 0..=INLINE_LEN {
            let value = &text[..len];
            let mut builder = TextColumnBuilder::with_capacity(1);
            builder.append_value(value);
            let column = builder.finish();
            assert_eq!(column.value(0), value);
            let mut padded = [0u8; 16];
            padded[..4].copy_from_slice(&(len as u32).to_le_bytes());
            padded[4..4 + len].copy_from_slice(value.as_bytes());
            assert_eq!(
                column.views()[0],
                u128::from_le_bytes(padded),
                "{len} bytes"
            );
        }
    }
}
