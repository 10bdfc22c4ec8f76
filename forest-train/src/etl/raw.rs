//! Raw weekly transaction files: the 22-column dunnhumby layout, parsed into
//! typed line items (straight into the silver columns, a
//! [`super::lines::Lines`] table), with every line that cannot be parsed kept as a
//! [`Reject`] that says why. Nothing is dropped silently: for every file,
//! data lines = parsed lines + rejected lines.

use std::ops::Range;

use csv::{ByteRecord, ReaderBuilder};
use forest_core::shorten;

pub use super::lines::RAW_COLUMNS;
use super::lines::{Line, Lines, LinesBuilder};

/// Labels a basket may carry; `XX` means unclassified.
pub const LABELS: [&str; 4] = ["LA", "MM", "UM", "XX"];

/// The longest field a line may hold. Real values are codes and short
/// words (at most 20 bytes or so); a longer field is corruption, and
/// letting it through would carry it into the feature spec's vocabularies
/// and priors, and so into every model artifact.
pub const MAX_FIELD_BYTES: usize = 256;

/// A line that did not make it into silver, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Reject {
    /// The raw file the line is in.
    pub file: String,
    /// 1-based line number in the file (0 for a problem with the whole file).
    pub line: u64,
    /// Why the line was rejected, naming the column when one field is at fault.
    pub reason: String,
    /// The whole line as text (bytes that are not UTF-8 replaced by U+FFFD;
    /// the original file is kept in the lake's `raw/`).
    pub raw: String,
}

/// The outcome of parsing one raw file.
#[derive(Debug, Default, PartialEq)]
pub struct ParsedFile {
    /// The data lines that parsed, in file order.
    pub lines: Lines,
    /// Data lines that could not be parsed.
    pub rejects: Vec<Reject>,
    /// Problems of the file as a whole that no data line carries (an empty
    /// file, a bad header over no data): reported, but not rows.
    pub problems: Vec<Reject>,
    /// Data lines read (header excluded): always `lines.len() + rejects.len()`.
    pub input_rows: u64,
}

/// Files are cut into pieces of about this size, parsed in parallel: one
/// week's file then keeps every core busy.
const CHUNK_BYTES: usize = 256 * 1024;

/// The largest raw file parsed: a silver text column addresses at most
/// 2 GiB (Arrow's 32-bit offsets). Larger files are refused whole, with
/// that reason (and so is a smaller one whose column of file names would
/// pass the limit).
pub const MAX_FILE_BYTES: usize = i32::MAX as usize;

/// Parses the bytes of one raw weekly file named `file`.
///
/// The body is cut at record boundaries into pieces of about
/// 256 KiB, parsed in parallel and joined in order: the same lines,
/// rejects and line numbers as one pass over the file (a property test and
/// the `csv_file` fuzz target hold it to that).
pub fn parse_raw(file: &str, bytes: &[u8]) -> ParsedFile {
    parse_raw_in_chunks(file, bytes, CHUNK_BYTES)
}

/// [`parse_raw`] in one piece: for a caller that already parses as many
/// files at once as it has threads, where pieces would only add the cost
/// of joining their columns (a copy of every line: on 52 synthetic weeks,
/// 2 threads, lake on tmpfs, the ETL took 1.76-1.80 s against 1.81-2.02 s
/// with pieces, as docs/benchmarks.md reports).
pub fn parse_raw_whole(file: &str, bytes: &[u8]) -> ParsedFile {
    parse_raw_in_chunks(file, bytes, usize::MAX)
}

/// [`parse_raw`] with pieces of about `chunk_bytes` (at least one record
/// each), for the tests that hold chunked parsing to one pass.
pub fn parse_raw_in_chunks(file: &str, bytes: &[u8], chunk_bytes: usize) -> ParsedFile {
    parse(file, bytes, chunk_bytes, Records::SplitPlainLines)
}

/// [`parse_raw`] in one piece with every record read by the csv reader: the
/// reference that the splitting of plain lines is held to (a property
/// test, and the `csv_file` fuzz target).
pub fn parse_raw_by_reader(file: &str, bytes: &[u8]) -> ParsedFile {
    parse(file, bytes, usize::MAX, Records::ReaderOnly)
}

fn parse(file: &str, bytes: &[u8], chunk_bytes: usize, records: Records) -> ParsedFile {
    use rayon::prelude::*;
    let mut out = ParsedFile::default();
    if bytes.len() > MAX_FILE_BYTES {
        return too_large(file, bytes.len(), "more than MAX_FILE_BYTES");
    }
    let mut reader = raw_reader(bytes);
    let mut record = ByteRecord::new();
    let header_problem = match reader.read_byte_record(&mut record) {
        Ok(false) => {
            out.problems.push(Reject {
                file: file.into(),
                line: 0,
                reason: "empty file: no header line".into(),
                raw: String::new(),
            });
            return out;
        }
        Ok(true) => check_header(&record),
        Err(e) => Some(format!("unreadable header: {e}")),
    };
    // Where the reader stands after the header: a fresh reader started
    // here reads the same records.
    let body = (reader.position().byte() as usize).min(bytes.len());
    let pieces = record_aligned_pieces(bytes, body, chunk_bytes);
    let parsed: Vec<ParsedFile> = pieces
        .into_par_iter()
        .map(|piece| parse_piece(file, bytes, piece, header_problem.as_deref(), records))
        .collect();
    let mut tables = Vec::with_capacity(parsed.len());
    for piece in parsed {
        out.input_rows += piece.input_rows;
        tables.push(piece.lines);
        out.rejects.extend(piece.rejects);
        out.problems.extend(piece.problems);
    }
    out.lines = match Lines::concat(&tables) {
        Ok(lines) => lines,
        // Only a column past 2 GiB fails to join: the file's name written on
        // each of tens of millions of lines. Refused whole, like a file too
        // large.
        Err(why) => return too_large(file, bytes.len(), &why),
    };
    if let Some(problem) = &header_problem {
        if out.input_rows == 0 {
            out.problems.push(Reject {
                file: file.into(),
                line: 1,
                reason: format!("file header: {problem}"),
                raw: raw_text(record.iter()),
            });
        }
    }
    out
}

/// A file refused whole: more than a silver part can hold.
fn too_large(file: &str, len: usize, why: &str) -> ParsedFile {
    ParsedFile {
        problems: vec![Reject {
            file: file.into(),
            line: 0,
            reason: format!(
                "a file of {len} bytes, more than a silver part can hold ({why}): split it \
                 (by week or by store)"
            ),
            raw: String::new(),
        }],
        ..ParsedFile::default()
    }
}

/// How raw files are read: no header handling (the first record is checked
/// by hand), and ragged lines become rejects, not a failure of the file.
fn raw_reader(bytes: &[u8]) -> csv::Reader<&[u8]> {
    ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes)
}

/// A piece of the body: its byte range and the line count before it.
struct Piece {
    range: std::ops::Range<usize>,
    counter: LineCounter,
}

/// Cuts `bytes[body..]` into pieces of about `chunk_bytes`, each ending
/// where a record does. Where records end is decided by the CSV grammar
/// the reader follows (a line break inside a quoted field does not end a
/// record; a quote opens a quoted field only at the start of a field, and
/// inside an unquoted one is a plain byte), walked once over the body from
/// one quote or line break to the next (SIMD search: a byte-at-a-time walk
/// cost 5% of the ETL); the line count at each cut is taken on the way.
fn record_aligned_pieces(bytes: &[u8], body: usize, chunk_bytes: usize) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut counter = LineCounter::new();
    counter.advance_to(bytes, body);
    let mut start = body;
    let mut i = body;
    while let Some(found) = memchr::memchr3(b'"', b'\n', b'\r', &bytes[i..]) {
        let at = i + found;
        if bytes[at] == b'"' {
            let field_start = at == body || matches!(bytes[at - 1], b',' | b'\r' | b'\n');
            i = at + 1;
            if field_start {
                // A quoted field: to its closing quote, over doubled ones.
                loop {
                    match memchr::memchr(b'"', &bytes[i..]) {
                        None => i = bytes.len(),
                        Some(q) if bytes.get(i + q + 1) == Some(&b'"') => {
                            i += q + 2;
                            continue;
                        }
                        Some(q) => i += q + 1,
                    }
                    break;
                }
            }
            continue;
        }
        // A line break ends the record.
        i = at + 1;
        if i - start >= chunk_bytes {
            // A "\r\n" stays whole.
            if bytes[at] == b'\r' && bytes.get(i) == Some(&b'\n') {
                i += 1;
            }
            pieces.push(Piece {
                range: start..i,
                counter,
            });
            counter.advance_to(bytes, i);
            start = i;
        }
    }
    if start < bytes.len() || pieces.is_empty() {
        pieces.push(Piece {
            range: start..bytes.len(),
            counter,
        });
    }
    pieces
}

/// How a piece's records are found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Records {
    /// A line without a quote is split at its commas where it lies, which
    /// is all the csv reader would do with it; a line with a quote (which
    /// may open a quoted field, and that may run over line breaks) goes
    /// through the reader. On 52 synthetic weeks the reader's state
    /// machine was a tenth of the ETL's instructions (callgrind).
    SplitPlainLines,
    /// Every record through one csv reader over the piece: the reference
    /// the split is held to ([`parse_raw_by_reader`]).
    ReaderOnly,
}

/// One record's fields: the bytes they lie in and each field's range in
/// them (the csv reader's record keeps its fields end to end; a plain line
/// keeps them where they are, between its commas).
struct Fields<'a> {
    text: &'a [u8],
    ranges: &'a [Range<usize>],
}

impl<'a> Fields<'a> {
    fn iter(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        self.ranges.iter().map(|r| &self.text[r.clone()])
    }
}

/// The ranges of `line`'s fields, split at every comma, into `ranges`.
///
/// Eight bytes at a time: a line's commas are a byte in seven, too dense
/// for `memchr`'s search, which starts over after each one (on 52 synthetic
/// weeks `memchr_iter` cost 5% of the ETL's instructions, callgrind).
fn split_at_commas(line: &[u8], ranges: &mut Vec<Range<usize>>) {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const COMMAS: u64 = u64::from_ne_bytes([b','; 8]);
    ranges.clear();
    let mut from = 0;
    let mut push = |comma: usize| {
        ranges.push(from..comma);
        from = comma + 1;
    };
    let mut words = line.chunks_exact(8);
    let mut base = 0;
    for word in &mut words {
        let word = u64::from_le_bytes(word.try_into().expect("eight bytes"));
        // A zero byte where the word holds a comma; then the high bit of
        // each byte that was zero, and of no other (no carry crosses bytes:
        // seven bits plus 0x7f stay below 0x100).
        let x = word ^ COMMAS;
        let mut zero = !(((x & LOW7) + LOW7) | x | LOW7);
        while zero != 0 {
            push(base + zero.trailing_zeros() as usize / 8);
            zero &= zero - 1;
        }
        base += 8;
    }
    for (i, &b) in words.remainder().iter().enumerate() {
        if b == b',' {
            push(base + i);
        }
    }
    ranges.push(from..line.len());
}

/// Parses the records of one piece of the body.
fn parse_piece(
    file: &str,
    bytes: &[u8],
    piece: Piece,
    header_problem: Option<&str>,
    records: Records,
) -> ParsedFile {
    let mut out = ParsedFile::default();
    let Piece { range, mut counter } = piece;
    // Made at the first good line, sized by its length for the rest of the
    // piece.
    let mut lines: Option<LinesBuilder> = None;
    let body = &bytes[range.clone()];
    let mut record = ByteRecord::new();
    let mut ranges: Vec<Range<usize>> = Vec::with_capacity(RAW_COLUMNS.len());
    // The reference reads the whole piece with one reader, as the reader
    // is meant to be used.
    let mut whole = (records == Records::ReaderOnly).then(|| raw_reader(body));
    let mut at = 0;
    // Where a plain line ends and whether a line break ends it.
    let mut line_break = None;
    while at < body.len() {
        let rest = &body[at..];
        // Where the line ends when it is plain (no quote) and split here.
        let plain_end = match whole {
            Some(_) => None,
            None => {
                let end = memchr::memchr2(b'\n', b'\r', rest).unwrap_or(rest.len());
                memchr::memchr(b'"', &rest[..end]).is_none().then_some(end)
            }
        };
        let (start, fields) = if let Some(end) = plain_end {
            let line = &rest[..end];
            let start = at;
            // Past the line's end: "\r\n" is one break, as the reader has it.
            at += end + 1 + usize::from(rest.get(end..end + 2) == Some(b"\r\n"));
            if line.is_empty() {
                // A blank line: the reader skips it too.
                continue;
            }
            split_at_commas(line, &mut ranges);
            line_break = Some((at.min(body.len()), end < rest.len()));
            (
                start,
                Fields {
                    text: line,
                    ranges: &ranges,
                },
            )
        } else {
            // The piece's one reader (the reference), or one started here:
            // it reads the record that starts here, and stops where the
            // record ends (`position`).
            let mut fresh;
            let (reader, base) = match whole.as_mut() {
                Some(reader) => (reader, 0),
                None => {
                    fresh = raw_reader(rest);
                    (&mut fresh, at)
                }
            };
            match reader.read_byte_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => {
                    // Only I/O errors end a csv reader early; on a byte
                    // slice there are none, but say so rather than lose the
                    // rest.
                    out.problems.push(Reject {
                        file: file.into(),
                        line: e.position().map_or(0, |p| p.line()),
                        reason: format!("unreadable from here on: {e}"),
                        raw: String::new(),
                    });
                    break;
                }
            }
            let start = base + record.position().map_or(0, |p| p.byte() as usize);
            at = (base + reader.position().byte() as usize).max(at + 1);
            // Blank lines are not rows.
            if record.len() == 1 && record[0].is_empty() {
                continue;
            }
            ranges.clear();
            ranges.extend((0..record.len()).map(|i| record.range(i).unwrap_or_default()));
            (
                start,
                Fields {
                    text: record.as_slice(),
                    ranges: &ranges,
                },
            )
        };
        let line = counter.line_at(bytes, range.start + start);
        if let Some((end, terminated)) = line_break.take() {
            // The counter stands at the line's start: past it lies one
            // break, or none at the end of the piece; no need to look.
            counter.pass_line(range.start + end, terminated);
        }
        out.input_rows += 1;
        let parsed = match header_problem {
            Some(problem) => Err(format!("file header: {problem}")),
            None => parse_line(&fields, file, line),
        };
        match parsed {
            Ok(l) => lines
                .get_or_insert_with(|| {
                    // As many lines as this one's length fits in the rest
                    // of the piece, and an eighth more.
                    let more = (body.len() - start) / (at - start).max(1) + 1;
                    LinesBuilder::with_capacity(more + more / 8)
                })
                .push(&l),
            Err(reason) => out.rejects.push(Reject {
                file: file.into(),
                line,
                reason,
                raw: raw_text(fields.iter()),
            }),
        }
    }
    out.lines = lines.unwrap_or_default().finish();
    out
}

/// The file line a record starts on. The csv reader counts lines from where
/// it started looking, before skipping a CRLF's `\n`; counting the line
/// breaks before the record's first byte is exact.
/// Line numbers as the CSV reader splits lines: a line ends at `\n`,
/// `\r\n` or a lone `\r` (the csv crate's own count knows only `\n`,
/// so records after a lone `\r` would share a number). Counted forward,
/// record by record, so a file is scanned once.
#[derive(Clone, Copy)]
struct LineCounter {
    /// Bytes counted so far.
    at: usize,
    /// Line terminators in `bytes[..at]`.
    lines: u64,
}

impl LineCounter {
    fn new() -> LineCounter {
        LineCounter { at: 0, lines: 0 }
    }

    /// The 1-based line of the record starting at byte `start` of `bytes`:
    /// of its first byte that is not a line terminator (blank lines before
    /// it are skipped by the reader).
    fn line_at(&mut self, bytes: &[u8], mut start: usize) -> u64 {
        while matches!(bytes.get(start), Some(b'\r' | b'\n')) {
            start += 1;
        }
        self.advance_to(bytes, start);
        self.lines + 1
    }

    /// Moves past one line that starts where the counter stands and ends
    /// at byte `end`, with a line break (counted once, `\r\n` too) or
    /// without one (the last line of the bytes).
    fn pass_line(&mut self, end: usize, terminated: bool) {
        self.at = end;
        self.lines += u64::from(terminated);
    }

    /// Counts the line terminators up to byte `end` (not back): every `\r`,
    /// and every `\n` but the one of a `\r\n`.
    fn advance_to(&mut self, bytes: &[u8], end: usize) {
        let end = end.min(bytes.len()).max(self.at);
        for at in memchr::memchr2_iter(b'\r', b'\n', &bytes[self.at..end]) {
            let at = self.at + at;
            let after_cr = at > 0 && bytes[at - 1] == b'\r';
            if bytes[at] == b'\r' || !after_cr {
                self.lines += 1;
            }
        }
        self.at = end;
    }
}

/// The record as one line of text again. Fields holding a comma or a quote
/// are quoted back, so the text parses to the same fields.
fn raw_text<'f>(fields: impl Iterator<Item = &'f [u8]>) -> String {
    let fields: Vec<String> = fields
        .map(|f| {
            let s = String::from_utf8_lossy(f);
            if s.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.into_owned()
            }
        })
        .collect();
    fields.join(",")
}

/// `None` when the header is exactly the 22 raw columns in order.
fn check_header(record: &ByteRecord) -> Option<String> {
    let names: Vec<String> = record
        .iter()
        .map(|f| {
            String::from_utf8_lossy(f)
                .trim()
                .trim_start_matches('\u{feff}')
                .to_string()
        })
        .collect();
    let missing: Vec<&str> = RAW_COLUMNS
        .iter()
        .filter(|c| !names.iter().any(|n| n == *c))
        .copied()
        .collect();
    if !missing.is_empty() {
        return Some(format!("missing columns {}", missing.join(", ")));
    }
    if names.len() != RAW_COLUMNS.len() || names.iter().zip(RAW_COLUMNS).any(|(n, c)| n != c) {
        return Some(format!(
            "expected the 22 columns {} in that order, found {}",
            RAW_COLUMNS.join(","),
            shorten(&names.join(","))
        ));
    }
    None
}

/// Parses one data line (line `source_line` of `source_file`), or says
/// what is wrong with it (naming the column). The line borrows its text
/// from the record.
fn parse_line<'a>(
    fields: &Fields<'a>,
    source_file: &'a str,
    source_line: u64,
) -> Result<Line<'a>, String> {
    if fields.ranges.len() != RAW_COLUMNS.len() {
        return Err(format!(
            "expected {} fields, found {} (truncated or ragged line)",
            RAW_COLUMNS.len(),
            fields.ranges.len()
        ));
    }
    // The record's fields lie in one buffer: validated once, each field is
    // a slice of it (checked to start and end on character boundaries);
    // field by field only when the whole is not UTF-8, to name the column
    // that is not.
    let bytes = fields.text;
    let whole = std::str::from_utf8(bytes).ok();
    let mut text = [""; RAW_COLUMNS.len()];
    for (i, slot) in text.iter_mut().enumerate() {
        let range = fields.ranges[i].clone();
        if range.len() > MAX_FIELD_BYTES {
            return Err(format!(
                "{}: a field of {} bytes, longer than the {MAX_FIELD_BYTES} bytes allowed",
                RAW_COLUMNS[i],
                range.len()
            ));
        }
        let field = match whole.and_then(|w| w.get(range.clone())) {
            Some(field) => field,
            None => std::str::from_utf8(&bytes[range])
                .map_err(|_| format!("{}: not valid UTF-8", RAW_COLUMNS[i]))?,
        };
        *slot = forest_core::trim(field);
    }
    let int = |i: usize, lo: i64, hi: i64| -> Result<i32, String> {
        let v: i64 = text[i].parse().map_err(|_| {
            format!(
                "{}: '{}' is not an integer",
                RAW_COLUMNS[i],
                shorten(text[i])
            )
        })?;
        if v < lo || v > hi {
            return Err(format!("{}: {v} is outside {lo}..={hi}", RAW_COLUMNS[i]));
        }
        Ok(v as i32)
    };
    let required = |i: usize| -> Result<&'a str, String> {
        if text[i].is_empty() {
            Err(format!("{}: empty", RAW_COLUMNS[i]))
        } else {
            Ok(text[i])
        }
    };
    let optional = |i: usize| -> Option<&'a str> { (!text[i].is_empty()).then(|| text[i]) };
    let shop_week = int(0, 190_001, 299_953)?;
    let shop_date = int(1, 19_000_101, 29_991_231)?;
    check_date(shop_date).map_err(|e| format!("SHOP_DATE: {e}"))?;
    let quantity = int(4, i64::MIN, i64::MAX).and_then(|q| {
        if q <= 0 {
            Err(format!("QUANTITY: {q} is not positive"))
        } else {
            Ok(q)
        }
    })?;
    let spend: f64 = text[5]
        .parse()
        .map_err(|_| format!("SPEND: '{}' is not a number", shorten(text[5])))?;
    if !spend.is_finite() || spend < 0.0 {
        return Err(format!("SPEND: {spend} is not a finite amount >= 0"));
    }
    let label = required(16)?;
    if !LABELS.contains(&label) {
        return Err(format!(
            "BASKET_PRICE_SENSITIVITY: '{}' is not one of LA, MM, UM, XX",
            shorten(label)
        ));
    }
    Ok(Line {
        shop_week,
        shop_date,
        shop_weekday: int(2, 1, 7)?,
        shop_hour: int(3, 0, 23)?,
        quantity,
        spend,
        prod_code: required(6)?,
        prod_code_10: required(7)?,
        prod_code_20: required(8)?,
        prod_code_30: required(9)?,
        prod_code_40: optional(10),
        cust_code: optional(11),
        cust_price_sensitivity: optional(12),
        cust_lifestage: optional(13),
        basket_id: required(14)?,
        basket_size: required(15)?,
        basket_price_sensitivity: label,
        basket_type: required(17)?,
        basket_dominant_mission: required(18)?,
        store_code: required(19)?,
        store_format: required(20)?,
        store_region: required(21)?,
        source_file,
        source_line,
    })
}

/// Checks that YYYYMMDD is a real calendar date.
fn check_date(d: i32) -> Result<(), String> {
    let (y, m, day) = (d / 10_000, (d / 100) % 100, d % 100);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(format!("{d} has no month {m}")),
    };
    if day < 1 || day > days {
        return Err(format!("{d} has no day {day}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "SHOP_WEEK,SHOP_DATE,SHOP_WEEKDAY,SHOP_HOUR,QUANTITY,SPEND,PROD_CODE,PROD_CODE_10,PROD_CODE_20,PROD_CODE_30,PROD_CODE_40,CUST_CODE,CUST_PRICE_SENSITIVITY,CUST_LIFESTAGE,BASKET_ID,BASKET_SIZE,BASKET_PRICE_SENSITIVITY,BASKET_TYPE,BASKET_DOMINANT_MISSION,STORE_CODE,STORE_FORMAT,STORE_REGION";
    const GOOD: &str = "200607,20060413,5,20,1,1.03,PRD0900097,CL00001,DEP00001,G00001,D00001,CUST0000634693,LA,YF,9.94E+14,L,LA,Top Up,Fresh,STORE00001,LS,E02";
    const ANON: &str = "200607,20060416,1,14,1,0.98,PRD0900121,CL00063,DEP00019,G00007,,,,,9.94E+14,L,MM,Top Up,Grocery,STORE00001,LS,E02";

    proptest::proptest! {
        /// Cut into pieces (as small as one record) and parsed in
        /// parallel, a file gives what one pass gives, and its plain lines
        /// split at their commas give what the csv reader makes of every
        /// record: the same lines, rejects, problems and line numbers,
        /// whatever its quotes, commas and line breaks (lone CR, CRLF,
        /// blank lines, breaks inside quoted fields, quotes inside
        /// unquoted ones).
        #[test]
        fn pieces_and_split_lines_parse_like_the_reader_in_one_pass(
            header_ok in proptest::bool::ANY,
            body in proptest::collection::vec(
                proptest::prop_oneof![
                    4 => proptest::strategy::Just(GOOD.to_string()),
                    1 => proptest::strategy::Just(ANON.to_string()),
                    1 => proptest::strategy::Just(GOOD.replace("Top Up", "\"Top, \"\"Up\"\"\"")),
                    3 => "[a1,\"\r\n ]{0,12}",
                ],
                0..40,
            ),
            breaks in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just("\n"),
                    proptest::strategy::Just("\r\n"),
                    proptest::strategy::Just("\r"),
                    proptest::strategy::Just(""),
                ],
                40,
            ),
            chunk in 1usize..64,
        ) {
            let mut text = if header_ok { HEADER.to_string() } else { "A,B".to_string() };
            text.push('\n');
            for (line, brk) in body.iter().zip(&breaks) {
                text.push_str(line);
                text.push_str(brk);
            }
            let whole = parse_raw_in_chunks("w.csv", text.as_bytes(), usize::MAX);
            let pieces = parse_raw_in_chunks("w.csv", text.as_bytes(), chunk);
            proptest::prop_assert_eq!(&pieces, &whole);
            proptest::prop_assert_eq!(parse_raw_by_reader("w.csv", text.as_bytes()), whole);
        }
    }

    proptest::proptest! {
        /// Split eight bytes at a time, a line's fields are those of
        /// splitting it byte by byte.
        #[test]
        fn commas_split_like_str_split(line in "[a,+\u{ac}\u{12c}\u{ff}\u{0}-]{0,40}") {
            let mut ranges = Vec::new();
            split_at_commas(line.as_bytes(), &mut ranges);
            let fields: Vec<&str> = ranges.iter().map(|r| &line[r.clone()]).collect();
            proptest::prop_assert_eq!(fields, line.split(',').collect::<Vec<_>>());
        }
    }

    #[test]
    fn pieces_cut_a_week_at_record_ends() {
        let mut text = format!("{HEADER}\n");
        for i in 0..1000 {
            let quoted = GOOD.replace("Top Up", &format!("\"Top\r\nUp {i}\""));
            text.push_str(if i % 3 == 0 { &quoted } else { GOOD });
            text.push_str(if i % 2 == 0 { "\r\n" } else { "\n" });
        }
        let pieces = record_aligned_pieces(text.as_bytes(), HEADER.len() + 1, 4096);
        assert!(pieces.len() > 10, "{} pieces", pieces.len());
        let whole = parse_raw_in_chunks("w.csv", text.as_bytes(), usize::MAX);
        assert_eq!(parse_raw_in_chunks("w.csv", text.as_bytes(), 4096), whole);
        assert_eq!(whole.input_rows, 1000);
        // Each line number is that of the record's first line: the quoted
        // line break in every third record moves the next ones.
        let mut numbers: Vec<u64> = (whole.lines.iter().map(|l| l.source_line))
            .chain(whole.rejects.iter().map(|r| r.line))
            .collect();
        numbers.sort_unstable();
        assert_eq!(&numbers[..4], &[2, 4, 5, 6]);
    }

    #[test]
    fn parses_good_lines_with_crlf_and_gaps() {
        let text = format!("{HEADER}\r\n{GOOD}\r\n{ANON}\r\n");
        let p = parse_raw("w.csv", text.as_bytes());
        assert_eq!(p.rejects, vec![]);
        assert_eq!((p.lines.len(), p.input_rows), (2, 2));
        assert_eq!(p.lines.get(0).spend, 1.03);
        assert_eq!(p.lines.get(0).source_line, 2);
        assert_eq!(p.lines.get(1).source_line, 3);
        assert_eq!(p.lines.get(1).cust_code, None);
        assert_eq!(p.lines.get(1).prod_code_40, None);
    }

    /// Found by fuzzing (fuzz/regressions/csv_file/): lines that end in a
    /// lone CR are separate records to the CSV reader, so they are
    /// separate lines in the reports too.
    #[test]
    fn line_numbers_count_every_kind_of_line_end() {
        let bad = GOOD.replace(",1.03,", ",abc,");
        let text = format!("{HEADER}\r{GOOD}\r\n\n{bad}\r{ANON}\n\"a\nb\",x\n{bad}");
        let p = parse_raw("w.csv", text.as_bytes());
        let lines: Vec<u64> = p.lines.iter().map(|l| l.source_line).collect();
        assert_eq!(lines, [2, 5]);
        let rejected: Vec<u64> = p.rejects.iter().map(|r| r.line).collect();
        // The quoted field holds a line break: the next record starts on
        // line 8.
        assert_eq!(rejected, [4, 6, 8]);
    }

    #[test]
    fn bad_lines_are_rejected_with_line_and_reason() {
        let bad_spend = GOOD.replace(",1.03,", ",abc,");
        let zero_qty = GOOD.replace(",20,1,", ",20,0,");
        let neg_qty = GOOD.replace(",20,1,", ",20,-2,");
        let bad_date = GOOD.replace("20060413", "20060231");
        let truncated = &GOOD[..40];
        let huge = GOOD.replace("PRD0900097", &"P".repeat(10_000_000));
        let text = format!(
            "{HEADER}\n{bad_spend}\n{zero_qty}\n{GOOD}\n{neg_qty}\n{bad_date}\n{huge}\n{truncated}"
        );
        let mut bytes = text.into_bytes();
        bytes.extend_from_slice(
            b"\n200607,20060413,5,20,1,1.0,PRD\xff,CL,DEP,G,D,,,,1,L,LA,T,F,S,LS,E02\n",
        );
        let p = parse_raw("w.csv", &bytes);
        assert_eq!(p.lines.len(), 1, "the good line");
        assert_eq!(p.input_rows, 8);
        assert_eq!(p.lines.len() + p.rejects.len(), p.input_rows as usize);
        let reasons: Vec<(u64, &str)> = p
            .rejects
            .iter()
            .map(|r| (r.line, r.reason.as_str()))
            .collect();
        assert!(
            reasons[0].0 == 2 && reasons[0].1.contains("SPEND"),
            "{reasons:?}"
        );
        assert!(
            reasons[1].0 == 3 && reasons[1].1.contains("QUANTITY"),
            "{reasons:?}"
        );
        assert!(
            reasons[2].0 == 5 && reasons[2].1.contains("QUANTITY"),
            "{reasons:?}"
        );
        assert!(reasons[3].1.contains("SHOP_DATE"), "{reasons:?}");
        assert!(
            reasons[4].0 == 7
                && reasons[4]
                    .1
                    .contains("PROD_CODE: a field of 10000000 bytes"),
            "{reasons:?}"
        );
        assert!(reasons[5].1.contains("expected 22 fields"), "{reasons:?}");
        assert!(
            reasons[6].1.contains("UTF-8") && reasons[6].0 == 9,
            "{reasons:?}"
        );
        assert_eq!(
            p.rejects[0].raw, bad_spend,
            "the rejected line is kept whole"
        );
    }

    /// A character cut between two fields is valid UTF-8 in the record's
    /// buffer, where the fields lie end to end, and in neither field: the
    /// line is rejected, naming the first.
    #[test]
    fn a_character_split_across_fields_is_not_utf8() {
        let mut bytes = format!("{HEADER}\n").into_bytes();
        bytes.extend_from_slice(
            b"200607,20060413,5,20,1,1.0,PRD\xc3,\xa9CL,DEP,G,D,,,,1,L,LA,T,F,S,LS,E02\n",
        );
        let p = parse_raw("w.csv", &bytes);
        assert_eq!((p.lines.len(), p.rejects.len()), (0, 1));
        assert_eq!(p.rejects[0].reason, "PROD_CODE: not valid UTF-8");
    }

    #[test]
    fn whole_file_problems_quarantine_every_line() {
        let p = parse_raw("e.csv", b"");
        assert_eq!((p.input_rows, p.rejects.len(), p.problems.len()), (0, 0, 1));
        assert!(p.problems[0].reason.contains("empty"));
        let wrong = HEADER.replace("SPEND", "AMOUNT");
        let p = parse_raw("h.csv", format!("{wrong}\n{GOOD}\n{GOOD}\n").as_bytes());
        assert_eq!((p.lines.len(), p.rejects.len(), p.input_rows), (0, 2, 2));
        assert!(
            p.rejects[0].reason.contains("missing columns SPEND"),
            "{:?}",
            p.rejects
        );
        let p = parse_raw("h.csv", wrong.as_bytes());
        assert_eq!((p.input_rows, p.rejects.len(), p.problems.len()), (0, 0, 1));
    }
}
