//! A fast path for `/predict` bodies: a reader for exactly the common shape
//! of a request (one basket object, or `{"instances": [...]}`), about four
//! times quicker than serde's derived deserialisers on a typical basket
//! (`cargo bench -p forest-serve --bench body`), where parsing was the
//! largest cost of a request after the HTTP stack and the model.
//!
//! It accepts a strict subset of what serde accepts and gives the same
//! value for it; anything else (escaped strings, duplicate, unknown or
//! missing keys, a type serde would reject or coerce, numbers out of range,
//! trailing bytes) makes it answer `None`, and the caller parses the body
//! with serde, which accepts it or names the error. So the fast path can
//! change speed, never answers (property-tested below against serde).

use forest_core::{set_optional_text, set_text, Basket, Field, Item, BASKET_FIELDS, ITEM_FIELDS};

/// What the fast path read: one basket, or the baskets of `instances`.
pub enum Fast {
    /// A basket object.
    One(Basket),
    /// `{"instances": [...]}`.
    Batch(Vec<Basket>),
}

/// Reads a body into new baskets.
pub fn parse(body: &[u8]) -> Option<Fast> {
    let mut baskets = Vec::new();
    if parse_into(body, &mut baskets)? {
        Some(Fast::Batch(baskets))
    } else {
        baskets.pop().map(Fast::One)
    }
}

/// Reads a body into `out`, reusing the baskets, items and strings already
/// there (a worker's scratch space: after the first requests, parsing
/// allocates nothing). Returns whether the body was a batch; `out` then holds
/// its baskets, else the one basket. On `None` the contents are unspecified.
pub fn parse_into(body: &[u8], out: &mut Vec<Basket>) -> Option<bool> {
    // One UTF-8 check for the whole body; strings are then cut from it at
    // quote marks, which are always character boundaries.
    let text = std::str::from_utf8(body).ok()?;
    let mut p = Reader {
        s: text,
        b: body,
        i: 0,
    };
    p.ws();
    p.eat(b'{')?;
    p.ws();
    let first = p.key()?;
    let batch = first == "instances";
    if batch {
        p.array_into(out, Basket::default, |p, basket| {
            p.eat(b'{')?;
            p.ws();
            let first = p.key()?;
            p.basket_into(first, basket)
        })?;
        p.ws();
        p.eat(b'}')?;
    } else {
        out.truncate(1);
        if out.is_empty() {
            out.push(Basket::default());
        }
        p.basket_into(first, &mut out[0])?;
    }
    p.ws();
    (p.i == body.len()).then_some(batch)
}

/// Exact powers of ten: numbers of up to 15 digits take the fast path.
const POW10: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// The length of a string's text up to its closing quote, when no escape
/// or control character comes first. Eight bytes at a time: a byte is
/// flagged when it is a quote, a backslash or below 0x20 (the classic
/// "has zero byte" bit trick); a borrow can only flag bytes above a true
/// hit, so the lowest flag is the first such byte.
fn plain_len(rest: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |w: u64| w.wrapping_sub(ONES) & !w;
    let mut at = 0;
    while let Some(chunk) = rest.get(at..at + 8) {
        let w = u64::from_le_bytes(chunk.try_into().ok()?);
        let flags = (zero_byte(w ^ (ONES * u64::from(b'"')))
            | zero_byte(w ^ (ONES * u64::from(b'\\')))
            | (w.wrapping_sub(ONES * 0x20) & !w))
            & HIGH;
        if flags != 0 {
            at += flags.trailing_zeros() as usize / 8;
            return (rest[at] == b'"').then_some(at);
        }
        at += 8;
    }
    let len = at
        + rest[at..]
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
    (rest[len] == b'"').then_some(len)
}

struct Reader<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

/// A basket key's index in forest-core's [`BASKET_FIELDS`] (the order of
/// [`Basket`]'s fields).
fn basket_key(key: &str) -> Option<usize> {
    BASKET_FIELDS.iter().position(|f| f.name == key)
}

/// An item key's index in forest-core's [`ITEM_FIELDS`].
fn item_key(key: &str) -> Option<usize> {
    ITEM_FIELDS.iter().position(|f| f.name == key)
}

/// Whether every required field is among those `seen`.
fn complete(fields: &[Field; 7], seen: [bool; 7]) -> bool {
    fields.iter().zip(seen).all(|(f, seen)| seen || !f.required)
}

impl<'a> Reader<'a> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn peek_is(&self, c: u8) -> bool {
        self.b.get(self.i) == Some(&c)
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        if self.peek_is(c) {
            self.i += 1;
            Some(())
        } else {
            None
        }
    }

    /// A string without escapes or control characters.
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.i;
        let len = plain_len(self.b.get(start..)?)?;
        self.i = start + len + 1;
        self.s.get(start..start + len)
    }

    /// An object key with its colon, leaving the reader at the value.
    fn key(&mut self) -> Option<&'a str> {
        let key = self.string()?;
        self.ws();
        self.eat(b':')?;
        self.ws();
        Some(key)
    }

    fn null(&mut self) -> bool {
        if self.b.get(self.i..self.i + 4) == Some(b"null") {
            self.i += 4;
            true
        } else {
            false
        }
    }

    /// A JSON number as serde_json reads it into an f64: integers exactly
    /// through u64/i64, other numbers correctly rounded.
    fn number(&mut self) -> Option<f64> {
        let start = self.i;
        let b = self.b;
        let mut i = start;
        let negative = b.get(i) == Some(&b'-');
        if negative {
            i += 1;
        }
        // The digits, as one integer while they fit (wrapping past that,
        // when only the slow path below uses the text).
        let mut mantissa = 0u64;
        let mut digits = |i: &mut usize| {
            let from = *i;
            while let Some(&d @ b'0'..=b'9') = b.get(*i) {
                mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
                *i += 1;
            }
            *i - from
        };
        let int_start = i;
        let int_len = digits(&mut i);
        if int_len == 0 || (int_len > 1 && b[int_start] == b'0') {
            return None;
        }
        let mut frac_len = 0;
        if b.get(i) == Some(&b'.') {
            i += 1;
            frac_len = digits(&mut i);
            if frac_len == 0 {
                return None;
            }
        }
        let exponent = matches!(b.get(i), Some(b'e' | b'E'));
        if !exponent && int_len + frac_len < POW10.len() {
            // At most 15 digits: the integer and 10^frac_len are exact
            // doubles, so one division is the correctly rounded value.
            self.i = i;
            let magnitude = mantissa as f64 / POW10[frac_len];
            return Some(if negative { -magnitude } else { magnitude });
        }
        if exponent {
            i += 1;
            if let Some(b'+' | b'-') = b.get(i) {
                i += 1;
            }
            let exp = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            if i == exp {
                return None;
            }
        }
        let text = self.s.get(start..i)?;
        self.i = i;
        let value = if frac_len == 0 && !exponent {
            if text.starts_with('-') {
                text.parse::<i64>().ok()? as f64
            } else {
                text.parse::<u64>().ok()? as f64
            }
        } else {
            text.parse::<f64>().ok()?
        };
        value.is_finite().then_some(value)
    }

    /// A string or `null`.
    fn opt_str(&mut self) -> Option<Option<&'a str>> {
        if self.null() {
            Some(None)
        } else {
            Some(Some(self.string()?))
        }
    }

    /// `"name":` when the body has exactly that at the reader (then the
    /// whitespace after it). Callers pass a field of the constant tables
    /// by a constant index, so the length is known and the compare inline.
    #[inline(always)]
    fn quoted_key(&mut self, name: &str) -> bool {
        let n = name.len();
        let at = self.i;
        let hit = self.b.get(at..at + n + 3).is_some_and(|w| {
            w[0] == b'"' && &w[1..=n] == name.as_bytes() && w[n + 1] == b'"' && w[n + 2] == b':'
        });
        if hit {
            self.i += n + 3;
            self.ws();
        }
        hit
    }

    /// Reads an object's members from the value of key index `k` on; `f`
    /// reads the value of key index `k` (an index into `keys`). Duplicate or
    /// unknown keys give `None`. Returns which keys were present.
    ///
    /// `next(reader, k)` reads the key documented after key `k` when it
    /// comes next, written without whitespace, as clients almost always
    /// send it: one compare instead of a scan and a dispatch. Otherwise
    /// the key is read and dispatched as written.
    fn members(
        &mut self,
        mut k: usize,
        keys: fn(&str) -> Option<usize>,
        next: fn(&mut Self, usize) -> bool,
        mut f: impl FnMut(&mut Self, usize) -> Option<()>,
    ) -> Option<[bool; 7]> {
        let mut seen = [false; 7];
        loop {
            if seen[k] {
                return None;
            }
            seen[k] = true;
            f(self, k)?;
            self.ws();
            if self.peek_is(b',') {
                self.i += 1;
                self.ws();
                k = if next(self, k) {
                    k + 1
                } else {
                    keys(self.key()?)?
                };
                continue;
            }
            self.eat(b'}')?;
            return Some(seen);
        }
    }

    // The key after key `k` in the tables' order (constant indices, so
    // each compare has a constant length).
    fn next_basket_key(&mut self, k: usize) -> bool {
        match k {
            0 => self.quoted_key(BASKET_FIELDS[1].name),
            1 => self.quoted_key(BASKET_FIELDS[2].name),
            2 => self.quoted_key(BASKET_FIELDS[3].name),
            3 => self.quoted_key(BASKET_FIELDS[4].name),
            4 => self.quoted_key(BASKET_FIELDS[5].name),
            5 => self.quoted_key(BASKET_FIELDS[6].name),
            _ => false,
        }
    }

    fn next_item_key(&mut self, k: usize) -> bool {
        match k {
            0 => self.quoted_key(ITEM_FIELDS[1].name),
            1 => self.quoted_key(ITEM_FIELDS[2].name),
            2 => self.quoted_key(ITEM_FIELDS[3].name),
            3 => self.quoted_key(ITEM_FIELDS[4].name),
            4 => self.quoted_key(ITEM_FIELDS[5].name),
            5 => self.quoted_key(ITEM_FIELDS[6].name),
            _ => false,
        }
    }

    /// A basket whose `{` and first key (with its colon) have been read.
    fn basket_into(&mut self, first: &'a str, out: &mut Basket) -> Option<()> {
        let first = basket_key(first)?;
        let seen = self.members(first, basket_key, Self::next_basket_key, |p, k| {
            match k {
                0 => set_text(&mut out.store_format, p.string()?),
                1 => set_text(&mut out.store_region, p.string()?),
                2 => set_text(&mut out.basket_size, p.string()?),
                3 => set_text(&mut out.basket_type, p.string()?),
                4 => set_text(&mut out.dominant_mission, p.string()?),
                5 => set_optional_text(&mut out.customer_price_sensitivity, p.opt_str()?),
                _ => p.array_into(&mut out.items, Item::default, Self::item_into)?,
            }
            Some(())
        })?;
        if !seen[5] {
            out.customer_price_sensitivity = None;
        }
        complete(&BASKET_FIELDS, seen).then_some(())
    }

    /// A JSON array read into `out` element by element with `read`,
    /// reusing the elements already there and dropping those left over.
    fn array_into<T>(
        &mut self,
        out: &mut Vec<T>,
        empty: fn() -> T,
        read: impl Fn(&mut Self, &mut T) -> Option<()>,
    ) -> Option<()> {
        self.eat(b'[')?;
        self.ws();
        let mut n = 0;
        if self.peek_is(b']') {
            self.i += 1;
        } else {
            loop {
                self.ws();
                if n == out.len() {
                    out.push(empty());
                }
                read(self, &mut out[n])?;
                n += 1;
                self.ws();
                if self.peek_is(b',') {
                    self.i += 1;
                    continue;
                }
                self.eat(b']')?;
                break;
            }
        }
        out.truncate(n);
        Some(())
    }

    fn item_into(&mut self, out: &mut Item) -> Option<()> {
        self.eat(b'{')?;
        self.ws();
        let first = if self.quoted_key(ITEM_FIELDS[0].name) {
            0
        } else {
            item_key(self.key()?)?
        };
        let seen = self.members(first, item_key, Self::next_item_key, |p, k| {
            match k {
                0 => set_text(&mut out.prod_code, p.string()?),
                1 => set_text(&mut out.prod_code_10, p.string()?),
                2 => set_text(&mut out.prod_code_20, p.string()?),
                3 => set_text(&mut out.prod_code_30, p.string()?),
                4 => set_optional_text(&mut out.prod_code_40, p.opt_str()?),
                5 => out.quantity = p.number()?,
                _ => out.spend = p.number()?,
            }
            Some(())
        })?;
        if !seen[4] {
            out.prod_code_40 = None;
        }
        complete(&ITEM_FIELDS, seen).then_some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{parse_predict_serde, PredictRequest};

    use forest_core::splitmix::SplitMix64 as Rng;

    const TEXTS: [&str; 8] = [
        "LS",
        "E02",
        "Top Up",
        "",
        "Café",
        "PRD0900097",
        "NA",
        "日本",
    ];
    const NUMBERS: [&str; 16] = [
        "1",
        "0",
        "-0",
        "2.5",
        "1.03",
        "-1",
        "1e2",
        "1E-2",
        "0.1",
        "3.0e+1",
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775808",
        "123456789012345678901234567890",
        "1e400",
        "4.9e-324",
    ];

    fn ws(r: &mut Rng) -> &'static str {
        [" ", "", "", "\n  ", "\t", "\r\n"][r.below(6)]
    }

    fn string(r: &mut Rng) -> String {
        if r.chance(5) {
            // Escapes: serde's business.
            return "\"a\\\"b\"".into();
        }
        format!("\"{}\"", TEXTS[r.below(TEXTS.len())])
    }

    /// An edge case, or a random decimal of 1 to 22 digits (either side of
    /// the 15-digit fast path).
    fn number(r: &mut Rng) -> String {
        if r.chance(50) {
            return NUMBERS[r.below(NUMBERS.len())].to_string();
        }
        let digits = |r: &mut Rng, n: usize| -> String {
            (0..n)
                .map(|_| char::from(b'0' + r.below(10) as u8))
                .collect()
        };
        let sign = if r.chance(20) { "-" } else { "" };
        let int = if r.chance(30) {
            "0".to_string()
        } else {
            let (first, more) = (1 + r.below(9), r.below(10));
            format!("{first}{}", digits(r, more))
        };
        if r.chance(25) {
            format!("{sign}{int}")
        } else {
            let frac = 1 + r.below(12);
            format!("{sign}{int}.{}", digits(r, frac))
        }
    }

    fn object(r: &mut Rng, mut members: Vec<(String, String)>) -> String {
        // Shuffle the keys, or keep the documented order (the reader's
        // predicted path when no whitespace sits between members).
        if r.chance(60) {
            for i in (1..members.len()).rev() {
                members.swap(i, r.below(i + 1));
            }
        }
        let body: Vec<String> = members
            .iter()
            .map(|(k, v)| format!("{}\"{k}\"{}:{}{v}{}", ws(r), ws(r), ws(r), ws(r)))
            .collect();
        format!("{{{}}}", body.join(","))
    }

    fn item(r: &mut Rng) -> String {
        let mut m = vec![];
        for k in ["prod_code", "prod_code_10", "prod_code_20", "prod_code_30"] {
            m.push((k.to_string(), string(r)));
        }
        match r.below(3) {
            0 => m.push(("prod_code_40".into(), string(r))),
            1 => m.push(("prod_code_40".into(), "null".into())),
            _ => {}
        }
        for k in ["quantity", "spend"] {
            m.push((k.to_string(), number(r)));
        }
        object(r, m)
    }

    fn basket(r: &mut Rng) -> String {
        let mut m = vec![];
        for k in [
            "store_format",
            "store_region",
            "basket_size",
            "basket_type",
            "dominant_mission",
        ] {
            m.push((k.to_string(), string(r)));
        }
        match r.below(3) {
            0 => m.push(("customer_price_sensitivity".into(), string(r))),
            1 => m.push(("customer_price_sensitivity".into(), "null".into())),
            _ => {}
        }
        let items: Vec<String> = (0..r.below(4)).map(|_| item(r)).collect();
        m.push(("items".into(), format!("[{}]", items.join(","))));
        object(r, m)
    }

    fn body(r: &mut Rng) -> String {
        if r.chance(30) {
            let baskets: Vec<String> = (0..r.below(3)).map(|_| basket(r)).collect();
            format!(
                "{}{{\"instances\":[{}]}}{}",
                ws(r),
                baskets.join(","),
                ws(r)
            )
        } else {
            format!("{}{}{}", ws(r), basket(r), ws(r))
        }
    }

    /// Equal, with floats compared bit for bit (0.0 and -0.0 differ).
    fn same(a: &[Basket], b: &[Basket]) -> bool {
        a == b
            && a.iter().zip(b).all(|(x, y)| {
                x.items.iter().zip(&y.items).all(|(i, j)| {
                    i.quantity.to_bits() == j.quantity.to_bits()
                        && i.spend.to_bits() == j.spend.to_bits()
                })
            })
    }

    fn check(body: &[u8]) -> bool {
        let Some(fast) = parse(body) else {
            return false;
        };
        let serde = parse_predict_serde(body).unwrap_or_else(|e| {
            panic!(
                "fast path accepted what serde refuses ({e:?}): {}",
                String::from_utf8_lossy(body)
            )
        });
        let (fast, serde): (Vec<Basket>, Vec<Basket>) = match (fast, serde) {
            (Fast::One(a), PredictRequest::One(b)) => (vec![a], vec![b]),
            (Fast::Batch(a), PredictRequest::Batch(b)) => (a, b),
            _ => panic!(
                "one basket against a batch: {}",
                String::from_utf8_lossy(body)
            ),
        };
        assert!(same(&fast, &serde), "{}", String::from_utf8_lossy(body));
        true
    }

    #[test]
    fn the_fast_path_reads_what_serde_reads() {
        let mut r = Rng::new(1);
        let mut taken = 0;
        for _ in 0..20_000 {
            if check(body(&mut r).as_bytes()) {
                taken += 1;
            }
        }
        // Most bodies have the common shape.
        assert!(taken > 5_000, "{taken}");
    }

    #[test]
    fn mutated_bodies_are_refused_or_read_as_serde_reads_them() {
        let mut r = Rng::new(2);
        const BYTES: &[u8] = b"{}[],:\"\\ 0123456789.eE+-nul\xc3\xa9\x01a";
        let mut taken = 0;
        for _ in 0..20_000 {
            let mut b = body(&mut r).into_bytes();
            for _ in 0..1 + r.below(3) {
                let at = r.below(b.len() + 1);
                match r.below(3) {
                    0 if at < b.len() => {
                        b.remove(at);
                    }
                    1 if at < b.len() => b[at] = BYTES[r.below(BYTES.len())],
                    _ => b.insert(at, BYTES[r.below(BYTES.len())]),
                }
            }
            if check(&b) {
                taken += 1;
            }
        }
        assert!(taken > 100, "{taken}");
    }

    #[test]
    fn reused_scratch_reads_what_a_fresh_read_reads() {
        let mut r = Rng::new(3);
        let mut scratch = Vec::new();
        let mut taken = 0;
        for _ in 0..20_000 {
            let b = body(&mut r);
            let fresh = parse(b.as_bytes());
            match (parse_into(b.as_bytes(), &mut scratch), fresh) {
                (Some(false), Some(Fast::One(one))) => {
                    assert!(same(&scratch, &[one]), "{b}");
                    taken += 1;
                }
                (Some(true), Some(Fast::Batch(all))) => {
                    assert!(same(&scratch, &all), "{b}");
                    taken += 1;
                }
                (None, None) => {}
                _ => panic!("reused and fresh reads disagree: {b}"),
            }
        }
        assert!(taken > 5_000, "{taken}");
    }

    #[test]
    fn bodies_in_the_documented_order_take_the_fast_path() {
        // serde writes the keys in the documented order without
        // whitespace: the reader's predicted path, key after key.
        let item = |code: &str, code_40: Option<&str>, quantity: f64, spend: f64| Item {
            prod_code: code.into(),
            prod_code_10: "CL00001".into(),
            prod_code_20: "DEP00001".into(),
            prod_code_30: "G00001".into(),
            prod_code_40: code_40.map(Into::into),
            quantity,
            spend,
        };
        let basket = |cps: Option<&str>, items: Vec<Item>| Basket {
            store_format: "LS".into(),
            store_region: "E02".into(),
            basket_size: "L".into(),
            basket_type: "Top Up".into(),
            dominant_mission: "Fresh".into(),
            customer_price_sensitivity: cps.map(Into::into),
            items,
        };
        let baskets = [
            basket(
                Some("LA"),
                vec![item("PRD0900097", Some("D00001"), 2.0, 1.03)],
            ),
            basket(
                None,
                vec![
                    item("PRD1", None, 1.0, 0.5),
                    item("P", Some(""), 3.0, 12.25),
                ],
            ),
            basket(Some("UM"), vec![]),
        ];
        for b in &baskets {
            let body = serde_json::to_vec(b).unwrap();
            match parse(&body) {
                Some(Fast::One(read)) => assert!(same(&[read], std::slice::from_ref(b))),
                _ => panic!("refused: {}", String::from_utf8_lossy(&body)),
            }
        }
        let body = serde_json::to_vec(&serde_json::json!({ "instances": baskets })).unwrap();
        match parse(&body) {
            Some(Fast::Batch(read)) => assert!(same(&read, &baskets)),
            _ => panic!("refused: {}", String::from_utf8_lossy(&body)),
        }
    }

    #[test]
    fn the_word_scan_finds_what_a_byte_scan_finds() {
        let bytewise = |rest: &[u8]| {
            let len = rest
                .iter()
                .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
            (rest[len] == b'"').then_some(len)
        };
        const BYTES: &[u8] = b"aZ09 ~\"\\\x00\x1f\x20\x7f\x80\xc3\xa9\xff!#";
        let mut r = Rng::new(4);
        for _ in 0..50_000 {
            let text: Vec<u8> = (0..r.below(40))
                .map(|_| BYTES[r.below(BYTES.len())])
                .collect();
            assert_eq!(plain_len(&text), bytewise(&text), "{text:?}");
        }
    }

    #[test]
    fn edge_cases() {
        let one = |s: &str| parse(s.as_bytes()).is_some();
        let base = r#"{"store_format":"LS","store_region":"E02","basket_size":"L","basket_type":"Top Up","dominant_mission":"Fresh","items":[]}"#;
        assert!(one(base));
        assert!(
            !one(&base.replace("\"LS\"", "\"L\\u0053\"")),
            "escapes go to serde"
        );
        assert!(
            !one(&base.replace("\"LS\"", "null")),
            "null for a required text"
        );
        assert!(!one(&format!("{base} x")), "trailing bytes");
        assert!(
            !one(&base.replace("\"store_format\":\"LS\",", "")),
            "missing key"
        );
        assert!(
            !one(&base.replace("}", ",\"store_format\":\"LS\"}")),
            "duplicate key"
        );
        assert!(!one("[]") && !one("") && !one("{}"));
        assert!(one(r#"{"instances":[]}"#));
        assert!(!one(r#"{"instances":[],"items":[]}"#));
    }
}
