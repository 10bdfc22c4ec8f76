//! The `.forest` artifact: a [`Model`] as bytes, and back.
//!
//! The layout is specified byte for byte in `docs/FORMAT.md`; this module is
//! its reference implementation. In short: a 32-byte header (magic, version,
//! section count, file length, CRC-32), a table of 24-byte section entries,
//! then the sections themselves at 8-byte-aligned offsets: the metadata as
//! JSON and the forest's arrays as raw little-endian numbers.
//!
//! Why a hand-written layout rather than a serialisation crate: bincode is
//! unmaintained (its final release is a deliberate compile error), and a
//! documented little-endian layout can be read from any language, checked by
//! hand with a hex dump, and mapped into memory without a parse step because
//! every array starts 8-byte aligned.
//!
//! Artifacts travel between machines and are fetched from registries, so the
//! decoder treats its input as hostile: every length is checked against the
//! real byte count before anything is allocated, all offset arithmetic is
//! checked, and the result is a [`Model`] that passed [`Forest::new`] and
//! [`Model::new`] or an error naming the first problem found, never a panic.

use sha2::{Digest, Sha256};

use crate::error::{ArtifactError, ModelError};
use crate::feature::{shorten, FeatureKind};
use crate::forest::{Forest, ForestParts};
use crate::model::{Metadata, Model};

/// The first eight bytes of every artifact. The PNG-style high byte catches
/// transfers that strip the eighth bit, and the trailing newline catches
/// line-ending conversion, both of which would otherwise corrupt silently.
pub const MAGIC: [u8; 8] = *b"\x89FOREST\n";

/// The layout version this build writes.
pub const FORMAT_VERSION: u16 = 3;

/// The versions this build reads. Version 2 added the basket spec's tag
/// model (a metadata key that changes how baskets are encoded); version 3
/// a CRC-32 per section (so damage is reported where it is) and the
/// metadata's `ensemble` (boosted and imported trees). Older files decode
/// as they always did; a file that claims an older version but holds what
/// only a newer one can is refused.
pub const READABLE_VERSIONS: [u16; 3] = [1, 2, 3];

const HEADER_LEN: usize = 32;
/// A section table entry in versions 1 and 2: tag, type, offset, length.
const ENTRY_LEN_V2: usize = 24;
/// From version 3: the same, then the section's CRC-32 and 4 reserved bytes.
const ENTRY_LEN: usize = 32;
const ALIGN: usize = 8;
/// Where the CRC-32 sits; those four bytes count as zero when it is computed,
/// so that the checksum covers the header itself (in version 3 the header
/// and the section table; before, the whole file).
const CHECKSUM_AT: usize = 24;

/// What a section's bytes hold. The numeric codes are part of the format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Elem {
    U8 = 1,
    U32 = 2,
    F32 = 3,
    Json = 4,
}

impl Elem {
    fn size(self) -> usize {
        match self {
            Elem::U8 | Elem::Json => 1,
            Elem::U32 | Elem::F32 => 4,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Elem::U8 => "u8",
            Elem::U32 => "u32",
            Elem::F32 => "f32",
            Elem::Json => "JSON",
        }
    }

    fn from_code(code: u32) -> Option<Elem> {
        Some(match code {
            1 => Elem::U8,
            2 => Elem::U32,
            3 => Elem::F32,
            4 => Elem::Json,
            _ => return None,
        })
    }
}

/// The sections of a version 1 artifact, in the only order they may appear.
/// Every one is required; the position in this list is the section's index
/// in the arrays below.
const SECTIONS: [(&[u8; 4], Elem); 7] = [
    (b"META", Elem::Json),
    (b"TOFF", Elem::U32),
    (b"FEAT", Elem::U32),
    (b"THRS", Elem::F32),
    (b"LEFT", Elem::U32),
    (b"MISS", Elem::U8),
    (b"VALU", Elem::F32),
];
const META: usize = 0;
const TOFF: usize = 1;
const FEAT: usize = 2;
const THRS: usize = 3;
const LEFT: usize = 4;
const MISS: usize = 5;
const VALU: usize = 6;

fn tag_name(i: usize) -> &'static str {
    // The tags are ASCII literals, so this never takes the fallback.
    std::str::from_utf8(SECTIONS[i].0).unwrap_or("????")
}

/// A problem with the file as a whole, its header or its section table.
fn artifact_error(problem: impl Into<String>) -> ModelError {
    ArtifactError::file(problem).into()
}

/// A problem inside section `name`.
fn section_error(name: &'static str, problem: impl Into<String>) -> ModelError {
    ArtifactError::section(name, problem).into()
}

fn align_up(n: usize) -> usize {
    n.next_multiple_of(ALIGN)
}

/// Serialises a model. Deterministic: the same model always gives the same
/// bytes, so artifacts can be compared and content-addressed by hash.
///
/// Cannot fail for a model built through [`Model::new`], with one caveat that
/// lies outside the byte layout: JSON has no NaN or infinity, so non-finite
/// numbers in `feature_importance` are written as `null` and such an
/// artifact will not decode. The trainer never produces them.
pub fn encode(model: &Model) -> Vec<u8> {
    encode_as(model, FORMAT_VERSION)
}

/// [`encode`] in the layout of `version` (the current one, or for tests of
/// the reader, 1 or 2: 24-byte table entries and one CRC over the file).
fn encode_as(model: &Model, version: u16) -> Vec<u8> {
    let per_section_crc = version >= 3;
    let entry_len = if per_section_crc {
        ENTRY_LEN
    } else {
        ENTRY_LEN_V2
    };
    let f = &model.forest;
    // Serialising plain structs, strings, numbers and `serde_json::Value`
    // (whose map keys are strings) into memory has no failure path.
    let meta = serde_json::to_vec(&model.meta).expect("metadata serialises to JSON");
    let bodies = [
        Body::Bytes(&meta),
        Body::U32(f.tree_offsets()),
        Body::U32(f.feature()),
        Body::F32(f.threshold()),
        Body::U32(f.left()),
        Body::Bytes(f.missing_left()),
        Body::F32(f.values()),
    ];

    let head_len = HEADER_LEN + SECTIONS.len() * entry_len;
    let mut offsets = [0usize; 7];
    let mut end = head_len;
    for (offset, body) in offsets.iter_mut().zip(&bodies) {
        *offset = align_up(end);
        end = *offset + body.len();
    }

    // The bodies go straight into the file, which is allocated once: a
    // large forest is in memory twice while it is written (the model and
    // its bytes), not four times. The header and table follow, once the
    // bodies' CRCs can be read off the file.
    let mut out = Vec::with_capacity(end);
    for (offset, body) in offsets.iter().zip(&bodies) {
        out.resize(*offset, 0);
        body.write_to(&mut out);
    }
    let mut head = Vec::with_capacity(head_len);
    head.extend_from_slice(&MAGIC);
    head.extend_from_slice(&version.to_le_bytes());
    head.extend_from_slice(&(SECTIONS.len() as u16).to_le_bytes());
    head.extend_from_slice(&0u32.to_le_bytes());
    head.extend_from_slice(&(end as u64).to_le_bytes());
    head.extend_from_slice(&0u32.to_le_bytes()); // checksum, filled in below
    head.extend_from_slice(&0u32.to_le_bytes());
    for ((tag, elem), (offset, body)) in SECTIONS.iter().zip(offsets.iter().zip(&bodies)) {
        head.extend_from_slice(*tag);
        head.extend_from_slice(&(*elem as u32).to_le_bytes());
        head.extend_from_slice(&(*offset as u64).to_le_bytes());
        head.extend_from_slice(&(body.len() as u64).to_le_bytes());
        if per_section_crc {
            let crc = crc32fast::hash(&out[*offset..*offset + body.len()]);
            head.extend_from_slice(&crc.to_le_bytes());
            head.extend_from_slice(&0u32.to_le_bytes());
        }
    }
    out[..head_len].copy_from_slice(&head);
    // Version 3 checks the header and table; older versions the whole file.
    let checked = if per_section_crc { head_len } else { end };
    let crc = checksum(&out[..checked]);
    out[CHECKSUM_AT..CHECKSUM_AT + 4].copy_from_slice(&crc.to_le_bytes());
    out
}

/// A section's contents, written little-endian.
enum Body<'a> {
    Bytes(&'a [u8]),
    U32(&'a [u32]),
    /// Through the bit pattern, not the value, so that `-0.0`, subnormals
    /// and infinities come back exactly as the trainer chose them.
    F32(&'a [f32]),
}

impl Body<'_> {
    fn len(&self) -> usize {
        match self {
            Body::Bytes(b) => b.len(),
            Body::U32(xs) => xs.len() * 4,
            Body::F32(xs) => xs.len() * 4,
        }
    }

    fn write_to(&self, out: &mut Vec<u8>) {
        match self {
            Body::Bytes(b) => out.extend_from_slice(b),
            Body::U32(xs) => out.extend(xs.iter().flat_map(|x| x.to_le_bytes())),
            Body::F32(xs) => out.extend(xs.iter().flat_map(|x| x.to_bits().to_le_bytes())),
        }
    }
}

/// CRC-32 (IEEE) over `bytes` (the header and table in version 3, the
/// whole file before) with the checksum field read as zero. `bytes` must be
/// at least a header long.
fn checksum(bytes: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&bytes[..CHECKSUM_AT]);
    h.update(&[0; 4]);
    h.update(&bytes[CHECKSUM_AT + 4..]);
    h.finalize()
}

/// The identity of an artifact: lowercase hex SHA-256 of its bytes. The CRC
/// only guards against accidents; this is what registries and caches key on
/// and what a deployment pins.
pub fn content_hash(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    Sha256::digest(bytes)
        .iter()
        .flat_map(|b| [HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]])
        .map(char::from)
        .collect()
}

/// A bounds-checked little-endian reader, so that no read of a hostile file
/// can index past its end.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn at(bytes: &'a [u8], pos: usize) -> Self {
        Reader { bytes, pos }
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ModelError> {
        let chunk = self
            .pos
            .checked_add(N)
            .and_then(|end| self.bytes.get(self.pos..end))
            .and_then(|s| s.first_chunk::<N>())
            .ok_or_else(|| {
                ModelError::from(ArtifactError::at(
                    self.pos as u64,
                    format!("truncated: no {N} bytes at offset {}", self.pos),
                ))
            })?;
        self.pos += N;
        Ok(*chunk)
    }

    fn u16(&mut self) -> Result<u16, ModelError> {
        self.array().map(u16::from_le_bytes)
    }
    fn u32(&mut self) -> Result<u32, ModelError> {
        self.array().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Result<u64, ModelError> {
        self.array().map(u64::from_le_bytes)
    }
}

/// Parses an artifact, trusting nothing in it.
///
/// Format problems (magic, version, checksum, section table, section
/// lengths, metadata JSON) are [`ModelError::Artifact`]; a well-formed file
/// whose arrays break a forest rule is rejected by [`Forest::new`] or
/// [`Model::new`] with [`ModelError::Invalid`]. Memory use is bounded by a
/// small multiple of `bytes.len()`, whatever the header claims.
pub fn decode(bytes: &[u8]) -> Result<Model, ModelError> {
    let (version, sections) = read_container(bytes)?;

    let meta: Metadata = serde_json::from_slice(sections[META]).map_err(|e| {
        // serde quotes offending values, which may be megabytes long.
        section_error("META", shorten(&e.to_string()))
    })?;
    let tagged = meta
        .features
        .basket
        .as_ref()
        .is_some_and(|b| b.tags.is_some());
    if version == 1 && tagged {
        return Err(section_error(
            "META",
            "a version 1 artifact cannot hold a basket tag model (added in version 2)",
        ));
    }
    if version < 3 && !meta.ensemble.is_average() {
        return Err(section_error(
            "META",
            format!(
                "a version {version} artifact cannot hold an ensemble rule (added in version 3)"
            ),
        ));
    }
    check_vocabularies(&meta)?;
    let n_classes = meta.classes.len();
    let n_features = meta.features.len();

    // FEAT's length (already a whole number of u32s) fixes the node count;
    // every other array must agree before any of them is copied out.
    let n_nodes = sections[FEAT].len() / 4;
    let expect_len = |i: usize, expected: Option<usize>, what: String| {
        let len = sections[i].len();
        if Some(len) == expected {
            Ok(())
        } else {
            Err(section_error(
                tag_name(i),
                format!("length {len} is not {what}"),
            ))
        }
    };
    let per_node = format!("n_nodes {n_nodes} x 4 bytes");
    expect_len(THRS, n_nodes.checked_mul(4), per_node.clone())?;
    expect_len(LEFT, n_nodes.checked_mul(4), per_node)?;
    expect_len(MISS, Some(n_nodes), format!("n_nodes {n_nodes} x 1 byte"))?;
    expect_len(
        VALU,
        n_nodes
            .checked_mul(n_classes)
            .and_then(|n| n.checked_mul(4)),
        format!("n_nodes {n_nodes} x n_classes {n_classes} x 4 bytes"),
    )?;

    let tree_offsets = read_u32s(sections[TOFF]);
    check_tree_offsets(&tree_offsets, n_nodes)?;

    let forest = Forest::new_with(
        ForestParts {
            n_features,
            n_classes,
            tree_offsets,
            feature: read_u32s(sections[FEAT]),
            threshold: read_f32s(sections[THRS]),
            left: read_u32s(sections[LEFT]),
            missing_left: sections[MISS].to_vec(),
            values: read_f32s(sections[VALU]),
        },
        meta.ensemble.clone(),
    )?;
    Model::new(meta, forest)
}

/// Checks the header and the section table and returns each section's bytes,
/// indexed like [`SECTIONS`].
fn read_container(bytes: &[u8]) -> Result<(u16, [&[u8]; 7]), ModelError> {
    let len = bytes.len();
    if !bytes.starts_with(&MAGIC) {
        if len < MAGIC.len() && MAGIC.starts_with(bytes) {
            return Err(artifact_error(format!(
                "truncated: {len} bytes, shorter than the {HEADER_LEN}-byte header"
            )));
        }
        return Err(artifact_error("bad magic: this is not a .forest artifact"));
    }
    // The version is read before anything else is judged: a later version
    // may lay out the rest of the header differently, and its readers
    // deserve "upgrade" rather than "checksum mismatch".
    let mut r = Reader::at(bytes, MAGIC.len());
    let version = r.u16().map_err(|_| truncated_header(len))?;
    if !READABLE_VERSIONS.contains(&version) {
        return Err(artifact_error(format!(
            "unsupported format version {version} (this build reads 1, 2 and 3)"
        )));
    }
    let per_section_crc = version >= 3;
    let entry_len = if per_section_crc {
        ENTRY_LEN
    } else {
        ENTRY_LEN_V2
    };
    if len < HEADER_LEN {
        return Err(truncated_header(len));
    }
    let section_count = r.u16()?;
    let reserved_a = r.u32()?;
    let file_len = r.u64()?;
    let stored = r.u32()?;
    let reserved_b = r.u32()?;
    for (at, value) in [(12, reserved_a), (28, reserved_b)] {
        if value != 0 {
            return Err(ArtifactError::at(
                at as u64,
                format!("reserved header field at offset {at} is 0x{value:08x}, must be 0"),
            )
            .into());
        }
    }
    let table_end = HEADER_LEN + usize::from(section_count) * entry_len;
    let length_problem = || {
        artifact_error(if file_len > len as u64 {
            format!("truncated: the header declares {file_len} bytes, got {len}")
        } else {
            format!(
                "{} trailing bytes after the {file_len} bytes the header declares",
                len as u64 - file_len
            )
        })
    };
    if per_section_crc {
        // The header and the table are checked first, by their own CRC;
        // then each section is located, so that a truncated or damaged
        // file is reported at the section it breaks.
        if table_end > len {
            return Err(artifact_error(format!(
                "truncated: the section table of {section_count} entries runs past the end of \
                 the {len}-byte file (the header declares {file_len})"
            )));
        }
        let computed = checksum(&bytes[..table_end]);
        if stored != computed {
            return Err(artifact_error(format!(
                "header and section table: checksum mismatch: stored 0x{stored:08x}, computed \
                 0x{computed:08x}"
            )));
        }
    } else {
        if file_len != len as u64 {
            return Err(length_problem());
        }
        let computed = checksum(bytes);
        if stored != computed {
            return Err(artifact_error(format!(
                "checksum mismatch: stored 0x{stored:08x}, computed 0x{computed:08x}"
            )));
        }
        // The table size comes from a u16, so it cannot overflow, but it
        // is still checked against the file before a single entry is read.
        if table_end > len {
            return Err(artifact_error(format!(
                "section table of {section_count} entries ({} bytes) runs past the end of the {len}-byte file",
                table_end - HEADER_LEN
            )));
        }
    }

    let mut found: [Option<&[u8]>; 7] = [None; 7];
    let mut last_index: Option<usize> = None;
    // Everything between the table and the first section, between sections
    // and after the last one must be zero, so that no byte of a file goes
    // unchecked: stray data is a sign of a buggy writer or of tampering.
    let mut covered_to = table_end;
    let mut r = Reader::at(bytes, HEADER_LEN);
    for _ in 0..section_count {
        let tag: [u8; 4] = r.array()?;
        let elem_code = r.u32()?;
        let offset = r.u64()?;
        let length = r.u64()?;
        let section_crc = if per_section_crc {
            let crc = r.u32()?;
            if r.u32()? != 0 {
                return Err(artifact_error(format!(
                    "section table entry \"{}\": the reserved field must be 0",
                    tag.escape_ascii()
                )));
            }
            Some(crc)
        } else {
            None
        };

        let index = SECTIONS
            .iter()
            .position(|(t, _)| **t == tag)
            .ok_or_else(|| {
                artifact_error(format!("unknown section tag \"{}\"", tag.escape_ascii()))
            })?;
        let name = tag_name(index);
        if found[index].is_some() {
            return Err(artifact_error(format!("duplicate section {name}")));
        }
        if let Some(last) = last_index {
            if index < last {
                return Err(artifact_error(format!(
                    "section {name} comes after {}; the order is {}",
                    tag_name(last),
                    section_order()
                )));
            }
        }
        last_index = Some(index);

        let expected = SECTIONS[index].1;
        if Elem::from_code(elem_code) != Some(expected) {
            return Err(section_error(
                name,
                format!(
                    "element type {elem_code}, expected {} ({})",
                    expected as u32,
                    expected.name()
                ),
            ));
        }
        if offset % ALIGN as u64 != 0 {
            return Err(ModelError::from(
                ArtifactError::section(
                    name,
                    format!("offset {offset} is not a multiple of {ALIGN}"),
                )
                .with_offset(offset),
            ));
        }
        if offset < covered_to as u64 {
            return Err(ModelError::from(
                ArtifactError::section(
                    name,
                    format!(
                        "offset {offset} overlaps the bytes before it, which run to {covered_to}"
                    ),
                )
                .with_offset(offset),
            ));
        }
        let end = offset.checked_add(length).filter(|&e| e <= len as u64);
        let Some(end) = end else {
            let truncated = if per_section_crc && file_len > len as u64 {
                format!("truncated: the header declares {file_len} bytes, got {len}; ")
            } else {
                String::new()
            };
            return Err(ModelError::from(
                ArtifactError::section(
                    name,
                    format!(
                        "{truncated}{length} bytes at offset {offset} run past the end of the {len}-byte file"
                    ),
                )
                .with_offset(offset),
            ));
        };
        // Both fit in usize now: they are at most `len`.
        let (start, end) = (offset as usize, end as usize);
        if (end - start) % expected.size() != 0 {
            return Err(section_error(
                name,
                format!(
                    "length {length} is not a multiple of {} bytes",
                    expected.size()
                ),
            ));
        }
        check_zero(bytes, covered_to, start)?;
        if let Some(stored) = section_crc {
            let computed = crc32fast::hash(&bytes[start..end]);
            if stored != computed {
                return Err(ModelError::from(
                    ArtifactError::section(
                        name,
                        format!(
                            "checksum mismatch: stored 0x{stored:08x}, computed 0x{computed:08x}: \
                             its bytes are damaged"
                        ),
                    )
                    .with_offset(offset),
                ));
            }
        }
        found[index] = Some(&bytes[start..end]);
        covered_to = end;
    }
    if per_section_crc && file_len != len as u64 {
        return Err(length_problem());
    }
    check_zero(bytes, covered_to, len)?;

    let mut sections: [&[u8]; 7] = [&[]; 7];
    for (i, (slot, section)) in sections.iter_mut().zip(found).enumerate() {
        *slot =
            section.ok_or_else(|| artifact_error(format!("missing section {}", tag_name(i))))?;
    }
    Ok((version, sections))
}

fn truncated_header(len: usize) -> ModelError {
    artifact_error(format!(
        "truncated: {len} bytes, shorter than the {HEADER_LEN}-byte header"
    ))
}

fn section_order() -> String {
    (0..SECTIONS.len())
        .map(tag_name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `from..to` must be in bounds and `from <= to`.
fn check_zero(bytes: &[u8], from: usize, to: usize) -> Result<(), ModelError> {
    match bytes[from..to].iter().position(|&b| b != 0) {
        None => Ok(()),
        Some(i) => Err(ArtifactError::at(
            (from + i) as u64,
            format!(
                "non-zero byte 0x{:02x} at offset {} outside every section",
                bytes[from + i],
                from + i
            ),
        )
        .into()),
    }
}

fn read_u32s(bytes: &[u8]) -> Vec<u32> {
    bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn read_f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_bits(u32::from_le_bytes([c[0], c[1], c[2], c[3]])))
        .collect()
}

/// [`Forest::new`] walks each tree's node range as soon as it reaches that
/// tree, before it has seen the later offsets, so offsets such as
/// `[0, 10, 5]` with five nodes would send it past the end of the arrays.
/// Checking them here first keeps hostile files on the error path.
fn check_tree_offsets(offsets: &[u32], n_nodes: usize) -> Result<(), ModelError> {
    if offsets.len() < 2 {
        return Err(section_error(
            "TOFF",
            format!("{} entries, a forest needs n_trees + 1 >= 2", offsets.len()),
        ));
    }
    if offsets[0] != 0 {
        return Err(section_error(
            "TOFF",
            format!("the first tree starts at {}, not 0", offsets[0]),
        ));
    }
    for (t, w) in offsets.windows(2).enumerate() {
        if w[1] <= w[0] {
            return Err(section_error(
                "TOFF",
                format!(
                    "tree {t} runs from {} to {}, offsets must increase",
                    w[0], w[1]
                ),
            ));
        }
    }
    let last = offsets[offsets.len() - 1];
    if last as usize != n_nodes {
        return Err(section_error(
            "TOFF",
            format!("the trees end at {last}, but there are n_nodes {n_nodes}"),
        ));
    }
    Ok(())
}

/// Categorical codes are positions found by binary search, so a vocabulary
/// out of order would encode inputs differently from the trainer without any
/// error. [`FeatureDef::categorical`](crate::FeatureDef::categorical) always
/// sorts; a file that does not is damaged or hand-made.
fn check_vocabularies(meta: &Metadata) -> Result<(), ModelError> {
    for def in &meta.features.features {
        if let FeatureKind::Categorical { vocabulary } = &def.kind {
            if vocabulary.windows(2).any(|w| w[0] >= w[1]) {
                return Err(section_error(
                    "META",
                    format!(
                        "the vocabulary of feature '{}' is not sorted and free of duplicates",
                        shorten(&def.name)
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Rewrites the length field and the checksums of bytes that were edited on
/// purpose, so that the edit reaches the checks behind the checksums: in
/// version 3 each section's CRC (of whatever bytes its entry names, where
/// they lie in the file) and the header's; before, the whole file's. For
/// tests and fuzzing that damage artifacts deliberately; it repairs
/// nothing (a damaged file stays damaged, only its checksums agree).
pub fn reseal(bytes: &mut [u8]) {
    if bytes.len() < HEADER_LEN {
        return;
    }
    let len = bytes.len() as u64;
    bytes[16..24].copy_from_slice(&len.to_le_bytes());
    let version = u16::from_le_bytes([bytes[8], bytes[9]]);
    if version < 3 {
        let crc = checksum(bytes);
        bytes[CHECKSUM_AT..CHECKSUM_AT + 4].copy_from_slice(&crc.to_le_bytes());
        return;
    }
    let count = usize::from(u16::from_le_bytes([bytes[10], bytes[11]]));
    let table_end = (HEADER_LEN + count * ENTRY_LEN).min(bytes.len());
    for entry in (HEADER_LEN..table_end).step_by(ENTRY_LEN) {
        if entry + ENTRY_LEN > bytes.len() {
            break;
        }
        let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
        let (offset, length) = (word(entry + 8), word(entry + 16));
        if let Some(body) = offset
            .checked_add(length)
            .filter(|&end| end <= len)
            .map(|end| &bytes[offset as usize..end as usize])
        {
            let crc = crc32fast::hash(body);
            bytes[entry + 24..entry + 28].copy_from_slice(&crc.to_le_bytes());
        }
    }
    let crc = checksum(&bytes[..table_end]);
    bytes[CHECKSUM_AT..CHECKSUM_AT + 4].copy_from_slice(&crc.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feature::{FeatureDef, FeatureSpec};
    use crate::forest::Node;
    use crate::model::TrainingInfo;

    /// Same shape as the forest module's test tree, with a negative-zero and
    /// an infinite split threshold.
    fn small_model() -> Model {
        let tree = vec![
            Node {
                feature: 0,
                threshold: -0.0,
                left: 1,
                missing_left: false,
                value: vec![0.5, 0.5],
            },
            Node::leaf(1, vec![1.0, 0.0]),
            Node {
                feature: 1,
                threshold: f32::NEG_INFINITY,
                left: 3,
                missing_left: true,
                value: vec![0.25, 0.75],
            },
            Node::leaf(3, vec![0.0, 1.0]),
            Node::leaf(4, vec![0.5, 0.5]),
        ];
        let stump = vec![Node::leaf(0, vec![0.3, 0.7])];
        let forest = Forest::from_trees(2, 2, &[tree, stump]).unwrap();
        let meta = Metadata {
            label: "responds".into(),
            classes: vec!["no".into(), "yes".into()],
            features: FeatureSpec {
                features: vec![
                    FeatureDef::numeric("discount"),
                    FeatureDef::categorical("region", ["W01".into(), "E02".into()]),
                ],
                basket: None,
            },
            params: serde_json::json!({"n_trees": 2, "max_depth": null}),
            training: TrainingInfo {
                source: "s3://bucket/train.parquet".into(),
                rows: 1234,
                fingerprint: "ab".repeat(32),
            },
            metrics: serde_json::json!({"oob_accuracy": 0.8125}),
            feature_importance: vec![0.7, 0.3],
            tree_seeds: vec![1, u64::MAX],
            trainer: "forest-train 0.1.0".into(),
            git_revision: Some("b9997a1".into()),
            ensemble: Default::default(),
            training_distribution: None,
        };
        Model::new(meta, forest).unwrap()
    }

    fn section_entry(bytes: &[u8], tag: &[u8; 4]) -> usize {
        (0..7)
            .map(|i| HEADER_LEN + i * ENTRY_LEN)
            .find(|&at| &bytes[at..at + 4] == tag)
            .unwrap()
    }

    fn set_u64(bytes: &mut [u8], at: usize, v: u64) {
        bytes[at..at + 8].copy_from_slice(&v.to_le_bytes());
    }

    fn artifact_err(bytes: &[u8]) -> String {
        match decode(bytes) {
            Err(ModelError::Artifact(e)) => e.to_string(),
            other => panic!("expected an artifact error, got {other:?}"),
        }
    }

    #[test]
    fn round_trips_bit_exactly() {
        let model = small_model();
        let bytes = encode(&model);
        assert_eq!(bytes, encode(&model), "encoding is deterministic");
        assert_eq!(&bytes[..8], b"\x89FOREST\n");
        assert_eq!(
            bytes.len() as u64,
            u64::from_le_bytes(bytes[16..24].try_into().unwrap())
        );
        let back = decode(&bytes).unwrap();
        assert_eq!(back, model);
        assert_eq!(back.forest.threshold()[0].to_bits(), (-0.0f32).to_bits());
        assert_eq!(encode(&back), bytes);
    }

    #[test]
    fn metadata_floats_round_trip_bit_exactly() {
        // serde_json's default float parser reads the shortest decimal of
        // these f64s back one ULP off; the `float_roundtrip` feature fixes
        // that. Without it, re-encoding a decoded model changes its bytes.
        let awkward = [0.9341615675391823, 0.12014217837267427];
        let mut model = small_model();
        model.meta.feature_importance = awkward.to_vec();
        model.meta.metrics = serde_json::json!({"oob": awkward[1]});
        let back = decode(&encode(&model)).unwrap();
        let bits = |xs: &[f64]| xs.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&back.meta.feature_importance), bits(&awkward));
        assert_eq!(back.meta.metrics, model.meta.metrics);
    }

    #[test]
    fn sections_are_aligned_and_in_order() {
        let bytes = encode(&small_model());
        let mut prev_end = HEADER_LEN + 7 * ENTRY_LEN;
        for (tag, elem) in SECTIONS {
            let at = section_entry(&bytes, tag);
            let code = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap());
            let offset = u64::from_le_bytes(bytes[at + 8..at + 16].try_into().unwrap()) as usize;
            let length = u64::from_le_bytes(bytes[at + 16..at + 24].try_into().unwrap()) as usize;
            assert_eq!(code, elem as u32);
            assert_eq!(offset % 8, 0);
            assert_eq!(offset, align_up(prev_end));
            prev_end = offset + length;
        }
        assert_eq!(prev_end, bytes.len());
    }

    /// The worked example at the end of docs/FORMAT.md; if this fails, the
    /// format (or the metadata's JSON) changed and the page must follow.
    #[test]
    fn worked_example_in_format_md_is_accurate() {
        let tree = vec![
            Node {
                feature: 0,
                threshold: 0.5,
                left: 1,
                missing_left: false,
                value: vec![0.5, 0.5],
            },
            Node::leaf(1, vec![1.0, 0.0]),
            Node::leaf(2, vec![0.0, 1.0]),
        ];
        let meta = Metadata {
            label: "buys".into(),
            classes: vec!["no".into(), "yes".into()],
            features: FeatureSpec {
                features: vec![FeatureDef::numeric("discount")],
                basket: None,
            },
            params: serde_json::json!({"n_trees": 1}),
            training: TrainingInfo {
                source: "train.csv".into(),
                rows: 4,
                fingerprint: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
                    .into(),
            },
            metrics: serde_json::json!({}),
            feature_importance: vec![1.0],
            tree_seeds: vec![42],
            trainer: "forest-train 0.1.0".into(),
            git_revision: None,
            ensemble: Default::default(),
            training_distribution: None,
        };
        let forest = Forest::from_trees(1, 2, &[tree]).unwrap();
        let bytes = encode(&Model::new(meta, forest).unwrap());
        // FOREST_WORKED_EXAMPLE=path writes the bytes, for FORMAT.md's dump.
        if let Some(path) = std::env::var_os("FOREST_WORKED_EXAMPLE") {
            std::fs::write(path, &bytes).unwrap();
        }
        assert_eq!(bytes.len(), 688);
        assert_eq!(&bytes[24..28], &[0x69, 0x9b, 0xf9, 0x9e]);
        // META's own CRC-32, in its table entry.
        assert_eq!(&bytes[0x38..0x3c], &[0xbf, 0x34, 0xe9, 0x6c]);
        assert_eq!(
            content_hash(&bytes),
            "def745a38bd8e438451b3351c3b67c38551aa7fcae1dd1b8f4c65f2baef48265"
        );
        assert_eq!(
            &bytes[0x258..],
            &[
                0, 0, 0, 0, 3, 0, 0, 0, // TOFF
                0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // FEAT
                0, 0, 0, 0, // padding
                0, 0, 0, 0x3f, 0, 0, 0x80, 0x7f, 0, 0, 0x80, 0x7f, // THRS
                0, 0, 0, 0, // padding
                1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, // LEFT
                0, 0, 0, 0, // padding
                0, 1, 1, // MISS
                0, 0, 0, 0, 0, // padding
                0, 0, 0, 0x3f, 0, 0, 0, 0x3f, 0, 0, 0x80, 0x3f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80,
                0x3f, // VALU
            ][..]
        );
        // The checksum is the standard CRC-32.
        assert_eq!(crc32fast::hash(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn content_hash_is_lowercase_sha256() {
        assert_eq!(
            content_hash(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let bytes = encode(&small_model());
        assert_eq!(content_hash(&bytes), content_hash(&encode(&small_model())));
    }

    #[test]
    fn rejects_foreign_and_short_files() {
        assert!(artifact_err(b"").starts_with("truncated"));
        assert!(artifact_err(b"\x89FOR").starts_with("truncated"));
        assert!(artifact_err(b"PAR1....").starts_with("bad magic"));
        let bytes = encode(&small_model());
        let mut png = bytes.clone();
        png[1..4].copy_from_slice(b"PNG");
        assert!(artifact_err(&png).starts_with("bad magic"));
        assert!(artifact_err(&bytes[..20]).starts_with("truncated"));
    }

    #[test]
    fn reads_version_1_files_and_refuses_tag_models_in_them() {
        let model = small_model();
        assert_eq!(
            u16::from_le_bytes([encode(&model)[8], encode(&model)[9]]),
            3
        );
        for version in [1, 2] {
            let old = encode_as(&model, version);
            assert_eq!(decode(&old).unwrap(), model, "version {version}");
            // One CRC over the whole file: a flipped bit anywhere is a
            // mismatch, but it cannot say where.
            let mut flipped = old.clone();
            let last = flipped.len() - 1;
            flipped[last] ^= 1;
            assert!(artifact_err(&flipped).starts_with("checksum mismatch"));
        }

        // A tag model is version 2's: the same file declaring version 1 is
        // refused before the spec is judged at all.
        let mut tagged = small_model();
        tagged.meta.features.basket = Some(crate::priors::BasketPriors {
            global: vec![0.5, 0.5],
            smoothing: 1.0,
            global_log_price: 0.0,
            levels: vec![],
            tags: Some(crate::tags::TagModel {
                threshold: 0.2,
                global: vec![0.25, 0.5, 0.25],
                segments: vec![],
                segment_likelihood: vec![],
            }),
        });
        let err = artifact_err(&encode_as(&tagged, 1));
        assert!(
            err.contains("version 1") && err.contains("tag model"),
            "{err}"
        );
        // An ensemble rule is version 3's.
        let mut boosted = small_model();
        let sum = crate::ensemble::Ensemble::Sum(crate::ensemble::Sum {
            base: vec![0.0, 0.0],
            divisor: 1.0,
            precision: crate::ensemble::Precision::F32BaseLast,
            link: crate::ensemble::Link::Complement,
        });
        boosted.meta.ensemble = sum.clone();
        boosted.forest = Forest::new_with(boosted.forest.parts(), sum).unwrap();
        assert_eq!(decode(&encode(&boosted)).unwrap(), boosted);
        let err = artifact_err(&encode_as(&boosted, 2));
        assert!(
            err.contains("version 2") && err.contains("ensemble"),
            "{err}"
        );
    }

    #[test]
    fn rejects_other_versions_before_anything_else() {
        let mut bytes = encode(&small_model());
        bytes[8..10].copy_from_slice(&7u16.to_le_bytes());
        bytes.truncate(12); // even a short file names its version
        assert_eq!(
            artifact_err(&bytes),
            "unsupported format version 7 (this build reads 1, 2 and 3)"
        );
    }

    #[test]
    fn rejects_bad_checksums_naming_the_section() {
        let bytes = encode(&small_model());
        // A flipped bit in the last section, in the first, and in the
        // section table: each is reported where it is.
        let mut last = bytes.clone();
        let at = last.len() - 1;
        last[at] ^= 1;
        let msg = artifact_err(&last);
        assert!(
            msg.starts_with("section VALU: checksum mismatch: stored 0x"),
            "{msg}"
        );
        assert!(msg.contains(", computed 0x"), "{msg}");
        let meta_at = HEADER_LEN + SECTIONS.len() * ENTRY_LEN + 2;
        let mut meta = bytes.clone();
        meta[meta_at] ^= 0x20;
        assert!(artifact_err(&meta).starts_with("section META: checksum mismatch"));
        let mut table = bytes.clone();
        table[HEADER_LEN + 9] ^= 1;
        assert!(artifact_err(&table).starts_with("header and section table: checksum mismatch"));
    }

    #[test]
    fn rejects_truncation_and_trailing_bytes() {
        let bytes = encode(&small_model());
        let msg = artifact_err(&bytes[..bytes.len() - 3]);
        assert!(
            msg.starts_with("section VALU: truncated: the header declares"),
            "{msg}"
        );
        let msg = artifact_err(&bytes[..HEADER_LEN + 40]);
        assert!(msg.starts_with("truncated: the section table"), "{msg}");
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(artifact_err(&longer).contains("1 trailing bytes"));
    }

    #[test]
    fn rejects_non_zero_reserved_fields() {
        for at in [12, 28] {
            let mut bytes = encode(&small_model());
            bytes[at] = 1;
            reseal(&mut bytes);
            let msg = artifact_err(&bytes);
            assert!(msg.contains(&format!("offset {at}")), "{msg}");
        }
    }

    #[test]
    fn rejects_a_table_larger_than_the_file() {
        let mut bytes = encode(&small_model());
        bytes[10..12].copy_from_slice(&u16::MAX.to_le_bytes());
        bytes.truncate(100);
        reseal(&mut bytes);
        let msg = artifact_err(&bytes);
        assert!(
            msg.contains("65535 entries") && msg.contains("100-byte file"),
            "{msg}"
        );
    }

    #[test]
    fn rejects_section_lengths_that_disagree() {
        // VALU two numbers short: 5 nodes x 2 classes needs 40 bytes.
        let model = small_model();
        let mut parts = vec![];
        for tag in [b"VALU", b"THRS", b"MISS"] {
            let mut bytes = encode(&model);
            let at = section_entry(&bytes, tag);
            let offset = u64::from_le_bytes(bytes[at + 8..at + 16].try_into().unwrap()) as usize;
            let len = u64::from_le_bytes(bytes[at + 16..at + 24].try_into().unwrap()) as usize;
            let shrink = if tag == b"MISS" { 1 } else { 8 };
            set_u64(&mut bytes, at + 16, (len - shrink) as u64);
            // The bytes cut off the section must read as padding.
            bytes[offset + len - shrink..offset + len].fill(0);
            reseal(&mut bytes);
            parts.push(artifact_err(&bytes));
        }
        assert_eq!(
            parts[0],
            "section VALU: length 40 is not n_nodes 6 x n_classes 2 x 4 bytes"
        );
        assert_eq!(
            parts[1],
            "section THRS: length 16 is not n_nodes 6 x 4 bytes"
        );
        assert_eq!(parts[2], "section MISS: length 5 is not n_nodes 6 x 1 byte");
    }

    #[test]
    fn rejects_sections_outside_the_file_or_misplaced() {
        let model = small_model();
        let at = section_entry(&encode(&model), b"FEAT");
        let cases: [(u64, u64, &str); 4] = [
            (u64::MAX - 7, 8, "run past the end"),
            (8, 4, "overlaps"),
            (1 << 40, u64::MAX, "run past the end"),
            (3, 0, "not a multiple of 8"),
        ];
        for (offset, length, want) in cases {
            let mut bytes = encode(&model);
            set_u64(&mut bytes, at + 8, offset);
            set_u64(&mut bytes, at + 16, length);
            reseal(&mut bytes);
            let msg = artifact_err(&bytes);
            assert!(
                msg.starts_with("section FEAT") && msg.contains(want),
                "{msg}"
            );
        }
    }

    #[test]
    fn rejects_unknown_duplicate_missing_and_reordered_sections() {
        let model = small_model();
        let table = |bytes: &mut Vec<u8>, i: usize, tag: &[u8; 4]| {
            let at = HEADER_LEN + i * ENTRY_LEN;
            bytes[at..at + 4].copy_from_slice(tag);
            reseal(bytes);
        };
        let mut bytes = encode(&model);
        table(&mut bytes, 3, b"XTRA");
        assert_eq!(artifact_err(&bytes), "unknown section tag \"XTRA\"");

        let mut bytes = encode(&model);
        table(&mut bytes, 2, b"TOFF");
        assert_eq!(artifact_err(&bytes), "duplicate section TOFF");

        let mut bytes = encode(&model);
        table(&mut bytes, 1, b"FEAT");
        table(&mut bytes, 2, b"TOFF");
        assert!(artifact_err(&bytes).starts_with("section TOFF comes after FEAT"));

        // Dropping the last entry leaves zeros where it was, and the file
        // ends where VALU's data began.
        let mut bytes = encode(&model);
        bytes[10..12].copy_from_slice(&6u16.to_le_bytes());
        let at = section_entry(&bytes, b"VALU");
        let valu = u64::from_le_bytes(bytes[at + 8..at + 16].try_into().unwrap()) as usize;
        bytes[at..at + ENTRY_LEN].fill(0);
        bytes.truncate(valu);
        reseal(&mut bytes);
        assert_eq!(artifact_err(&bytes), "missing section VALU");
    }

    #[test]
    fn rejects_element_type_mismatch_and_stray_bytes() {
        let model = small_model();
        let mut bytes = encode(&model);
        let at = section_entry(&bytes, b"THRS");
        bytes[at + 4..at + 8].copy_from_slice(&2u32.to_le_bytes());
        reseal(&mut bytes);
        assert_eq!(
            artifact_err(&bytes),
            "section THRS: element type 2, expected 3 (f32)"
        );

        let mut bytes = encode(&model);
        let end = bytes.len();
        bytes.push(0);
        reseal(&mut bytes);
        assert!(
            decode(&bytes).is_ok(),
            "zero padding after the last section is allowed"
        );
        bytes[end] = 0xff;
        reseal(&mut bytes);
        assert_eq!(
            artifact_err(&bytes),
            format!("non-zero byte 0xff at offset {end} outside every section")
        );
    }

    #[test]
    fn rejects_bad_metadata() {
        let model = small_model();
        let mut bytes = encode(&model);
        let at = section_entry(&bytes, b"META");
        let offset = u64::from_le_bytes(bytes[at + 8..at + 16].try_into().unwrap()) as usize;
        bytes[offset] = b'[';
        reseal(&mut bytes);
        assert!(artifact_err(&bytes).starts_with("section META: "));

        let mut unsorted = model.clone();
        unsorted.meta.features.features[1].kind = FeatureKind::Categorical {
            vocabulary: vec!["b".into(), "a".into()],
        };
        let msg = artifact_err(&encode(&unsorted));
        assert!(msg.contains("vocabulary of feature 'region'"), "{msg}");

        // Three classes in the metadata, two per node in VALU.
        let mut three = model.clone();
        three.meta.classes.push("maybe".into());
        let msg = artifact_err(&encode(&three));
        assert_eq!(
            msg,
            "section VALU: length 48 is not n_nodes 6 x n_classes 3 x 4 bytes"
        );
    }

    #[test]
    fn rejects_tree_offsets_that_overrun_before_forest_checks_run() {
        // Tree 0 claims 10 of the 6 nodes, and its last leaf becomes a split
        // whose children are 5 and 6. Handed to `Forest::new` unchecked, the
        // tree-by-tree walk would index node 6 before it ever saw that tree
        // 1 ends at 6: a panic, not an error.
        let mut bytes = encode(&small_model());
        let array_at = |bytes: &[u8], tag: &[u8; 4]| {
            let at = section_entry(bytes, tag);
            u64::from_le_bytes(bytes[at + 8..at + 16].try_into().unwrap()) as usize
        };
        let toff = array_at(&bytes, b"TOFF");
        let left = array_at(&bytes, b"LEFT");
        bytes[toff + 4..toff + 8].copy_from_slice(&10u32.to_le_bytes());
        bytes[left + 16..left + 20].copy_from_slice(&5u32.to_le_bytes());
        bytes[left + 20..left + 24].copy_from_slice(&5u32.to_le_bytes());
        reseal(&mut bytes);
        let msg = artifact_err(&bytes);
        assert!(
            msg.starts_with("section TOFF: tree 1 runs from 10 to 6"),
            "{msg}"
        );
    }

    #[test]
    fn structural_errors_come_from_the_forest_checks() {
        let mut bytes = encode(&small_model());
        let at = section_entry(&bytes, b"LEFT");
        let offset = u64::from_le_bytes(bytes[at + 8..at + 16].try_into().unwrap()) as usize;
        bytes[offset..offset + 4].copy_from_slice(&0u32.to_le_bytes()); // root becomes a leaf
        reseal(&mut bytes);
        assert!(matches!(decode(&bytes), Err(ModelError::Invalid(_))));
    }
}
