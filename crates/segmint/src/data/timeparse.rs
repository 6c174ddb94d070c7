//! Timestamps written the user's way: strftime formats, epoch seconds or milliseconds, and local
//! times in a named time zone, converted to UTC microseconds.
//!
//! Local times are converted with the IANA rules of the zone (chrono-tz): a time that occurs
//! twice when the clocks go back is the earlier instant; a time skipped when the clocks go
//! forward is read one hour later (pandas' `nonexistent="shift_forward"` for the usual one-hour
//! gap).

use chrono::{NaiveDate, NaiveDateTime, TimeZone as _};

use crate::data::mapping::{TimeFormat, TimeZone};
use crate::data::timestamp::{parse_timestamp_parts, US_PER_DAY};

/// How one timestamp or date column is read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TimeParse {
    /// The format; `None`: the built-in ISO forms.
    pub format: Option<TimeFormat>,
    /// The zone of times without an offset; `None`: UTC.
    pub zone: Option<TimeZone>,
}

/// Checks that a strftime format is one chrono understands.
pub fn check_format(format: &str) -> Result<(), String> {
    use chrono::format::{Item, StrftimeItems};
    if StrftimeItems::new(format).any(|i| matches!(i, Item::Error)) {
        return Err(format!(
            "{format:?} has an unknown % specifier (see chrono's strftime: %Y %m %d %H %M %S %b %z ...)"
        ));
    }
    Ok(())
}

impl TimeParse {
    /// Whether it reads differently from the built-in forms.
    pub fn is_custom(&self) -> bool {
        self.format.is_some() || self.zone.is_some()
    }

    /// Whether integers are read as epoch times.
    pub fn is_epoch(&self) -> bool {
        matches!(
            self.format,
            Some(TimeFormat::EpochSeconds | TimeFormat::EpochMillis)
        )
    }

    /// A text value as UTC microseconds; the error says which format it failed.
    pub fn timestamp_us(&self, s: &str) -> Result<i64, String> {
        let t = s.trim();
        match &self.format {
            None => {
                let (local, offset) = parse_timestamp_parts(t).ok_or_else(|| {
                    "unparseable timestamp (expected e.g. 2024-03-06, 2024-03-06 12:05:49[.ffffff][Z] or RFC 3339; name another form with --timestamp-format)".to_string()
                })?;
                match (offset, self.zone) {
                    (Some(off_min), _) => Ok(local - off_min * 60_000_000),
                    (None, None) => Ok(local),
                    (None, Some(z)) => localize_us(local, z),
                }
            }
            Some(TimeFormat::EpochSeconds) => epoch(t, 1_000_000, "epoch_s"),
            Some(TimeFormat::EpochMillis) => epoch(t, 1_000, "epoch_ms"),
            Some(TimeFormat::Strftime(f)) => self.strftime_us(t, f),
        }
    }

    /// An integer value (a Parquet integer column) read as an epoch time.
    pub fn epoch_us(&self, v: i64) -> Option<i64> {
        match self.format {
            Some(TimeFormat::EpochSeconds) => v.checked_mul(1_000_000),
            Some(TimeFormat::EpochMillis) => v.checked_mul(1_000),
            _ => None,
        }
    }

    /// A zone-less timestamp (microseconds of local time) as UTC microseconds.
    pub fn local_us(&self, local: i64) -> Result<i64, String> {
        match self.zone {
            Some(z) => localize_us(local, z),
            None => Ok(local),
        }
    }

    /// A text value as a day (days since 1970-01-01).
    pub fn day(&self, s: &str) -> Result<i64, String> {
        match &self.format {
            Some(TimeFormat::Strftime(f)) => {
                let t = s.trim();
                if let Ok(d) = NaiveDate::parse_from_str(t, f) {
                    return Ok(days_of(d));
                }
                NaiveDateTime::parse_from_str(t, f)
                    .map(|dt| days_of(dt.date()))
                    .map_err(|e| format!("does not match the format {f:?} ({e})"))
            }
            _ => self.timestamp_us(s).map(|us| us.div_euclid(US_PER_DAY)),
        }
    }

    fn strftime_us(&self, t: &str, f: &str) -> Result<i64, String> {
        if let Ok(dt) = chrono::DateTime::parse_from_str(t, f) {
            return Ok(dt.timestamp_micros());
        }
        let naive = match NaiveDateTime::parse_from_str(t, f) {
            Ok(dt) => dt,
            Err(e) => match NaiveDate::parse_from_str(t, f) {
                Ok(d) => d.and_hms_opt(0, 0, 0).expect("midnight exists"),
                Err(_) => return Err(format!("does not match the format {f:?} ({e})")),
            },
        };
        let local = naive.and_utc().timestamp_micros();
        self.local_us(local)
    }
}

fn days_of(d: NaiveDate) -> i64 {
    d.and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
        .timestamp()
        .div_euclid(86_400)
}

fn epoch(t: &str, scale: i64, name: &str) -> Result<i64, String> {
    let v: i64 = crate::data::reader::parse_int(t).map_err(|_| {
        format!(
            "not an integer ({name} expects whole {})",
            if scale == 1_000 {
                "milliseconds"
            } else {
                "seconds"
            }
        )
    })?;
    v.checked_mul(scale)
        .ok_or_else(|| "timestamp out of range".to_string())
}

/// Local wall-clock microseconds in `zone` as UTC microseconds.
fn localize_us(local: i64, zone: TimeZone) -> Result<i64, String> {
    let secs = local.div_euclid(1_000_000);
    let sub = local.rem_euclid(1_000_000);
    let naive = chrono::DateTime::from_timestamp(secs, 0)
        .ok_or_else(|| "timestamp out of range".to_string())?
        .naive_utc();
    let resolved = match zone.0.from_local_datetime(&naive) {
        chrono::LocalResult::Single(dt) => Some(dt),
        chrono::LocalResult::Ambiguous(earlier, _) => Some(earlier),
        chrono::LocalResult::None => zone
            .0
            .from_local_datetime(&(naive + chrono::Duration::hours(1)))
            .earliest(),
    };
    resolved
        .map(|dt| dt.timestamp() * 1_000_000 + sub)
        .ok_or_else(|| format!("this local time does not exist in {}", zone.0.name()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::timestamp::parse_timestamp_us;

    fn with(format: Option<&str>, zone: Option<&str>) -> TimeParse {
        TimeParse {
            format: format.map(|f| TimeFormat::parse(f).unwrap()),
            zone: zone.map(|z| TimeZone::parse(z).unwrap()),
        }
    }

    #[test]
    fn formats() {
        let utc = |s| parse_timestamp_us(s).unwrap();
        assert_eq!(
            with(Some("%Y%m%d"), None).timestamp_us("19970101"),
            Ok(utc("1997-01-01"))
        );
        assert_eq!(
            with(Some("%m/%d/%Y %H:%M"), None).timestamp_us("12/1/2010 8:26"),
            Ok(utc("2010-12-01 08:26:00"))
        );
        assert_eq!(
            with(Some("%d.%m.%Y %H:%M:%S"), None).timestamp_us("06.03.2024 12:05:49"),
            Ok(utc("2024-03-06 12:05:49"))
        );
        assert_eq!(
            with(Some("%Y-%m-%d %H:%M:%S%z"), None).timestamp_us("2024-03-06 12:00:00+0100"),
            Ok(utc("2024-03-06 11:00:00"))
        );
        assert_eq!(
            with(Some("epoch_s"), None).timestamp_us("1709726749"),
            Ok(utc("2024-03-06 12:05:49"))
        );
        assert_eq!(
            with(Some("epoch_ms"), None).timestamp_us("1709726749000"),
            Ok(utc("2024-03-06 12:05:49"))
        );
        assert_eq!(with(Some("%Y%m%d"), None).day("19970102"), Ok(9863));
        let e = with(Some("%Y%m%d"), None)
            .timestamp_us("1997-01-01")
            .unwrap_err();
        assert!(e.contains("does not match the format \"%Y%m%d\""), "{e}");
        assert!(with(Some("epoch_s"), None).timestamp_us("1.5e9").is_err());
        assert!(check_format("%Y-%Q").is_err());
    }

    #[test]
    fn zones() {
        let utc = |s| parse_timestamp_us(s).unwrap();
        let london = with(None, Some("Europe/London"));
        // British Summer Time (UTC+1) in July, GMT in January
        assert_eq!(
            london.timestamp_us("2011-07-01 10:00:00"),
            Ok(utc("2011-07-01 09:00:00"))
        );
        assert_eq!(
            london.timestamp_us("2011-01-01 10:00:00"),
            Ok(utc("2011-01-01 10:00:00"))
        );
        // an explicit offset wins over the zone
        assert_eq!(
            london.timestamp_us("2011-07-01 10:00:00Z"),
            Ok(utc("2011-07-01 10:00:00"))
        );
        // 2011-03-27 01:30 does not exist in London (clocks 01:00 -> 02:00): read as 02:30 BST
        assert_eq!(
            london.timestamp_us("2011-03-27 01:30:00"),
            Ok(utc("2011-03-27 01:30:00"))
        );
        // 2011-10-30 01:30 happens twice: the earlier (BST) instant
        assert_eq!(
            london.timestamp_us("2011-10-30 01:30:00"),
            Ok(utc("2011-10-30 00:30:00"))
        );
        let ny = with(Some("%m/%d/%Y %H:%M"), Some("America/New_York"));
        assert_eq!(
            ny.timestamp_us("12/1/2010 8:26"),
            Ok(utc("2010-12-01 13:26:00"))
        );
    }
}
