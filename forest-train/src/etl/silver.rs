//! Silver: the raw lines, typed, one Parquet file per (shop week, raw file)
//! under `silver/SHOP_WEEK=<week>/`, plus each raw file's rejects as CSV
//! under `silver/_rejects/`.

use std::sync::{Arc, OnceLock};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type};
use arrow_array::{ArrayRef, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};

use super::parquet_io::{from_parquet, to_parquet};
use super::raw::{Line, Reject, RAW_COLUMNS};

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

/// Column types: the raw columns typed, then the line's provenance.
pub fn schema() -> &'static Arc<Schema> {
    static SCHEMA: OnceLock<Arc<Schema>> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let mut fields: Vec<Field> = RAW_COLUMNS
            .iter()
            .map(|&name| {
                let (dt, nullable) = match name {
                    "SHOP_WEEK" | "SHOP_DATE" | "SHOP_WEEKDAY" | "SHOP_HOUR" | "QUANTITY" => {
                        (DataType::Int32, false)
                    }
                    "SPEND" => (DataType::Float64, false),
                    "PROD_CODE_40" | "CUST_CODE" | "CUST_PRICE_SENSITIVITY" | "CUST_LIFESTAGE" => {
                        (DataType::Utf8, true)
                    }
                    _ => (DataType::Utf8, false),
                };
                Field::new(name, dt, nullable)
            })
            .collect();
        fields.push(Field::new("SOURCE_FILE", DataType::Utf8, false));
        fields.push(Field::new("SOURCE_LINE", DataType::Int64, false));
        Arc::new(Schema::new(fields))
    })
}

/// Lines to Parquet bytes.
pub fn write_lines(lines: &[Line]) -> Result<Vec<u8>, String> {
    let int = |f: fn(&Line) -> i32| -> ArrayRef {
        Arc::new(Int32Array::from_iter_values(lines.iter().map(f)))
    };
    let text = |f: fn(&Line) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(lines.iter().map(f)))
    };
    let opt = |f: fn(&Line) -> Option<&str>| -> ArrayRef {
        Arc::new(StringArray::from_iter(lines.iter().map(f)))
    };
    let columns: Vec<ArrayRef> = vec![
        int(|l| l.shop_week),
        int(|l| l.shop_date),
        int(|l| l.shop_weekday),
        int(|l| l.shop_hour),
        int(|l| l.quantity),
        Arc::new(Float64Array::from_iter_values(
            lines.iter().map(|l| l.spend),
        )),
        text(|l| &l.prod_code),
        text(|l| &l.prod_code_10),
        text(|l| &l.prod_code_20),
        text(|l| &l.prod_code_30),
        opt(|l| l.prod_code_40.as_deref()),
        opt(|l| l.cust_code.as_deref()),
        opt(|l| l.cust_price_sensitivity.as_deref()),
        opt(|l| l.cust_lifestage.as_deref()),
        text(|l| &l.basket_id),
        text(|l| &l.basket_size),
        text(|l| &l.basket_price_sensitivity),
        text(|l| &l.basket_type),
        text(|l| &l.basket_dominant_mission),
        text(|l| &l.store_code),
        text(|l| &l.store_format),
        text(|l| &l.store_region),
        text(|l| &l.source_file),
        Arc::new(Int64Array::from_iter_values(
            lines.iter().map(|l| l.source_line as i64),
        )),
    ];
    let batch = RecordBatch::try_new(schema().clone(), columns).map_err(|e| e.to_string())?;
    to_parquet(&batch)
}

/// Parquet bytes of a silver part back to lines.
pub fn read_lines(bytes: Vec<u8>) -> Result<Vec<Line>, String> {
    use arrow_array::Array;
    let batch = from_parquet(bytes, schema())?;
    // Each column downcast once, not once a row.
    let int = |c: usize| batch.column(c).as_primitive::<Int32Type>();
    let text = |c: usize| batch.column(c).as_string::<i32>();
    let [week, date, weekday, hour, quantity] = [0, 1, 2, 3, 4].map(int);
    let spend = batch.column(5).as_primitive::<Float64Type>();
    let [prod, prod_10, prod_20, prod_30, prod_40, cust, cust_sensitivity, lifestage] =
        [6, 7, 8, 9, 10, 11, 12, 13].map(text);
    let [basket_id, size, label, basket_type, mission, store, format, region, file] =
        [14, 15, 16, 17, 18, 19, 20, 21, 22].map(text);
    let line_no = batch.column(23).as_primitive::<Int64Type>();
    let opt = |a: &StringArray, i: usize| a.is_valid(i).then(|| a.value(i).to_string());
    Ok((0..batch.num_rows())
        .map(|i| Line {
            shop_week: week.value(i),
            shop_date: date.value(i),
            shop_weekday: weekday.value(i),
            shop_hour: hour.value(i),
            quantity: quantity.value(i),
            spend: spend.value(i),
            prod_code: prod.value(i).to_string(),
            prod_code_10: prod_10.value(i).to_string(),
            prod_code_20: prod_20.value(i).to_string(),
            prod_code_30: prod_30.value(i).to_string(),
            prod_code_40: opt(prod_40, i),
            cust_code: opt(cust, i),
            cust_price_sensitivity: opt(cust_sensitivity, i),
            cust_lifestage: opt(lifestage, i),
            basket_id: basket_id.value(i).to_string(),
            basket_size: size.value(i).to_string(),
            basket_price_sensitivity: label.value(i).to_string(),
            basket_type: basket_type.value(i).to_string(),
            basket_dominant_mission: mission.value(i).to_string(),
            store_code: store.value(i).to_string(),
            store_format: format.value(i).to_string(),
            store_region: region.value(i).to_string(),
            source_file: file.value(i).to_string(),
            source_line: line_no.value(i) as u64,
        })
        .collect())
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
