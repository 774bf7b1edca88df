//! Date and time functions with Trino's semantics: MySQL-style `date_parse` / `date_format`,
//! Joda-style `parse_datetime` / `format_datetime`, ISO 8601, `date_add` / `date_diff` with
//! calendar units, field extraction (`year` … `second`, ISO `day_of_week` and `week`), Unix time
//! as a double, and time zones.
//!
//! Timestamps keep their Arrow unit and zone: `date_add('day', 1, ts)` returns `ts`'s type.
//! Athena's `timestamp` is `Timestamp(Millisecond, None)`; `timestamp with time zone` is a
//! timestamp with a zone, normalised to one zone per column (Arrow keeps the zone per column,
//! Trino per value).

use std::borrow::Cow;
use std::str::FromStr;
use std::sync::Arc;

use arrow::array::timezone::Tz;
use arrow::array::{
    Array, ArrayRef, AsArray, Date32Builder, Int64Builder, PrimitiveArray, StringBuilder, TimestampMicrosecondArray,
    TimestampMillisecondBuilder,
};
use arrow::compute::kernels::temporal::DatePart;
use arrow::datatypes::{DataType, Date32Type, TimeUnit, TimestampMicrosecondType};
use chrono::{DateTime, Datelike, Months, NaiveDate, NaiveDateTime, Offset, TimeDelta, TimeZone};
use datafusion::common::{Result, ScalarValue, exec_datafusion_err, exec_err, plan_err};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult};
use datafusion::logical_expr::{Expr, ScalarUDF};

use super::timefmt::Format;
use super::{Args, Scalar, all_text, arity, cast_to, is_integer, is_text, returns, text_type};

/// Athena's `timestamp`: milliseconds, no zone.
const TIMESTAMP: DataType = DataType::Timestamp(TimeUnit::Millisecond, None);

fn timestamp_tz(zone: &str) -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some(zone.into()))
}

pub(super) fn all() -> Vec<Scalar> {
    let mut all = vec![
        Scalar::new("date_parse", |n, t| all_text(n, t, 2, 2), returns!(TIMESTAMP), date_parse),
        Scalar::new("date_format", temporal_and_text, returns!(DataType::Utf8), date_format),
        Scalar::new("format_datetime", temporal_and_text, returns!(DataType::Utf8), format_datetime),
        Scalar::new("parse_datetime", |n, t| all_text(n, t, 2, 2), returns!(timestamp_tz("UTC")), parse_datetime),
        Scalar::new(
            "from_iso8601_timestamp",
            |n, t| all_text(n, t, 1, 1),
            returns!(timestamp_tz("UTC")),
            from_iso8601_timestamp,
        ),
        Scalar::new("from_iso8601_date", |n, t| all_text(n, t, 1, 1), returns!(DataType::Date32), from_iso8601_date),
        Scalar::new("to_iso8601", one_temporal, returns!(DataType::Utf8), to_iso8601),
        Scalar::new("date_add", date_add_types, |t, _| Ok(t[2].clone()), date_add),
        Scalar::new("date_diff", date_diff_types, returns!(DataType::Int64), date_diff),
        Scalar::new("from_unixtime", from_unixtime_types, from_unixtime_returns, from_unixtime),
        Scalar::new("to_unixtime", one_temporal, returns!(DataType::Float64), to_unixtime),
        Scalar::new("at_timezone", temporal_and_text, at_timezone_returns, at_timezone),
    ];
    for (name, field) in FIELDS {
        let mut function = Scalar::new(name, one_temporal, returns!(DataType::Int64), field_body(*field));
        for (alias, of) in FIELD_ALIASES {
            if of == name {
                function = function.alias(alias);
            }
        }
        all.push(function);
    }
    all
}

// Argument checks.

fn is_temporal(t: &DataType) -> bool {
    matches!(t, DataType::Timestamp(..) | DataType::Date32 | DataType::Date64 | DataType::Null)
}

/// A timestamp or date stays as it is (a NULL becomes a timestamp).
fn temporal_type(t: &DataType) -> DataType {
    match t {
        DataType::Null => TIMESTAMP,
        DataType::Date64 => DataType::Date32,
        other => other.clone(),
    }
}

fn one_temporal(name: &str, t: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, t, 1, 1)?;
    if !is_temporal(&t[0]) {
        return plan_err!(
            "{name} takes a date or timestamp, got {}; cast text with from_iso8601_timestamp or date_parse",
            t[0]
        );
    }
    Ok(vec![temporal_type(&t[0])])
}

fn temporal_and_text(name: &str, t: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, t, 2, 2)?;
    if !is_temporal(&t[0]) || !is_text(&t[1]) {
        return plan_err!("{name} takes (timestamp, varchar), got ({}, {})", t[0], t[1]);
    }
    Ok(vec![temporal_type(&t[0]), text_type(&t[1])])
}

fn date_add_types(name: &str, t: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, t, 3, 3)?;
    if !is_text(&t[0]) || !is_integer(&t[1]) || !is_temporal(&t[2]) {
        return plan_err!("{name} takes (unit varchar, value bigint, timestamp), got ({}, {}, {})", t[0], t[1], t[2]);
    }
    Ok(vec![text_type(&t[0]), DataType::Int64, temporal_type(&t[2])])
}

fn date_diff_types(name: &str, t: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, t, 3, 3)?;
    if !is_text(&t[0]) || !is_temporal(&t[1]) || !is_temporal(&t[2]) {
        return plan_err!("{name} takes (unit varchar, timestamp, timestamp), got ({}, {}, {})", t[0], t[1], t[2]);
    }
    // Both sides in one type, so that a date and a timestamp compare.
    let common = if t[1] == t[2] { temporal_type(&t[1]) } else { DataType::Timestamp(TimeUnit::Microsecond, None) };
    Ok(vec![text_type(&t[0]), common.clone(), common])
}

fn from_unixtime_types(name: &str, t: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, t, 1, 2)?;
    if !(t[0].is_numeric() || t[0] == DataType::Null) || (t.len() == 2 && !is_text(&t[1])) {
        return plan_err!("{name} takes (unixtime double[, zone varchar]), got {t:?}");
    }
    // Whole seconds stay integers (no conversion through double); the rest is a double.
    let mut types = vec![if t[0].is_integer() { DataType::Int64 } else { DataType::Float64 }];
    if t.len() == 2 {
        types.push(text_type(&t[1]));
    }
    Ok(types)
}

fn from_unixtime_returns(t: &[DataType], scalars: &[Option<&ScalarValue>]) -> Result<DataType> {
    let zone = constant_zone(scalars.get(1).copied().flatten())?.unwrap_or_else(|| "UTC".into());
    // Whole seconds keep their unit (no multiplication); fractions are kept to the millisecond.
    let unit = if t[0].is_integer() { TimeUnit::Second } else { TimeUnit::Millisecond };
    Ok(DataType::Timestamp(unit, Some(zone.into())))
}

fn at_timezone_returns(t: &[DataType], scalars: &[Option<&ScalarValue>]) -> Result<DataType> {
    let unit = match &t[0] {
        DataType::Timestamp(unit, _) => *unit,
        _ => TimeUnit::Millisecond,
    };
    let zone = constant_zone(scalars.get(1).copied().flatten())?;
    Ok(DataType::Timestamp(unit, Some(zone.unwrap_or_else(|| "UTC".into()).into())))
}

/// Fails unless argument `n` (a zone) is a constant: the result's zone was fixed from it when
/// the query was planned, and Arrow keeps one zone per column.
fn zone_is_constant(args: &Args, n: usize, function: &str) -> Result<()> {
    if n < args.len() && args.at(n, 1) != 0 {
        return exec_err!("{function}: the time zone must be a constant such as 'Europe/Berlin'");
    }
    Ok(())
}

/// A zone argument, which must be a constant: Arrow keeps one zone per column.
fn constant_zone(scalar: Option<&ScalarValue>) -> Result<Option<String>> {
    match scalar {
        None => Ok(None),
        Some(s) if s.is_null() => Ok(None),
        Some(ScalarValue::Utf8(Some(z)) | ScalarValue::LargeUtf8(Some(z)) | ScalarValue::Utf8View(Some(z))) => {
            parse_zone(z)?;
            Ok(Some(z.clone()))
        }
        Some(other) => plan_err!("a time zone must be a constant varchar, got {other}"),
    }
}

fn parse_zone(zone: &str) -> Result<Tz> {
    Tz::from_str(zone).map_err(|_| {
        exec_datafusion_err!(
            "unknown time zone `{zone}`; use a name such as 'Europe/Berlin' or an offset such as '+01:00'"
        )
    })
}

// Reading timestamps.

/// Timestamps of any unit, read as microseconds since the epoch, with their zone.
struct Instants {
    values: TimestampMicrosecondArray,
    zone: Option<Tz>,
    zone_name: Option<String>,
    constant: bool,
}

impl Instants {
    fn new(args: &Args, n: usize) -> Result<Instants> {
        let array = args.array(n);
        let zone_name = match array.data_type() {
            DataType::Timestamp(_, zone) => zone.as_ref().map(|z| z.to_string()),
            _ => None,
        };
        let micros = cast_to(array, &DataType::Timestamp(TimeUnit::Microsecond, zone_name.clone().map(Into::into)))?;
        let values = micros.as_primitive::<TimestampMicrosecondType>().clone();
        let zone = zone_name.as_deref().map(parse_zone).transpose()?;
        Ok(Instants { values, zone, zone_name, constant: args.at(n, 1) == 0 })
    }

    fn micros(&self, row: usize) -> Option<i64> {
        let i = if self.constant { 0 } else { row };
        self.values.is_valid(i).then(|| self.values.value(i))
    }

    /// Row `row` as local date and time (in the column's zone) and that zone's offset.
    fn local(&self, row: usize) -> Option<(NaiveDateTime, i32)> {
        let utc = DateTime::from_timestamp_micros(self.micros(row)?)?.naive_utc();
        Some(match &self.zone {
            Some(zone) => {
                let offset = zone.offset_from_utc_datetime(&utc).fix().local_minus_utc();
                (utc + TimeDelta::seconds(offset as i64), offset)
            }
            None => (utc, 0),
        })
    }

    /// Local date and time back to microseconds since the epoch (the earlier instant when a
    /// daylight-saving change makes it ambiguous).
    fn to_micros(&self, local: NaiveDateTime) -> Option<i64> {
        match &self.zone {
            Some(zone) => zone.from_local_datetime(&local).earliest().map(|t| t.timestamp_micros()),
            None => Some(local.and_utc().timestamp_micros()),
        }
    }

    fn zone_label(&self) -> &str {
        self.zone_name.as_deref().unwrap_or("UTC")
    }
}

/// Collects microseconds into the result's type (`to` is a timestamp or a date).
fn micros_to(values: Vec<Option<i64>>, to: &DataType) -> Result<ArrayRef> {
    let zone = match to {
        DataType::Timestamp(_, zone) => zone.clone(),
        _ => None,
    };
    let array: ArrayRef = Arc::new(TimestampMicrosecondArray::from(values).with_timezone_opt(zone));
    cast_to(&array, to)
}

/// The format argument `n`, compiled once when it is constant, per row otherwise.
struct Formats<'a> {
    args: &'a Args,
    n: usize,
    constant: Option<Option<Format>>,
    compile: fn(&str) -> std::result::Result<Format, String>,
}

impl<'a> Formats<'a> {
    fn new(args: &'a Args, n: usize, compile: fn(&str) -> std::result::Result<Format, String>) -> Result<Formats<'a>> {
        let constant = match args.constant_text(n)? {
            Some(Some(spec)) => Some(Some(compile(spec).map_err(|e| exec_datafusion_err!("{e}"))?)),
            Some(None) => Some(None),
            None => None,
        };
        Ok(Formats { args, n, constant, compile })
    }

    fn get(&self, row: usize) -> Result<Option<Cow<'_, Format>>> {
        if let Some(constant) = &self.constant {
            return Ok(constant.as_ref().map(Cow::Borrowed));
        }
        match self.args.text(self.n)?.get(row) {
            Some(spec) => Ok(Some(Cow::Owned((self.compile)(spec).map_err(|e| exec_datafusion_err!("{e}"))?))),
            None => Ok(None),
        }
    }
}

// Bodies.

fn date_parse(args: &Args, _: &DataType) -> Result<ArrayRef> {
    let text = args.text(0)?;
    let formats = Formats::new(args, 1, Format::mysql)?;
    let mut out = TimestampMillisecondBuilder::with_capacity(args.rows);
    for row in 0..args.rows {
        match (text.get(row), formats.get(row)?) {
            (Some(s), Some(format)) => match format.parse(s) {
                Ok(parsed) => out.append_value(parsed.datetime.and_utc().timestamp_millis()),
                Err(e) => return exec_err!("date_parse: {e}"),
            },
            _ => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()))
}

fn date_format(args: &Args, _: &DataType) -> Result<ArrayRef> {
    format_with(args, Format::mysql)
}

fn format_datetime(args: &Args, _: &DataType) -> Result<ArrayRef> {
    format_with(args, Format::joda)
}

fn format_with(args: &Args, compile: fn(&str) -> std::result::Result<Format, String>) -> Result<ArrayRef> {
    let instants = Instants::new(args, 0)?;
    let formats = Formats::new(args, 1, compile)?;
    let mut out = StringBuilder::with_capacity(args.rows, args.rows * 20);
    let mut text = String::new();
    for row in 0..args.rows {
        match (instants.local(row), formats.get(row)?) {
            (Some((local, offset)), Some(format)) => {
                text.clear();
                format.format(&local, offset, instants.zone_label(), &mut text);
                out.append_value(&text);
            }
            _ => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()))
}

fn parse_datetime(args: &Args, _: &DataType) -> Result<ArrayRef> {
    let text = args.text(0)?;
    let formats = Formats::new(args, 1, Format::joda)?;
    let mut out = Vec::with_capacity(args.rows);
    for row in 0..args.rows {
        out.push(match (text.get(row), formats.get(row)?) {
            (Some(s), Some(format)) => {
                let parsed = format.parse(s).map_err(|e| exec_datafusion_err!("parse_datetime: {e}"))?;
                let offset = parsed.offset.unwrap_or(0) as i64;
                Some((parsed.datetime.and_utc().timestamp_millis()) - offset * 1000)
            }
            _ => None,
        });
    }
    Ok(Arc::new(arrow::array::TimestampMillisecondArray::from(out).with_timezone("UTC")))
}

fn from_iso8601_timestamp(args: &Args, _: &DataType) -> Result<ArrayRef> {
    let text = args.text(0)?;
    let mut out = Vec::with_capacity(args.rows);
    for row in 0..args.rows {
        out.push(match text.get(row) {
            Some(s) => Some(parse_iso_timestamp(s).ok_or_else(|| {
                exec_datafusion_err!(
                    "from_iso8601_timestamp: `{s}` is not an ISO 8601 timestamp (2020-05-11T11:15:05.123+01:00)"
                )
            })?),
            None => None,
        });
    }
    Ok(Arc::new(arrow::array::TimestampMillisecondArray::from(out).with_timezone("UTC")))
}

/// `2020-05-11`, `2020-05-11T11:15`, `2020-05-11T11:15:05.123Z`, `2020-05-11T11:15:05+01:00`
/// (no zone means UTC) as milliseconds since the epoch.
fn parse_iso_timestamp(s: &str) -> Option<i64> {
    common_iso_timestamp(s.as_bytes()).or_else(|| general_iso_timestamp(s))
}

/// The form nearly every log and export writes, `2020-05-11T11:15:05[.123][Z|+01:00]`, read
/// byte by byte without allocating; `None` sends anything else to the general parser.
fn common_iso_timestamp(b: &[u8]) -> Option<i64> {
    let digits = |at: usize, n: usize| -> Option<i64> {
        let part = b.get(at..at + n)?;
        part.iter().try_fold(0i64, |acc, d| d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0')))
    };
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (digits(0, 4)?, digits(5, 2)?, digits(8, 2)?);
    let (hour, minute, second) = (digits(11, 2)?, digits(14, 2)?, digits(17, 2)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let mut at = 19;
    let mut millis = 0;
    if b.get(at) == Some(&b'.') {
        let fraction = b[at + 1..].iter().take_while(|d| d.is_ascii_digit()).count();
        if fraction == 0 || fraction > 9 {
            return None;
        }
        let kept = fraction.min(3);
        millis = digits(at + 1, kept)? * 10i64.pow(3 - kept as u32);
        at += 1 + fraction;
    }
    let offset = match &b[at..] {
        [] | [b'Z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] | [sign @ (b'+' | b'-'), h1, h2, m1, m2] => {
            let two = |a: u8, b: u8| {
                (a.is_ascii_digit() && b.is_ascii_digit()).then(|| i64::from((a - b'0') * 10 + (b - b'0')))
            };
            let seconds = two(*h1, *h2)? * 3600 + two(*m1, *m2)? * 60;
            if *sign == b'-' { -seconds } else { seconds }
        }
        [sign @ (b'+' | b'-'), h1, h2] if h1.is_ascii_digit() && h2.is_ascii_digit() => {
            let seconds = i64::from((h1 - b'0') * 10 + (h2 - b'0')) * 3600;
            if *sign == b'-' { -seconds } else { seconds }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    Some(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis - offset * 1000)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn general_iso_timestamp(s: &str) -> Option<i64> {
    let (date, rest) = match s.find('T') {
        Some(t) => (&s[..t], Some(&s[t + 1..])),
        None => (s, None),
    };
    let date = parse_iso_date(date)?;
    let Some(rest) = rest else {
        return Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis());
    };
    let zone_at = rest.find(['Z', '+', '-']).unwrap_or(rest.len());
    let (time, zone) = rest.split_at(zone_at);
    let mut parts = time.splitn(3, ':');
    let hour: u32 = parts.next()?.parse().ok()?;
    let minute: u32 = parts.next().map_or(Some(0), |m| m.parse().ok())?;
    let (second, nanos) = match parts.next() {
        Some(sec) => {
            let (whole, fraction) = sec.split_once(['.', ',']).unwrap_or((sec, ""));
            if fraction.len() > 9 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            (whole.parse().ok()?, if fraction.is_empty() { 0 } else { format!("{fraction:0<9}").parse().ok()? })
        }
        None => (0, 0),
    };
    let local = date.and_hms_nano_opt(hour, minute, second, nanos)?;
    let offset = if zone.is_empty() { 0 } else { iso_offset(zone)? };
    Some(local.and_utc().timestamp_millis() - offset as i64 * 1000)
}

fn iso_offset(zone: &str) -> Option<i32> {
    if zone == "Z" {
        return Some(0);
    }
    let sign = if zone.starts_with('-') { -1 } else { 1 };
    let digits: String = zone[1..].chars().filter(|c| *c != ':').collect();
    let (h, m) = match digits.len() {
        2 => (digits.parse::<i32>().ok()?, 0),
        4 => (digits[..2].parse::<i32>().ok()?, digits[2..].parse::<i32>().ok()?),
        _ => return None,
    };
    Some(sign * (h * 3600 + m * 60))
}

/// `2020-05-11`, `2020-05`, `2020`, the week date `2020-W19-1` and the ordinal date `2020-132`.
fn parse_iso_date(s: &str) -> Option<NaiveDate> {
    let parts: Vec<&str> = s.split('-').collect();
    match parts.as_slice() {
        [y] => NaiveDate::from_ymd_opt(y.parse().ok()?, 1, 1),
        [y, w, d] if w.starts_with('W') => {
            let weekday = chrono::Weekday::try_from(d.parse::<u8>().ok()?.checked_sub(1)?).ok()?;
            NaiveDate::from_isoywd_opt(y.parse().ok()?, w[1..].parse().ok()?, weekday)
        }
        [y, w] if w.starts_with('W') => {
            NaiveDate::from_isoywd_opt(y.parse().ok()?, w[1..].parse().ok()?, chrono::Weekday::Mon)
        }
        [y, o] if o.len() == 3 => NaiveDate::from_yo_opt(y.parse().ok()?, o.parse().ok()?),
        [y, m] => NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, 1),
        [y, m, d] if y.len() == 4 && m.len() == 2 && d.len() == 2 => {
            NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
        }
        _ => None,
    }
}

fn from_iso8601_date(args: &Args, _: &DataType) -> Result<ArrayRef> {
    let text = args.text(0)?;
    let mut out = Date32Builder::with_capacity(args.rows);
    for row in 0..args.rows {
        match text.get(row) {
            Some(s) => {
                let date = parse_iso_date(s).ok_or_else(|| {
                    exec_datafusion_err!("from_iso8601_date: `{s}` is not an ISO 8601 date (2020-05-11)")
                })?;
                out.append_value(Date32Type::from_naive_date(date));
            }
            None => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()))
}

fn to_iso8601(args: &Args, _: &DataType) -> Result<ArrayRef> {
    let is_date = args.array(0).data_type() == &DataType::Date32;
    let instants = Instants::new(args, 0)?;
    let mut out = StringBuilder::with_capacity(args.rows, args.rows * 24);
    for row in 0..args.rows {
        match instants.local(row) {
            Some((local, _)) if is_date => out.append_value(local.format("%Y-%m-%d").to_string()),
            Some((local, offset)) => {
                let mut text = local.format("%Y-%m-%dT%H:%M:%S%.3f").to_string();
                if instants.zone.is_some() {
                    if offset == 0 {
                        text.push('Z');
                    } else {
                        let sign = if offset < 0 { '-' } else { '+' };
                        text.push_str(&format!("{sign}{:02}:{:02}", offset.abs() / 3600, offset.abs() % 3600 / 60));
                    }
                }
                out.append_value(text);
            }
            None => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()))
}

/// A unit of `date_add`, `date_diff` and `date_trunc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Millisecond,
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

impl Unit {
    fn parse(function: &str, unit: &str) -> Result<Unit> {
        Ok(match unit.to_ascii_lowercase().as_str() {
            "millisecond" => Unit::Millisecond,
            "second" => Unit::Second,
            "minute" => Unit::Minute,
            "hour" => Unit::Hour,
            "day" => Unit::Day,
            "week" => Unit::Week,
            "month" => Unit::Month,
            "quarter" => Unit::Quarter,
            "year" => Unit::Year,
            _ => {
                return exec_err!(
                    "{function}: `{unit}` is not a unit; use millisecond, second, minute, hour, day, week, month, quarter or year"
                );
            }
        })
    }

    /// The unit's length in microseconds, for units of fixed length.
    fn micros(self) -> Option<i64> {
        Some(match self {
            Unit::Millisecond => 1_000,
            Unit::Second => 1_000_000,
            Unit::Minute => 60_000_000,
            Unit::Hour => 3_600_000_000,
            Unit::Day => 86_400_000_000,
            Unit::Week => 7 * 86_400_000_000,
            Unit::Month | Unit::Quarter | Unit::Year => return None,
        })
    }

    fn months(self) -> i64 {
        match self {
            Unit::Quarter => 3,
            Unit::Year => 12,
            _ => 1,
        }
    }
}

/// The units of each row, parsed once when constant.
fn units(args: &Args, function: &str) -> Result<Vec<Option<Unit>>> {
    let text = args.text(0)?;
    if let Some(unit) = args.constant_text(0)? {
        let unit = unit.map(|u| Unit::parse(function, u)).transpose()?;
        return Ok(vec![unit; args.rows]);
    }
    (0..args.rows).map(|row| text.get(row).map(|u| Unit::parse(function, u)).transpose()).collect()
}

/// `local` moved by `n` units: calendar units in local time (across daylight saving, as Trino).
fn add(local: NaiveDateTime, unit: Unit, n: i64) -> Option<NaiveDateTime> {
    match unit.micros() {
        Some(length) if matches!(unit, Unit::Day | Unit::Week) => {
            local.checked_add_signed(TimeDelta::microseconds(length.checked_mul(n)?))
        }
        Some(_) => None,
        None => {
            let months = n.checked_mul(unit.months())?;
            let shift = Months::new(u32::try_from(months.unsigned_abs()).ok()?);
            if months >= 0 { local.checked_add_months(shift) } else { local.checked_sub_months(shift) }
        }
    }
}

fn date_add(args: &Args, returns: &DataType) -> Result<ArrayRef> {
    let units = units(args, "date_add")?;
    let amounts = args.array(1).as_primitive::<arrow::datatypes::Int64Type>();
    let instants = Instants::new(args, 2)?;
    let is_date = returns == &DataType::Date32;
    let mut out = Vec::with_capacity(args.rows);
    for (row, unit) in units.iter().enumerate() {
        let n = args.at(1, row);
        let (Some(unit), true, Some(micros)) = (unit, amounts.is_valid(n), instants.micros(row)) else {
            out.push(None);
            continue;
        };
        if is_date && unit.micros().is_some_and(|m| m < Unit::Day.micros().unwrap_or(0)) {
            return exec_err!("date_add: {unit:?} is not a valid unit for a date; cast to timestamp first");
        }
        let amount = amounts.value(n);
        let moved = match unit {
            // Fixed-length units move the instant, whatever the zone.
            Unit::Millisecond | Unit::Second | Unit::Minute | Unit::Hour => {
                unit.micros().and_then(|m| m.checked_mul(amount)).and_then(|d| micros.checked_add(d))
            }
            _ => {
                instants.local(row).and_then(|(local, _)| add(local, *unit, amount)).and_then(|l| instants.to_micros(l))
            }
        };
        match moved {
            Some(m) => out.push(Some(m)),
            None => return exec_err!("date_add: adding {amount} {unit:?} overflows"),
        }
    }
    micros_to(out, returns)
}

fn date_diff(args: &Args, _: &DataType) -> Result<ArrayRef> {
    if let Some(fast) = date_diff_fixed(args)? {
        return Ok(fast);
    }
    let units = units(args, "date_diff")?;
    let (from, to) = (Instants::new(args, 1)?, Instants::new(args, 2)?);
    let mut out = Int64Builder::with_capacity(args.rows);
    for (row, unit) in units.iter().enumerate() {
        let (Some(unit), Some(a), Some(b)) = (unit, from.micros(row), to.micros(row)) else {
            out.append_null();
            continue;
        };
        let local_days = matches!(unit, Unit::Day | Unit::Week) && (from.zone.is_some() || to.zone.is_some());
        out.append_option(match unit.micros() {
            // Fixed lengths count on the instants; days in a zone count on its calendar.
            Some(length) if !local_days => Some((b - a) / length),
            Some(length) => match (from.local(row), to.local(row)) {
                (Some((a, _)), Some((b, _))) => Some((b - a).num_microseconds().unwrap_or(i64::MAX) / length),
                _ => None,
            },
            None => match (from.local(row), to.local(row)) {
                (Some((a, _)), Some((b, _))) => Some(months_between(a, b) / unit.months()),
                _ => None,
            },
        });
    }
    Ok(Arc::new(out.finish()))
}

/// `date_diff` of a constant fixed-length unit between two columns of one zone-less type: one
/// subtraction per row on the raw values.
fn date_diff_fixed(args: &Args) -> Result<Option<ArrayRef>> {
    let (a, b) = (args.array(1), args.array(2));
    let plain = matches!(a.data_type(), DataType::Timestamp(_, None)) && a.data_type() == b.data_type();
    let unit = match args.constant_text(0)? {
        Some(Some(unit)) => Unit::parse("date_diff", unit)?,
        _ => return Ok(None),
    };
    let (Some(length), true, false, false) = (unit.micros(), plain, args.at(1, 1) == 0, args.at(2, 1) == 0) else {
        return Ok(None);
    };
    let (from, per_second) = raw_instants(a)?;
    let (to, _) = raw_instants(b)?;
    // The unit's length in the column's own unit (sub-unit lengths cannot be counted exactly).
    let length = length as f64 * per_second / 1e6;
    if length < 1.0 {
        return Ok(None);
    }
    let length = length as i64;
    let diff: PrimitiveArray<arrow::datatypes::Int64Type> =
        arrow::compute::kernels::arity::binary(&from, &to, |x, y| y.wrapping_sub(x) / length)?;
    Ok(Some(Arc::new(diff)))
}

/// Whole months from `a` to `b`, as Joda-Time counts them: a month is whole when adding it to
/// `a` does not pass `b` (January 31 plus one month is February 29 in 2020).
fn months_between(a: NaiveDateTime, b: NaiveDateTime) -> i64 {
    let mut months = (b.year() as i64 - a.year() as i64) * 12 + b.month() as i64 - a.month() as i64;
    let passes = |m: i64| match add(a, Unit::Month, m) {
        Some(moved) => {
            if m >= 0 {
                moved > b
            } else {
                moved < b
            }
        }
        None => false,
    };
    while months != 0 && passes(months) {
        months -= months.signum();
    }
    months
}

fn from_unixtime(args: &Args, returns: &DataType) -> Result<ArrayRef> {
    zone_is_constant(args, 1, "from_unixtime")?;
    use arrow::compute::kernels::arity::unary;
    use arrow::datatypes::{Float64Type, Int64Type, TimestampMillisecondType};
    let zone = match returns {
        DataType::Timestamp(_, zone) => zone.clone(),
        _ => None,
    };
    let millis: ArrayRef = match args.array(0).data_type() {
        DataType::Int64 => {
            let seconds = args.array(0).as_primitive::<Int64Type>();
            Arc::new(
                arrow::array::TimestampSecondArray::new(seconds.values().clone(), seconds.nulls().cloned())
                    .with_timezone_opt(zone),
            )
        }
        _ => {
            let millis: PrimitiveArray<TimestampMillisecondType> =
                unary(args.array(0).as_primitive::<Float64Type>(), |s| (s * 1000.0).floor() as i64);
            Arc::new(millis.with_timezone_opt(zone))
        }
    };
    // (The zone, the only other argument, is a constant: a constant instant means one row.)
    Ok(millis)
}

fn to_unixtime(args: &Args, _: &DataType) -> Result<ArrayRef> {
    use arrow::compute::kernels::arity::unary;
    // Seconds from the raw values in their own unit: no conversion of the column first.
    let (raw, per_second) = raw_instants(args.array(0))?;
    let seconds: PrimitiveArray<arrow::datatypes::Float64Type> = unary(&raw, |v| v as f64 / per_second);
    Ok(Arc::new(seconds))
}

/// A timestamp or date column's raw values and how many of them make a second.
fn raw_instants(array: &ArrayRef) -> Result<(PrimitiveArray<arrow::datatypes::Int64Type>, f64)> {
    let per_second = match array.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => 1.0,
        DataType::Timestamp(TimeUnit::Millisecond, _) => 1e3,
        DataType::Timestamp(TimeUnit::Microsecond, _) => 1e6,
        DataType::Timestamp(TimeUnit::Nanosecond, _) => 1e9,
        _ => {
            let micros = cast_to(array, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
            let data = micros.to_data().into_builder().data_type(DataType::Int64).build()?;
            return Ok((PrimitiveArray::from(data), 1e6));
        }
    };
    let data = array.to_data().into_builder().data_type(DataType::Int64).build()?;
    Ok((PrimitiveArray::from(data), per_second))
}

fn at_timezone(args: &Args, returns: &DataType) -> Result<ArrayRef> {
    zone_is_constant(args, 1, "at_timezone")?;
    // The instant stays; only the zone it is shown in changes (a cast between zones would move
    // the wall-clock time instead).
    let DataType::Timestamp(unit, zone) = returns else {
        return exec_err!("at_timezone returns a timestamp, not {returns}");
    };
    let current_zone = match args.array(0).data_type() {
        DataType::Timestamp(_, zone) => zone.clone(),
        _ => None,
    };
    let same_unit = cast_to(args.array(0), &DataType::Timestamp(*unit, current_zone))?;
    let data = same_unit.to_data().into_builder().data_type(DataType::Timestamp(*unit, zone.clone())).build()?;
    Ok(arrow::array::make_array(data))
}

// Fields.

#[derive(Debug, Clone, Copy)]
enum Field {
    Year,
    Quarter,
    Month,
    Week,
    YearOfWeek,
    Day,
    DayOfWeek,
    DayOfYear,
    Hour,
    Minute,
    Second,
    Millisecond,
}

const FIELDS: &[(&str, Field)] = &[
    ("year", Field::Year),
    ("quarter", Field::Quarter),
    ("month", Field::Month),
    ("week", Field::Week),
    ("year_of_week", Field::YearOfWeek),
    ("day", Field::Day),
    ("day_of_week", Field::DayOfWeek),
    ("day_of_year", Field::DayOfYear),
    ("hour", Field::Hour),
    ("minute", Field::Minute),
    ("second", Field::Second),
    ("millisecond", Field::Millisecond),
];

/// Trino's other names: (alias, function).
const FIELD_ALIASES: &[(&str, &str)] = &[
    ("week_of_year", "week"),
    ("yow", "year_of_week"),
    ("day_of_month", "day"),
    ("dow", "day_of_week"),
    ("doy", "day_of_year"),
];

/// `EXTRACT(field FROM x)` as Trino plans it: the field's own function (`year(x)`,
/// `day_of_week(x)`, …), a bigint by Trino's calendar (ISO weeks, Monday = 1), computed on dates
/// and zone-less timestamps by calendar arithmetic. DataFusion's `date_part` gives an Int32 and
/// counts Sunday as 0. Fields Trino lacks (epoch, isodow, millisecond, …) are left to DataFusion.
#[derive(Debug)]
pub struct ExtractPlanner;

impl ExprPlanner for ExtractPlanner {
    fn plan_extract(&self, args: Vec<Expr>) -> Result<PlannerResult<Vec<Expr>>> {
        let field = match args.as_slice() {
            [Expr::Literal(ScalarValue::Utf8(Some(field)), _), _] => field.to_ascii_lowercase(),
            _ => return Ok(PlannerResult::Original(args)),
        };
        let name = match field.as_str() {
            "dow" | "dayofweek" => "day_of_week",
            "doy" | "dayofyear" => "day_of_year",
            "yow" => "year_of_week",
            "day_of_month" => "day",
            "week_of_year" => "week",
            "millisecond" => return Ok(PlannerResult::Original(args)),
            other => other,
        };
        let Some((name, field)) = FIELDS.iter().find(|(n, _)| *n == name) else {
            return Ok(PlannerResult::Original(args));
        };
        let function = Scalar::new(name, extract_types, returns!(DataType::Int64), field_body(*field));
        let value = args.into_iter().nth(1).expect("two arguments matched above");
        let call = ScalarFunction::new_udf(Arc::new(ScalarUDF::new_from_impl(function)), vec![value]);
        Ok(PlannerResult::Planned(Expr::ScalarFunction(call)))
    }
}

/// EXTRACT's argument: a date, timestamp, time or interval.
fn extract_types(name: &str, t: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, t, 1, 1)?;
    match &t[0] {
        DataType::Time32(_) | DataType::Time64(_) | DataType::Interval(_) | DataType::Duration(_) => {
            Ok(vec![t[0].clone()])
        }
        other if is_temporal(other) => Ok(vec![temporal_type(other)]),
        other => plan_err!("EXTRACT({name} FROM …) takes a date, timestamp, time or interval, got {other}"),
    }
}

/// The Arrow kernel part that computes `field` (in the column's zone, ISO weeks).
fn date_part(field: Field) -> DatePart {
    match field {
        Field::Year => DatePart::Year,
        Field::Quarter => DatePart::Quarter,
        Field::Month => DatePart::Month,
        Field::Week => DatePart::WeekISO,
        Field::YearOfWeek => DatePart::YearISO,
        Field::Day => DatePart::Day,
        Field::DayOfWeek => DatePart::DayOfWeekMonday1,
        Field::DayOfYear => DatePart::DayOfYear,
        Field::Hour => DatePart::Hour,
        Field::Minute => DatePart::Minute,
        Field::Second => DatePart::Second,
        Field::Millisecond => DatePart::Millisecond,
    }
}

/// Days since the epoch and the time of day in microseconds, for dates and zone-less timestamps.
fn extract_plain(array: &ArrayRef, field: Field) -> Result<Option<ArrayRef>> {
    use arrow::compute::kernels::arity::unary;
    use arrow::datatypes::Int64Type;
    if matches!(field, Field::Week | Field::YearOfWeek) {
        return Ok(None);
    }
    let split = |to_micros: fn(i64) -> i64| {
        move |v: i64| {
            let micros = to_micros(v);
            (micros.div_euclid(86_400_000_000), micros.rem_euclid(86_400_000_000))
        }
    };
    let value = move |(days, micros): (i64, i64)| -> i64 {
        match field {
            Field::Hour => micros / 3_600_000_000,
            Field::Minute => micros / 60_000_000 % 60,
            Field::Second => micros / 1_000_000 % 60,
            Field::Millisecond => micros / 1_000 % 1_000,
            Field::DayOfWeek => (days + 3).rem_euclid(7) + 1,
            _ => {
                let (year, month, day) = civil_from_days(days);
                match field {
                    Field::Year => year,
                    Field::Quarter => (month - 1) / 3 + 1,
                    Field::Month => month,
                    Field::Day => day,
                    _ => days - days_from_civil(year, 1, 1) + 1,
                }
            }
        }
    };
    let out: PrimitiveArray<Int64Type> = match array.data_type() {
        DataType::Date32 => {
            // Dates repeat in runs (a load day, a partition's date): a run's field is computed once.
            let dates = array.as_primitive::<Date32Type>();
            let mut last: Option<(i32, i64)> = None;
            let fields: Vec<i64> = dates
                .values()
                .iter()
                .map(|&d| match last {
                    Some((day, field)) if day == d => field,
                    _ => {
                        let field = value((i64::from(d), 0));
                        last = Some((d, field));
                        field
                    }
                })
                .collect();
            PrimitiveArray::new(fields.into(), dates.nulls().cloned())
        }
        DataType::Timestamp(unit, None) => {
            let to_micros: fn(i64) -> i64 = match unit {
                TimeUnit::Second => |v| v.saturating_mul(1_000_000),
                TimeUnit::Millisecond => |v| v.saturating_mul(1_000),
                TimeUnit::Microsecond => |v| v,
                TimeUnit::Nanosecond => |v| v.div_euclid(1_000),
            };
            let split = split(to_micros);
            // The same buffers read as plain integers, whatever the timestamp's unit.
            let raw = array.to_data().into_builder().data_type(DataType::Int64).build()?;
            unary(&PrimitiveArray::<Int64Type>::from(raw), |v| value(split(v)))
        }
        _ => return Ok(None),
    };
    Ok(Some(Arc::new(out)))
}

/// The proleptic Gregorian (year, month, day) of a day number (days since 1970-01-01): by Neri
/// and Schneider's 32-bit algorithm ("Euclidean affine functions and their application to
/// calendar algorithms", 2022) for the years about -32800 to 2.9 million, by Howard Hinnant's
/// `civil_from_days` beyond.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    const SHIFT: u32 = 82;
    const K: i64 = 719_468 + 146_097 * SHIFT as i64;
    const L: u32 = 400 * SHIFT;
    if !(-K..1_061_042_400).contains(&days) {
        return civil_from_days_wide(days);
    }
    let n = (days + K) as u32;
    let n1 = 4 * n + 3;
    let century = n1 / 146_097;
    let nc = n1 % 146_097 / 4;
    let p2 = 2_939_745u64 * u64::from(4 * nc + 3);
    let z = (p2 >> 32) as u32;
    let ny = (p2 as u32) / 2_939_745 / 4;
    let year = 100 * century + z;
    let n3 = 2141 * ny + 197_913;
    let (month, day) = (n3 >> 16, (n3 & 0xFFFF) / 2141);
    let january_or_february = ny >= 306;
    let year = i64::from(year) - i64::from(L) + i64::from(january_or_february);
    let month = if january_or_february { month - 12 } else { month };
    (year, i64::from(month), i64::from(day) + 1)
}

/// Howard Hinnant's `civil_from_days`, for any day number.
fn civil_from_days_wide(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The day number of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn field_body(field: Field) -> fn(&Args, &DataType) -> Result<ArrayRef> {
    macro_rules! body {
        ($field:expr) => {
            |args: &Args, _: &DataType| extract(args, $field)
        };
    }
    match field {
        Field::Year => body!(Field::Year),
        Field::Quarter => body!(Field::Quarter),
        Field::Month => body!(Field::Month),
        Field::Week => body!(Field::Week),
        Field::YearOfWeek => body!(Field::YearOfWeek),
        Field::Day => body!(Field::Day),
        Field::DayOfWeek => body!(Field::DayOfWeek),
        Field::DayOfYear => body!(Field::DayOfYear),
        Field::Hour => body!(Field::Hour),
        Field::Minute => body!(Field::Minute),
        Field::Second => body!(Field::Second),
        Field::Millisecond => body!(Field::Millisecond),
    }
}

/// `field` of every row as bigint: by calendar arithmetic on the raw values for dates and
/// zone-less timestamps, by Arrow's kernel (which applies the zone) otherwise.
fn extract(args: &Args, field: Field) -> Result<ArrayRef> {
    if let Some(fast) = extract_plain(args.array(0), field)? {
        return Ok(fast);
    }
    let parts = arrow::compute::kernels::temporal::date_part(args.array(0).as_ref(), date_part(field))?;
    let parts = cast_to(&parts, &DataType::Int64)?;
    let parts = if matches!(field, Field::Millisecond) {
        // Milliseconds within the second, whatever the kernel counts.
        Arc::new(arrow::compute::kernels::arity::unary::<_, _, arrow::datatypes::Int64Type>(
            parts.as_primitive::<arrow::datatypes::Int64Type>(),
            |ms| ms % 1000,
        )) as ArrayRef
    } else {
        parts
    };
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{try_value, type_of, value};

    #[tokio::test]
    async fn extract_gives_trino_s_bigint_fields() {
        assert_eq!(value("SELECT extract(year FROM DATE '2020-05-11')").await, "2020");
        assert_eq!(type_of("SELECT extract(year FROM DATE '2020-05-11')").await, "Int64");
        assert_eq!(type_of("SELECT extract(MONTH FROM TIMESTAMP '2020-05-11 01:02:03')").await, "Int64");
        // Sunday is 7, as in Trino (DataFusion's date_part says 0).
        assert_eq!(value("SELECT extract(dow FROM DATE '2020-05-10')").await, "7");
        assert_eq!(value("SELECT extract(day_of_week FROM DATE '2020-05-10')").await, "7");
        assert_eq!(value("SELECT extract(doy FROM DATE '2020-05-10')").await, "131");
        // ISO weeks: 2021-01-03 is in week 53 of 2020.
        assert_eq!(value("SELECT extract(week FROM DATE '2021-01-03')").await, "53");
        assert_eq!(value("SELECT extract(yow FROM DATE '2021-01-03')").await, "2020");
        assert_eq!(value("SELECT extract(day FROM DATE '2021-02-28')").await, "28");
        assert_eq!(value("SELECT extract(quarter FROM TIMESTAMP '2021-05-03 00:00:00 UTC')").await, "2");
        assert_eq!(value("SELECT extract(second FROM TIMESTAMP '2020-05-11 01:02:03.5')").await, "3");
        // A zoned timestamp's fields are its zone's.
        assert_eq!(
            value("SELECT extract(hour FROM at_timezone(TIMESTAMP '2020-05-11 18:30:00', 'Asia/Kolkata'))").await,
            "0"
        );
        assert_eq!(value("SELECT extract(year FROM CAST(NULL AS DATE))").await, "NULL");
        // A column of dates in runs, with NULLs inside a run: each row gets its own date's field.
        let months = "SELECT string_agg(COALESCE(CAST(extract(month FROM d) AS VARCHAR), 'null'), ',' ORDER BY i) \
            FROM (VALUES (1, DATE '2020-05-11'), (2, DATE '2020-05-11'), (3, NULL), (4, DATE '2020-05-11'), \
            (5, DATE '2020-06-01'), (6, DATE '2020-06-01'), (7, DATE '2020-05-11')) AS t(i, d)";
        assert_eq!(value(months).await, "5,5,null,5,6,6,5");
        // Times and intervals, and fields Trino lacks, are DataFusion's.
        assert_eq!(value("SELECT extract(hour FROM TIME '13:04:05')").await, "13");
        assert_eq!(value("SELECT extract(day FROM INTERVAL '3' DAY)").await, "3");
        assert_eq!(value("SELECT extract(epoch FROM DATE '2020-05-11')").await, "1589155200.0");
        let text = try_value("SELECT extract(year FROM 'x')").await.unwrap_err();
        assert!(text.contains("EXTRACT(year FROM …) takes a date, timestamp, time or interval, got Utf8"), "{text}");
    }

    #[tokio::test]
    async fn parse_and_format_as_trino_documents() {
        assert_eq!(value("SELECT date_parse('2020-05-11 11:15:05', '%Y-%m-%d %H:%i:%s')").await, "2020-05-11T11:15:05");
        assert_eq!(type_of("SELECT date_parse('2020', '%Y')").await, "Timestamp(ms)");
        assert_eq!(
            value("SELECT date_format(TIMESTAMP '2020-05-11 11:15:05', '%W %D %M %Y %r')").await,
            "Monday 11th May 2020 11:15:05 AM"
        );
        assert_eq!(
            value("SELECT format_datetime(TIMESTAMP '2020-05-11 11:15:05', 'yyyy-MM-dd HH:mm:ss EEE')").await,
            "2020-05-11 11:15:05 Mon"
        );
        assert_eq!(
            value("SELECT parse_datetime('2020-05-11 11:15 +0200', 'yyyy-MM-dd HH:mm Z')").await,
            "2020-05-11T09:15:00Z"
        );
        assert_eq!(value("SELECT date_format(CAST(NULL AS TIMESTAMP), '%Y')").await, "NULL");
        let err = try_value("SELECT date_parse('2020-13-01', '%Y-%m-%d')").await.unwrap_err();
        assert!(err.contains("date_parse") && err.contains("2020-13-01"), "{err}");
    }

    #[test]
    fn both_calendar_algorithms_agree() {
        let edges = [-719_468 - 146_097 * 82, -719_468, -1, 0, 59, 60, 11_016, 1_061_042_399];
        let sweep = (-800_000..800_000).step_by(7);
        for days in edges.into_iter().chain(sweep) {
            assert_eq!(super::civil_from_days(days), super::civil_from_days_wide(days), "{days}");
        }
        assert_eq!(super::civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn the_quick_iso_reader_agrees_with_the_general_one() {
        for text in [
            "2020-05-11T11:15:05.123+01:00",
            "2020-05-11T11:15:05Z",
            "2020-05-11T11:15:05",
            "2020-02-29T23:59:59.9-0530",
            "1969-12-31T23:59:58.250Z",
            "2000-01-01T00:00:00.123456789+14",
            "1900-03-01T00:00:00-12:00",
        ] {
            let quick = super::common_iso_timestamp(text.as_bytes());
            assert!(quick.is_some(), "{text}");
            assert_eq!(quick, super::general_iso_timestamp(text), "{text}");
        }
        for bad in ["2021-02-29T00:00:00", "2020-05-11T24:00:00", "2020-05-11T11:15:05+1"] {
            assert_eq!(super::parse_iso_timestamp(bad), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn iso_8601_in_and_out() {
        assert_eq!(
            value("SELECT from_iso8601_timestamp('2020-05-11T11:15:05.123+01:00')").await,
            "2020-05-11T10:15:05.123Z"
        );
        assert_eq!(value("SELECT from_iso8601_timestamp('2020-05-11')").await, "2020-05-11T00:00:00Z");
        assert_eq!(value("SELECT from_iso8601_date('2020-W10-1')").await, "2020-03-02");
        assert_eq!(value("SELECT from_iso8601_date('2020-05-11')").await, "2020-05-11");
        assert_eq!(
            value("SELECT to_iso8601(from_iso8601_timestamp('2020-05-11T11:15:05Z'))").await,
            "2020-05-11T11:15:05.000Z"
        );
        assert_eq!(value("SELECT to_iso8601(DATE '2020-05-11')").await, "2020-05-11");
        assert!(try_value("SELECT from_iso8601_date('11/05/2020')").await.is_err());
    }

    #[tokio::test]
    async fn date_add_and_diff_follow_the_calendar() {
        assert_eq!(value("SELECT date_add('month', 1, DATE '2020-01-31')").await, "2020-02-29", "leap day");
        assert_eq!(value("SELECT date_add('year', 1, DATE '2020-02-29')").await, "2021-02-28");
        assert_eq!(value("SELECT date_add('day', -1, DATE '2020-03-01')").await, "2020-02-29");
        assert_eq!(value("SELECT date_add('hour', 3, TIMESTAMP '2020-05-11 23:00:00')").await, "2020-05-12T02:00:00");
        assert_eq!(
            value("SELECT date_add('quarter', 1, TIMESTAMP '2020-11-30 10:00:00')").await,
            "2021-02-28T10:00:00"
        );
        assert!(try_value("SELECT date_add('hour', 1, DATE '2020-01-01')").await.is_err());
        assert!(
            try_value("SELECT date_add('fortnight', 1, DATE '2020-01-01')").await.unwrap_err().contains("fortnight")
        );
        assert_eq!(value("SELECT date_diff('day', DATE '2020-02-01', DATE '2020-03-01')").await, "29");
        assert_eq!(value("SELECT date_diff('month', DATE '2020-01-31', DATE '2020-02-29')").await, "1");
        assert_eq!(value("SELECT date_diff('month', DATE '2020-01-30', DATE '2020-02-28')").await, "0");
        assert_eq!(value("SELECT date_diff('year', DATE '2021-02-28', DATE '2020-02-29')").await, "0");
        assert_eq!(
            value("SELECT date_diff('hour', TIMESTAMP '2020-05-11 10:00:00', TIMESTAMP '2020-05-11 07:30:00')").await,
            "-2"
        );
        assert_eq!(value("SELECT date_diff('second', DATE '2020-01-01', TIMESTAMP '2020-01-01 00:01:00')").await, "60");
    }

    #[tokio::test]
    async fn fields_are_iso() {
        let ts = "TIMESTAMP '2021-01-01 13:14:15.678'";
        for (f, want) in [
            ("year", "2021"),
            ("quarter", "1"),
            ("month", "1"),
            ("week", "53"),
            ("year_of_week", "2020"),
            ("day", "1"),
            ("day_of_week", "5"),
            ("dow", "5"),
            ("day_of_year", "1"),
            ("hour", "13"),
            ("minute", "14"),
            ("second", "15"),
            ("millisecond", "678"),
        ] {
            assert_eq!(value(&format!("SELECT {f}({ts})")).await, want, "{f}");
        }
        assert_eq!(value("SELECT year(DATE '2020-02-29')").await, "2020");
        assert_eq!(value("SELECT day_of_year(DATE '2020-12-31')").await, "366");
        assert_eq!(type_of("SELECT year(DATE '2020-02-29')").await, "Int64");
    }

    #[test]
    fn calendar_arithmetic_agrees_with_chrono() {
        use chrono::Datelike;
        for days in (-800_000..800_000).step_by(997) {
            let date = chrono::NaiveDate::from_num_days_from_ce_opt(719_163 + days as i32).unwrap();
            let (y, m, d) = super::civil_from_days(days);
            assert_eq!((y, m, d), (date.year() as i64, date.month() as i64, date.day() as i64), "{days}");
            assert_eq!(super::days_from_civil(y, m, d), days);
        }
    }

    #[tokio::test]
    async fn fields_of_zoned_and_plain_values_agree() {
        for f in
            ["year", "quarter", "month", "day", "day_of_week", "day_of_year", "hour", "minute", "second", "millisecond"]
        {
            let plain = value(&format!("SELECT {f}(TIMESTAMP '1969-12-31 23:59:58.250')")).await;
            let zoned =
                value(&format!("SELECT {f}(at_timezone(from_iso8601_timestamp('1969-12-31T23:59:58.250Z'), 'UTC'))"))
                    .await;
            assert_eq!(plain, zoned, "{f}");
        }
        assert_eq!(value("SELECT day_of_year(DATE '1969-12-31')").await, "365");
        for unit in ["s", "ms", "us", "ns"] {
            let sql = format!(
                "SELECT year(ts), month(ts), second(ts), millisecond(ts) FROM (SELECT arrow_cast(TIMESTAMP '1999-12-31 23:59:58.750', 'Timestamp({unit}, None)') AS ts)"
            );
            let year = value(&sql).await;
            assert_eq!(year, "1999", "{unit}");
        }
    }

    #[tokio::test]
    async fn unix_time_is_a_double_and_zones_convert() {
        assert_eq!(value("SELECT from_unixtime(1589195705.5)").await, "2020-05-11T11:15:05.500Z");
        assert_eq!(value("SELECT from_unixtime(1589195705)").await, "2020-05-11T11:15:05Z");
        assert_eq!(value("SELECT to_unixtime(TIMESTAMP '2020-05-11 11:15:05.500')").await, "1589195705.5");
        assert_eq!(type_of("SELECT to_unixtime(TIMESTAMP '2020-05-11 11:15:05')").await, "Float64");
        assert_eq!(
            value("SELECT hour(at_timezone(from_iso8601_timestamp('2020-07-01T12:00:00Z'), 'Europe/Berlin'))").await,
            "14",
            "summer time"
        );
        assert_eq!(
            value("SELECT format_datetime(at_timezone(from_unixtime(0), 'America/New_York'), 'yyyy-MM-dd HH:mm ZZ')")
                .await,
            "1969-12-31 19:00 -05:00"
        );
        assert!(
            try_value("SELECT at_timezone(from_unixtime(0), 'Mars/Base')").await.unwrap_err().contains("Mars/Base")
        );
    }
}
