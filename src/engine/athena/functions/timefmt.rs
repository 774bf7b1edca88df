//! Date and time formats as Trino reads and writes them: MySQL specifiers (`date_parse`,
//! `date_format`: `%Y-%m-%d %H:%i:%s`) and Joda-Time patterns (`parse_datetime`,
//! `format_datetime`: `yyyy-MM-dd HH:mm:ss`).
//!
//! Both compile to one list of [`Item`]s, formatted and parsed by the same code, so the two
//! syntaxes cannot drift apart. A format is compiled once per batch, not per row.

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

/// A numeric field of a date and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Num {
    Year,
    /// Two-digit year; parsing maps 70–99 to 1970–1999 and 00–69 to 2000–2069.
    Year2,
    Month,
    Day,
    DayOfYear,
    Hour24,
    /// 1–12.
    Hour12,
    /// Joda `k`: 1–24.
    ClockHour24,
    /// Joda `K`: 0–11.
    Hour11,
    Minute,
    Second,
    /// ISO day of week, Monday = 1.
    DayOfWeek,
    /// ISO week of the week-based year.
    IsoWeek,
    /// ISO week-based year.
    IsoWeekYear,
}

/// A textual field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Word {
    MonthName,
    MonthAbbr,
    WeekdayName,
    WeekdayAbbr,
    AmPm,
    /// Day of month with an English suffix (`1st`); formatting only.
    DaySuffix,
}

/// How a time zone is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Zone {
    /// `+0100`
    Offset,
    /// `+01:00`
    OffsetColon,
    /// The zone's name (`Europe/Berlin`, `UTC`).
    Name,
}

/// One element of a compiled format.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Literal(String),
    /// A number written with at least `width` digits.
    Num(Num, usize),
    Word(Word),
    /// Fraction of a second: `digits` written; up to 9 read.
    Fraction(usize),
    Zone(Zone),
}

/// A compiled date and time format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    items: Vec<Item>,
}

/// What parsing a string gave: the local date and time, and the offset from UTC in seconds when
/// the string has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parsed {
    pub datetime: NaiveDateTime,
    pub offset: Option<i32>,
}

impl Format {
    /// Compiles a MySQL format (`%Y-%m-%d`), as `date_parse` and `date_format` take it.
    pub fn mysql(spec: &str) -> Result<Format, String> {
        let mut items = Vec::new();
        let mut chars = spec.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                push_literal(&mut items, c);
                continue;
            }
            let Some(s) = chars.next() else {
                push_literal(&mut items, '%');
                break;
            };
            let item = match s {
                'a' => Item::Word(Word::WeekdayAbbr),
                'b' => Item::Word(Word::MonthAbbr),
                'c' => Item::Num(Num::Month, 1),
                'D' => Item::Word(Word::DaySuffix),
                'd' => Item::Num(Num::Day, 2),
                'e' => Item::Num(Num::Day, 1),
                'f' => Item::Fraction(6),
                'H' => Item::Num(Num::Hour24, 2),
                'h' | 'I' => Item::Num(Num::Hour12, 2),
                'i' => Item::Num(Num::Minute, 2),
                'j' => Item::Num(Num::DayOfYear, 3),
                'k' => Item::Num(Num::Hour24, 1),
                'l' => Item::Num(Num::Hour12, 1),
                'M' => Item::Word(Word::MonthName),
                'm' => Item::Num(Num::Month, 2),
                'p' => Item::Word(Word::AmPm),
                'r' => {
                    items.extend([
                        Item::Num(Num::Hour12, 2),
                        Item::Literal(":".into()),
                        Item::Num(Num::Minute, 2),
                        Item::Literal(":".into()),
                        Item::Num(Num::Second, 2),
                        Item::Literal(" ".into()),
                        Item::Word(Word::AmPm),
                    ]);
                    continue;
                }
                'S' | 's' => Item::Num(Num::Second, 2),
                'T' => {
                    items.extend([
                        Item::Num(Num::Hour24, 2),
                        Item::Literal(":".into()),
                        Item::Num(Num::Minute, 2),
                        Item::Literal(":".into()),
                        Item::Num(Num::Second, 2),
                    ]);
                    continue;
                }
                'v' => Item::Num(Num::IsoWeek, 2),
                'W' => Item::Word(Word::WeekdayName),
                'x' => Item::Num(Num::IsoWeekYear, 4),
                'Y' => Item::Num(Num::Year, 4),
                'y' => Item::Num(Num::Year2, 2),
                'U' | 'u' | 'V' | 'w' | 'X' => {
                    return Err(format!(
                        "the format specifier %{s} is not supported (as in Athena); use %v and %x for ISO weeks"
                    ));
                }
                other => {
                    push_literal(&mut items, other);
                    continue;
                }
            };
            items.push(item);
        }
        Ok(Format { items })
    }

    /// Compiles a Joda-Time pattern (`yyyy-MM-dd'T'HH:mm:ss`), as `format_datetime` and
    /// `parse_datetime` take it.
    pub fn joda(pattern: &str) -> Result<Format, String> {
        let mut items = Vec::new();
        let chars: Vec<char> = pattern.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == '\'' {
                // '' is a quote; 'text' is literal text.
                if chars.get(i + 1) == Some(&'\'') {
                    push_literal(&mut items, '\'');
                    i += 2;
                    continue;
                }
                let mut j = i + 1;
                while j < chars.len() {
                    if chars[j] == '\'' {
                        if chars.get(j + 1) == Some(&'\'') {
                            push_literal(&mut items, '\'');
                            j += 2;
                            continue;
                        }
                        break;
                    }
                    push_literal(&mut items, chars[j]);
                    j += 1;
                }
                if j >= chars.len() {
                    return Err(format!("unterminated quote in the pattern `{pattern}`"));
                }
                i = j + 1;
                continue;
            }
            if !c.is_ascii_alphabetic() {
                push_literal(&mut items, c);
                i += 1;
                continue;
            }
            let mut n = 1;
            while chars.get(i + n) == Some(&c) {
                n += 1;
            }
            i += n;
            let item = match c {
                'y' | 'Y' | 'u' => {
                    if n == 2 {
                        Item::Num(Num::Year2, 2)
                    } else {
                        Item::Num(Num::Year, n)
                    }
                }
                'x' => Item::Num(Num::IsoWeekYear, n),
                'w' => Item::Num(Num::IsoWeek, n),
                'e' => Item::Num(Num::DayOfWeek, n),
                'E' => Item::Word(if n >= 4 { Word::WeekdayName } else { Word::WeekdayAbbr }),
                'D' => Item::Num(Num::DayOfYear, n),
                'M' => match n {
                    1 | 2 => Item::Num(Num::Month, n),
                    3 => Item::Word(Word::MonthAbbr),
                    _ => Item::Word(Word::MonthName),
                },
                'd' => Item::Num(Num::Day, n),
                'a' => Item::Word(Word::AmPm),
                'K' => Item::Num(Num::Hour11, n),
                'h' => Item::Num(Num::Hour12, n),
                'H' => Item::Num(Num::Hour24, n),
                'k' => Item::Num(Num::ClockHour24, n),
                'm' => Item::Num(Num::Minute, n),
                's' => Item::Num(Num::Second, n),
                'S' => Item::Fraction(n.min(9)),
                'Z' => Item::Zone(match n {
                    1 => Zone::Offset,
                    2 => Zone::OffsetColon,
                    _ => Zone::Name,
                }),
                'z' => Item::Zone(Zone::Name),
                other => return Err(format!("the pattern letter `{other}` in `{pattern}` is not supported")),
            };
            items.push(item);
        }
        Ok(Format { items })
    }

    /// Writes `datetime` (local time at `offset` seconds east of UTC, in zone `zone`) to `out`.
    pub fn format(&self, datetime: &NaiveDateTime, offset: i32, zone: &str, out: &mut String) {
        use std::fmt::Write;
        for item in &self.items {
            match item {
                Item::Literal(text) => out.push_str(text),
                Item::Num(num, width) => {
                    let value = field(datetime, *num);
                    if value < 0 {
                        let _ = write!(out, "-{:0width$}", -value, width = *width);
                    } else {
                        let _ = write!(out, "{value:0width$}", width = *width);
                    }
                }
                Item::Word(word) => write_word(datetime, *word, out),
                Item::Fraction(digits) => {
                    let nanos = datetime.nanosecond() % 1_000_000_000;
                    let text = format!("{nanos:09}");
                    // Trino keeps milliseconds: %f prints 123000 for .123456.
                    let millis_then_zeros: String =
                        text.chars().take(3).chain(std::iter::repeat('0')).take(*digits).collect();
                    out.push_str(&millis_then_zeros);
                }
                Item::Zone(style) => write_zone(offset, zone, *style, out),
            }
        }
    }

    /// Parses `input` with this format. Fields the format lacks default to 1970-01-01 00:00:00.
    pub fn parse(&self, input: &str) -> Result<Parsed, String> {
        let mut fields = Fields::default();
        let mut rest = input;
        for (n, item) in self.items.iter().enumerate() {
            let next_is_number = matches!(self.items.get(n + 1), Some(Item::Num(..) | Item::Fraction(_)));
            rest = match item {
                Item::Literal(text) => rest.strip_prefix(text.as_str()).ok_or_else(|| mismatch(input, rest))?,
                Item::Num(num, width) => {
                    let max = if next_is_number { (*width).max(1) } else { max_digits(*num) };
                    let (value, after) =
                        read_number(rest, max, *num == Num::Year).ok_or_else(|| mismatch(input, rest))?;
                    fields.set(*num, value);
                    after
                }
                Item::Fraction(digits) => {
                    let max = if next_is_number { *digits } else { 9 };
                    let len = rest.bytes().take(max).take_while(u8::is_ascii_digit).count();
                    if len == 0 {
                        return Err(mismatch(input, rest));
                    }
                    let text = format!("{:0<9}", &rest[..len]);
                    fields.nanos = text.parse().map_err(|_| mismatch(input, rest))?;
                    &rest[len..]
                }
                Item::Word(word) => read_word(rest, *word, &mut fields).ok_or_else(|| mismatch(input, rest))?,
                Item::Zone(_) => {
                    let (offset, after) = read_zone(rest).ok_or_else(|| mismatch(input, rest))?;
                    fields.offset = Some(offset);
                    after
                }
            };
        }
        if !rest.is_empty() {
            return Err(format!("invalid format: `{input}` is malformed at `{rest}`"));
        }
        fields
            .build()
            .map(|datetime| Parsed { datetime, offset: fields.offset })
            .ok_or_else(|| format!("`{input}` is not a valid date and time"))
    }
}

fn push_literal(items: &mut Vec<Item>, c: char) {
    if let Some(Item::Literal(text)) = items.last_mut() {
        text.push(c);
    } else {
        items.push(Item::Literal(c.to_string()));
    }
}

fn mismatch(input: &str, rest: &str) -> String {
    if rest.is_empty() {
        format!("invalid format: `{input}` is too short")
    } else {
        format!("invalid format: `{input}` is malformed at `{rest}`")
    }
}

fn field(dt: &NaiveDateTime, num: Num) -> i64 {
    let hour = dt.hour() as i64;
    match num {
        Num::Year => dt.year() as i64,
        Num::Year2 => (dt.year() as i64).rem_euclid(100),
        Num::Month => dt.month() as i64,
        Num::Day => dt.day() as i64,
        Num::DayOfYear => dt.ordinal() as i64,
        Num::Hour24 => hour,
        Num::Hour12 => (hour + 11) % 12 + 1,
        Num::ClockHour24 => {
            if hour == 0 {
                24
            } else {
                hour
            }
        }
        Num::Hour11 => hour % 12,
        Num::Minute => dt.minute() as i64,
        Num::Second => dt.second() as i64,
        Num::DayOfWeek => dt.weekday().number_from_monday() as i64,
        Num::IsoWeek => dt.iso_week().week() as i64,
        Num::IsoWeekYear => dt.iso_week().year() as i64,
    }
}

fn write_word(dt: &NaiveDateTime, word: Word, out: &mut String) {
    let weekday = WEEKDAYS[dt.weekday().num_days_from_monday() as usize];
    let month = MONTHS[dt.month0() as usize];
    match word {
        Word::MonthName => out.push_str(month),
        Word::MonthAbbr => out.push_str(&month[..3]),
        Word::WeekdayName => out.push_str(weekday),
        Word::WeekdayAbbr => out.push_str(&weekday[..3]),
        Word::AmPm => out.push_str(if dt.hour() < 12 { "AM" } else { "PM" }),
        Word::DaySuffix => {
            let day = dt.day();
            let suffix = match (day % 10, day % 100) {
                (_, 11..=13) => "th",
                (1, _) => "st",
                (2, _) => "nd",
                (3, _) => "rd",
                _ => "th",
            };
            out.push_str(&format!("{day}{suffix}"));
        }
    }
}

fn write_zone(offset: i32, zone: &str, style: Zone, out: &mut String) {
    let sign = if offset < 0 { '-' } else { '+' };
    let (h, m) = (offset.abs() / 3600, offset.abs() % 3600 / 60);
    match style {
        Zone::Offset => out.push_str(&format!("{sign}{h:02}{m:02}")),
        Zone::OffsetColon => out.push_str(&format!("{sign}{h:02}:{m:02}")),
        Zone::Name => out.push_str(zone),
    }
}

fn max_digits(num: Num) -> usize {
    match num {
        Num::Year | Num::IsoWeekYear => 9,
        Num::DayOfYear => 3,
        Num::DayOfWeek => 1,
        _ => 2,
    }
}

/// Reads 1 to `max` digits (and a sign for years) from the start of `s`.
fn read_number(s: &str, max: usize, signed: bool) -> Option<(i64, &str)> {
    let (negative, digits) = match s.strip_prefix('-') {
        Some(rest) if signed => (true, rest),
        _ => (false, s),
    };
    let len = digits.bytes().take(max).take_while(u8::is_ascii_digit).count();
    if len == 0 {
        return None;
    }
    let value: i64 = digits[..len].parse().ok()?;
    Some((if negative { -value } else { value }, &digits[len..]))
}

/// Reads a word (case-insensitive) into `fields`.
fn read_word<'a>(s: &'a str, word: Word, fields: &mut Fields) -> Option<&'a str> {
    let starts = |candidate: &str| s.get(..candidate.len()).is_some_and(|head| head.eq_ignore_ascii_case(candidate));
    match word {
        Word::MonthName | Word::MonthAbbr => {
            let (i, name) = MONTHS.iter().enumerate().find_map(|(i, m)| {
                let name = if word == Word::MonthName { *m } else { &m[..3] };
                starts(name).then_some((i, name))
            })?;
            fields.month = Some(i as i64 + 1);
            Some(&s[name.len()..])
        }
        Word::WeekdayName | Word::WeekdayAbbr => {
            let name =
                WEEKDAYS.iter().map(|d| if word == Word::WeekdayName { *d } else { &d[..3] }).find(|d| starts(d))?;
            Some(&s[name.len()..])
        }
        Word::AmPm => {
            let pm = if starts("AM") {
                false
            } else if starts("PM") {
                true
            } else {
                return None;
            };
            fields.pm = Some(pm);
            Some(&s[2..])
        }
        Word::DaySuffix => None,
    }
}

/// Reads `Z`, `UTC`, `+01:00`, `+0100` or `+01`; returns seconds east of UTC. (Zone names such
/// as `Europe/Berlin` are not read: their offset depends on the date.)
fn read_zone(s: &str) -> Option<(i32, &str)> {
    if let Some(rest) = s.strip_prefix('Z') {
        return Some((0, rest));
    }
    if let Some(rest) = s.strip_prefix("UTC").or_else(|| s.strip_prefix("GMT")) {
        if !rest.starts_with(['+', '-']) {
            return Some((0, rest));
        }
        return read_zone(rest);
    }
    let sign = match s.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits = &s[1..];
    let hours: i32 = digits.get(..2)?.parse().ok()?;
    let mut rest = &digits[2..];
    let mut minutes = 0;
    if let Some(after) = rest.strip_prefix(':') {
        minutes = after.get(..2)?.parse().ok()?;
        rest = &after[2..];
    } else if rest.len() >= 2 && rest.as_bytes()[..2].iter().all(u8::is_ascii_digit) {
        minutes = rest[..2].parse().ok()?;
        rest = &rest[2..];
    }
    Some((sign * (hours * 3600 + minutes * 60), rest))
}

/// Fields read so far.
#[derive(Debug, Default)]
struct Fields {
    year: Option<i64>,
    year2: Option<i64>,
    month: Option<i64>,
    day: Option<i64>,
    day_of_year: Option<i64>,
    hour: Option<i64>,
    hour12: Option<i64>,
    pm: Option<bool>,
    minute: i64,
    second: i64,
    nanos: u32,
    iso_week: Option<i64>,
    iso_year: Option<i64>,
    day_of_week: Option<i64>,
    offset: Option<i32>,
}

impl Fields {
    fn set(&mut self, num: Num, value: i64) {
        match num {
            Num::Year => self.year = Some(value),
            Num::Year2 => self.year2 = Some(value),
            Num::Month => self.month = Some(value),
            Num::Day => self.day = Some(value),
            Num::DayOfYear => self.day_of_year = Some(value),
            Num::Hour24 => self.hour = Some(value),
            Num::ClockHour24 => self.hour = Some(value % 24),
            Num::Hour12 => self.hour12 = Some(value % 12),
            Num::Hour11 => self.hour12 = Some(value),
            Num::Minute => self.minute = value,
            Num::Second => self.second = value,
            Num::DayOfWeek => self.day_of_week = Some(value),
            Num::IsoWeek => self.iso_week = Some(value),
            Num::IsoWeekYear => self.iso_year = Some(value),
        }
    }

    fn build(&self) -> Option<NaiveDateTime> {
        let year = match (self.year, self.year2) {
            (Some(y), _) => y,
            (None, Some(y)) => {
                if y < 70 {
                    2000 + y
                } else {
                    1900 + y
                }
            }
            (None, None) => 1970,
        };
        let year = i32::try_from(year).ok()?;
        let date = if let (Some(week), Some(iso_year)) = (self.iso_week, self.iso_year) {
            let weekday = chrono::Weekday::try_from(u8::try_from(self.day_of_week.unwrap_or(1) - 1).ok()?).ok()?;
            NaiveDate::from_isoywd_opt(i32::try_from(iso_year).ok()?, u32::try_from(week).ok()?, weekday)?
        } else if let Some(ordinal) = self.day_of_year {
            NaiveDate::from_yo_opt(year, u32::try_from(ordinal).ok()?)?
        } else {
            let month = u32::try_from(self.month.unwrap_or(1)).ok()?;
            let day = u32::try_from(self.day.unwrap_or(1)).ok()?;
            NaiveDate::from_ymd_opt(year, month, day)?
        };
        let hour = match (self.hour, self.hour12, self.pm) {
            (Some(h), _, _) => h,
            (None, Some(h), pm) => h + if pm == Some(true) { 12 } else { 0 },
            (None, None, Some(true)) => 12,
            (None, None, _) => 0,
        };
        let time = NaiveTime::from_hms_nano_opt(
            u32::try_from(hour).ok()?,
            u32::try_from(self.minute).ok()?,
            u32::try_from(self.second).ok()?,
            self.nanos,
        )?;
        Some(date.and_time(time))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").unwrap()
    }

    fn mysql(format: &str, dt: &str) -> String {
        let mut out = String::new();
        Format::mysql(format).unwrap().format(&at(dt), 0, "UTC", &mut out);
        out
    }

    #[test]
    fn mysql_formats_as_trino_documents() {
        assert_eq!(mysql("%Y-%m-%d %H:%i:%s", "2020-05-11 11:15:05"), "2020-05-11 11:15:05");
        assert_eq!(mysql("%a %b %e %l%p, %W %M %D", "2020-05-03 15:04:05"), "Sun May 3 3PM, Sunday May 3rd");
        assert_eq!(mysql("%f", "2020-05-11 11:15:05.123456"), "123000", "milliseconds, as Trino");
        assert_eq!(
            mysql("%j %v %x %y %c %k %r %T %%", "2021-01-01 00:00:00"),
            "001 53 2020 21 1 0 12:00:00 AM 00:00:00 %"
        );
        assert!(Format::mysql("%U").unwrap_err().contains("not supported"));
    }

    #[test]
    fn mysql_parses_with_defaults_and_two_digit_years() {
        let parse = |s: &str, f: &str| Format::mysql(f).unwrap().parse(s).map(|p| p.datetime);
        assert_eq!(parse("2020-05-11 11:15:05", "%Y-%m-%d %H:%i:%s").unwrap(), at("2020-05-11 11:15:05"));
        assert_eq!(parse("10:20", "%H:%i").unwrap(), at("1970-01-01 10:20:00"));
        assert_eq!(parse("69-1-2", "%y-%c-%e").unwrap(), at("2069-01-02 00:00:00"));
        assert_eq!(parse("70-1-2", "%y-%c-%e").unwrap(), at("1970-01-02 00:00:00"));
        assert_eq!(parse("20200229", "%Y%m%d").unwrap(), at("2020-02-29 00:00:00"));
        assert_eq!(parse("May 3 2020 3:04:05 pm", "%b %e %Y %l:%i:%s %p").unwrap(), at("2020-05-03 15:04:05"));
        assert_eq!(parse("12:00:01.5", "%H:%i:%s.%f").unwrap(), at("1970-01-01 12:00:01.5"));
        assert!(parse("20190229", "%Y%m%d").is_err(), "not a leap year");
        assert!(parse("2020-05-11x", "%Y-%m-%d").unwrap_err().contains("malformed at `x`"));
    }

    #[test]
    fn joda_patterns_format_and_parse() {
        let format = Format::joda("yyyy-MM-dd'T'HH:mm:ss.SSS Z EEE MMM h a ''").unwrap();
        let mut out = String::new();
        format.format(&at("2020-05-11 14:15:05.123"), 3600, "Europe/Berlin", &mut out);
        assert_eq!(out, "2020-05-11T14:15:05.123 +0100 Mon May 2 PM '");
        let parsed = Format::joda("yyyy-MM-dd HH:mm:ss ZZ").unwrap().parse("2020-05-11 14:15:05 -05:30").unwrap();
        assert_eq!(parsed.datetime, at("2020-05-11 14:15:05"));
        assert_eq!(parsed.offset, Some(-(5 * 3600 + 30 * 60)));
        assert!(Format::joda("yyyy 'open").is_err());
        assert!(Format::joda("q").is_err());
    }
}
