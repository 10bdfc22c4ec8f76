//! Shop weeks and dates. A shop week `YYYYWW` has 52 weeks a year and
//! starts on a Monday; weeks are counted as ordinals (weeks since year 0
//! week 01) so that week 52 is followed by week 01 of the next year. Dates
//! are day counts since 1970-01-01, written `YYYYMMDD` with dunnhumby's
//! weekday numbering (1 = Sunday).

use super::{SynthError, ANCHOR_MONDAY, ANCHOR_WEEK, WEEKS_PER_YEAR};

/// Weeks since year 0 week 01 of a `YYYYWW` code.
pub(super) fn week_ordinal(code: u32) -> Result<u64, SynthError> {
    let (year, week) = (code / 100, code % 100);
    if !(1601..=9999).contains(&year) || !(1..=WEEKS_PER_YEAR).contains(&week) {
        return Err(SynthError::BadWeek(code));
    }
    Ok(year as u64 * WEEKS_PER_YEAR as u64 + (week as u64 - 1))
}

pub(super) fn week_from_ordinal(ord: u64) -> u32 {
    let year = ord / WEEKS_PER_YEAR as u64;
    let week = ord % WEEKS_PER_YEAR as u64 + 1;
    (year * 100 + week) as u32
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01 (H. Hinnant's
/// `civil_from_days`).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// dunnhumby's `SHOP_WEEKDAY` of a day count: 1 = Sunday .. 7 = Saturday.
pub fn dunnhumby_weekday(days: i64) -> u32 {
    // 1970-01-01 was a Thursday (5).
    ((days + 4).rem_euclid(7) + 1) as u32
}

/// Day count of the Monday that starts a shop week.
pub(super) fn week_monday(ord: u64) -> i64 {
    let (y, m, d) = ANCHOR_MONDAY;
    let anchor_ord = week_ordinal(ANCHOR_WEEK).expect("valid anchor");
    days_from_civil(y, m, d) + 7 * (ord as i64 - anchor_ord as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::tests::{all_rows, config, DATE, WEEK, WEEKDAY};
    use crate::synth::SynthConfig;

    #[test]
    fn calendar_matches_dunnhumby() {
        // The real file: 20060413 is weekday 5, 20060416 weekday 1 (Sunday),
        // week 200607 runs Monday 20060410 .. Sunday 20060416.
        assert_eq!(dunnhumby_weekday(days_from_civil(2006, 4, 13)), 5);
        assert_eq!(dunnhumby_weekday(days_from_civil(2006, 4, 16)), 1);
        assert_eq!(dunnhumby_weekday(days_from_civil(2006, 4, 10)), 2);
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        for z in -800_000..800_000 {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        let ord = week_ordinal(200_607).unwrap();
        assert_eq!(civil_from_days(week_monday(ord)), (2006, 4, 10));
        // Week 52 is followed by week 01 of the next year, seven days later.
        let cfg = SynthConfig {
            first_week: 200_651,
            ..config(0, 3, 1)
        };
        assert_eq!(
            (0..3).map(|i| cfg.shop_week(i)).collect::<Vec<_>>(),
            [200_651, 200_652, 200_701]
        );
        assert_eq!(cfg.file_name(2), "transactions_200701.csv");
        let o = week_ordinal(200_652).unwrap();
        assert_eq!(week_monday(o + 1) - week_monday(o), 7);
        assert!(week_ordinal(200_653).is_err() && week_ordinal(200_600).is_err());

        // Every row's date falls in its shop week and its weekday fits.
        let rows = all_rows(&SynthConfig {
            first_week: 200_651,
            ..config(3, 3, 300)
        });
        for r in &rows {
            let date: u32 = r[DATE].parse().unwrap();
            let day = days_from_civil((date / 10_000) as i64, date / 100 % 100, date % 100);
            let monday = week_monday(week_ordinal(r[WEEK].parse().unwrap()).unwrap());
            assert!((monday..monday + 7).contains(&day), "{r:?}");
            assert_eq!(dunnhumby_weekday(day).to_string(), r[WEEKDAY]);
        }
    }
}
