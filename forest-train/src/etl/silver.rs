//! Silver: the raw lines, typed (the columns of [`super::lines`]), one
//! Parquet file per (shop week, raw file) under `silver/SHOP_WEEK=<week>/`,
//! plus each raw file's rejects as CSV under `silver/_rejects/`.

use super::lines::{schema, Lines};
use super::parquet_io::{from_parquet, to_parquet, ColumnLayout};
use super::raw::Reject;

/// The key of a silver part file.
pub fn part_key(week: i32, source_file: &str) -> String {
    format!(
        "silver/SHOP_WEEK={week}/part-{}.parquet",
        file_stem(source_file)
    )
}

/// The key of a raw file's rejects.
pub fn rejects_key(source_file: &str) -> String {
    format!("silver/_rejects/{}.csv", file_stem(source_file))
}

fn file_stem(name: &str) -> &str {
    let base = name.rsplit('/').next().unwrap_or(name);
    base.strip_suffix(".csv").unwrap_or(base)
}

/// The shop week of a silver part key (`silver/SHOP_WEEK=200607/...`).
pub fn week_of_key(key: &str) -> Option<i32> {
    key.strip_prefix("silver/SHOP_WEEK=")?
        .split('/')
        .next()?
        .parse()
        .ok()
}

/// Lines to Parquet bytes. Every column but the line number repeats
/// from line to line (a basket's fields on each of its lines, product codes
/// across baskets) and keeps the dictionary; the line number is new on
/// every line, one more than the last, so it is stored as differences.
pub fn write_lines(lines: &Lines) -> Result<Vec<u8>, String> {
    to_parquet(lines.batch(), |field| match field.name().as_str() {
        "SOURCE_LINE" => ColumnLayout::Delta,
        _ => ColumnLayout::Dictionary,
    })
}

/// Parquet bytes of a silver part back to lines.
pub fn read_lines(bytes: Vec<u8>) -> Result<Lines, String> {
    Lines::from_batch(from_parquet(bytes, schema())?)
}

/// Rejects as CSV with a header: file, line, reason, raw.
pub fn write_rejects(rejects: &[Reject]) -> Result<Vec<u8>, String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["file", "line", "reason", "raw"])
        .map_err(|e| e.to_string())?;
    for r in rejects {
        w.write_record([r.file.as_str(), &r.line.to_string(), &r.reason, &r.raw])
            .map_err(|e| e.to_string())?;
    }
    w.into_inner().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::etl::raw::parse_raw;

    #[test]
    fn lines_round_trip_through_parquet() {
        let text = "SHOP_WEEK,SHOP_DATE,SHOP_WEEKDAY,SHOP_HOUR,QUANTITY,SPEND,PROD_CODE,PROD_CODE_10,PROD_CODE_20,PROD_CODE_30,PROD_CODE_40,CUST_CODE,CUST_PRICE_SENSITIVITY,CUST_LIFESTAGE,BASKET_ID,BASKET_SIZE,BASKET_PRICE_SENSITIVITY,BASKET_TYPE,BASKET_DOMINANT_MISSION,STORE_CODE,STORE_FORMAT,STORE_REGION\n\
            200607,20060413,5,20,1,1.03,PRD0900097,CL00001,DEP00001,G00001,D00001,CUST0000634693,LA,YF,9.94E+14,L,LA,Top Up,Fresh,STORE00001,LS,E02\n\
            200607,20060416,1,14,2,0.98,PRD0900121,CL00063,DEP00019,G00007,,,,,9.94E+14,L,MM,Top Up,Grocery,STORE00001,LS,E02\n";
        let parsed = parse_raw("raw/transactions_200607.csv", text.as_bytes());
        let bytes = write_lines(&parsed.lines).unwrap();
        assert_eq!(bytes, write_lines(&parsed.lines).unwrap(), "deterministic");
        assert_eq!(read_lines(bytes).unwrap(), parsed.lines);
        assert_eq!(
            part_key(200607, "raw/transactions_200607.csv"),
            "silver/SHOP_WEEK=200607/part-transactions_200607.parquet"
        );
        assert_eq!(week_of_key(&part_key(200607, "x.csv")), Some(200607));
    }
}
