//! Timestamp formats of database logs, parsed by hand: they are on every line, and a general
//! format-string parser would cost more than the rest of the line.
//!
//! Times without a zone (MariaDB, old MySQL) are taken as UTC, which is what RDS and Aurora
//! servers run in.

/// Microseconds since the epoch of a civil date and time in UTC.
pub fn micros(year: i64, month: u32, day: u32, hour: u32, minute: u32, second: u32, micro: u32) -> Option<i64> {
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) || hour > 23 || minute > 59 {
        return None;
    }
    if second > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(((days * 24 + hour as i64) * 60 + minute as i64) * 60_000_000 + second as i64 * 1_000_000 + micro as i64)
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The UTC day (days since the epoch) of a timestamp in microseconds.
pub fn day_of(micros: i64) -> i32 {
    micros.div_euclid(86_400_000_000) as i32
}

/// A run of ASCII digits as a number, `None` when `bytes` is empty or holds a non-digit.
pub fn digits(bytes: &[u8]) -> Option<u32> {
    if bytes.is_empty() || bytes.len() > 9 {
        return None;
    }
    bytes.iter().try_fold(0u32, |n, &b| b.is_ascii_digit().then(|| n * 10 + (b - b'0') as u32))
}

/// Digits that may be padded on the left with spaces (` 2` in `2026-11-22  2:36:02`).
fn padded(bytes: &[u8]) -> Option<u32> {
    let start = bytes.iter().position(|&b| b != b' ')?;
    digits(&bytes[start..])
}

/// A fraction of a second after the dot, as microseconds, and how many bytes it used.
fn fraction(bytes: &[u8]) -> (u32, usize) {
    let len = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    let mut micro = 0u32;
    for (i, &b) in bytes[..len].iter().enumerate().take(6) {
        micro += (b - b'0') as u32 * 10u32.pow(5 - i as u32);
    }
    (micro, len)
}

/// `HH:MM:SS` or ` H:MM:SS` at the start of `bytes`: (hour, minute, second).
fn clock(bytes: &[u8]) -> Option<(u32, u32, u32)> {
    if bytes.len() < 8 || bytes[2] != b':' || bytes[5] != b':' {
        return None;
    }
    Some((padded(&bytes[0..2])?, digits(&bytes[3..5])?, digits(&bytes[6..8])?))
}

/// `YYYY-MM-DD` then `T` or one space, then `HH:MM:SS[.ffffff]`, then optionally `Z` or
/// `±HH:MM`. MariaDB pads a one-digit hour with a space (`2026-11-22  2:36:02`).
/// Returns the time and the bytes used.
pub fn iso(bytes: &[u8]) -> Option<(i64, usize)> {
    if bytes.len() < 19 || bytes[4] != b'-' || bytes[7] != b'-' || !(bytes[10] == b'T' || bytes[10] == b' ') {
        return None;
    }
    let year = digits(&bytes[0..4])? as i64;
    let (month, day) = (digits(&bytes[5..7])?, digits(&bytes[8..10])?);
    let (hour, minute, second) = clock(&bytes[11..19])?;
    let mut used = 19;
    let mut micro = 0;
    if bytes.get(used) == Some(&b'.') {
        let (value, len) = fraction(&bytes[used + 1..]);
        micro = value;
        used += 1 + len;
    }
    let mut offset_minutes = 0i64;
    match bytes.get(used) {
        Some(b'Z') => used += 1,
        Some(&sign @ (b'+' | b'-')) if bytes.len() >= used + 6 && bytes[used + 3] == b':' => {
            let hours = digits(&bytes[used + 1..used + 3])? as i64;
            let minutes = digits(&bytes[used + 4..used + 6])? as i64;
            offset_minutes = (hours * 60 + minutes) * if sign == b'+' { 1 } else { -1 };
            used += 6;
        }
        _ => {}
    }
    let at = micros(year, month, day, hour, minute, second, micro)?;
    Some((at - offset_minutes * 60_000_000, used))
}

/// `YYMMDD HH:MM:SS` or `YYMMDD  H:MM:SS` (MySQL 5.6 and MariaDB slow, general and error
/// logs; any run of spaces is accepted between date and time, as pt-query-digest does).
/// Returns the time and the bytes used.
pub fn yymmdd(bytes: &[u8]) -> Option<(i64, usize)> {
    if bytes.len() < 14 || bytes[6] != b' ' {
        return None;
    }
    let year = 2000 + digits(&bytes[0..2])? as i64;
    let (month, day) = (digits(&bytes[2..4])?, digits(&bytes[4..6])?);
    let spaces = bytes[6..].iter().take_while(|&&b| b == b' ').count();
    let start = 6 + spaces;
    let hour_len = bytes[start..].iter().take_while(|b| b.is_ascii_digit()).count();
    if !(1..=2).contains(&hour_len) || bytes.len() < start + hour_len + 6 {
        return None;
    }
    let rest = &bytes[start + hour_len..start + hour_len + 6];
    if rest[0] != b':' || rest[3] != b':' {
        return None;
    }
    let hour = digits(&bytes[start..start + hour_len])?;
    let (minute, second) = (digits(&rest[1..3])?, digits(&rest[4..6])?);
    Some((micros(year, month, day, hour, minute, second, 0)?, start + hour_len + 6))
}

/// `YYYYMMDD HH:MM:SS` (MariaDB server_audit).
pub fn yyyymmdd(bytes: &[u8]) -> Option<(i64, usize)> {
    if bytes.len() < 17 || bytes[8] != b' ' {
        return None;
    }
    let year = digits(&bytes[0..4])? as i64;
    let (month, day) = (digits(&bytes[4..6])?, digits(&bytes[6..8])?);
    let (hour, minute, second) = clock(&bytes[9..17])?;
    Some((micros(year, month, day, hour, minute, second, 0)?, 17))
}

/// UTC offset in minutes of a time-zone abbreviation PostgreSQL writes with `%t` and `%m`, or
/// of a numeric zone (`+03`, `-0530`).
pub fn zone_offset_minutes(zone: &str) -> Option<i64> {
    let named = match zone {
        "UTC" | "GMT" | "UCT" | "Z" | "WET" => 0,
        "BST" | "CET" | "WEST" | "IST1" => 60,
        "CEST" | "EET" | "SAST" => 120,
        "EEST" | "MSK" | "AST3" => 180,
        "GST" => 240,
        "IST" => 330,
        "ICT" | "WIB" => 420,
        "CST8" | "HKT" | "SGT" | "AWST" | "PHT" => 480,
        "JST" | "KST" => 540,
        "ACST" => 570,
        "AEST" => 600,
        "ACDT" => 630,
        "AEDT" => 660,
        "NZST" => 720,
        "NZDT" => 780,
        "ADT" => -180,
        "EDT" | "AST" => -240,
        "EST" | "CDT" => -300,
        "CST" | "MDT" => -360,
        "MST" | "PDT" => -420,
        "PST" | "AKDT" => -480,
        "AKST" | "HDT" => -540,
        "HST" => -600,
        _ => return numeric_zone(zone),
    };
    Some(named)
}

fn numeric_zone(zone: &str) -> Option<i64> {
    let bytes = zone.as_bytes();
    let sign = match bytes.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let rest: Vec<u8> = bytes[1..].iter().copied().filter(|&b| b != b':').collect();
    let (hours, minutes) = match rest.len() {
        1 | 2 => (digits(&rest)?, 0),
        4 => (digits(&rest[..2])?, digits(&rest[2..])?),
        _ => return None,
    };
    Some(sign * (hours as i64 * 60 + minutes as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(text).unwrap().timestamp_micros()
    }

    #[test]
    fn iso_forms() {
        assert_eq!(iso(b"2020-08-06T14:25:02.936146Z 0 [Warning]"), Some((utc("2020-08-06T14:25:02.936146Z"), 27)));
        assert_eq!(iso(b"2018-09-07T18:45:40.098124+08:00\t2"), Some((utc("2018-09-07T10:45:40.098124Z"), 32)));
        assert_eq!(iso(b"2026-11-22  2:36:02 0 [Note]"), Some((utc("2026-11-22T02:36:02Z"), 19)));
        assert_eq!(iso(b"2021-12-03 07:14:48.591 UTC"), Some((utc("2021-12-03T07:14:48.591Z"), 23)));
        assert_eq!(iso(b"2021-02-30 07:14:48"), None);
        assert_eq!(iso(b"2021-12-03 7:14:48"), None);
    }

    #[test]
    fn short_forms() {
        assert_eq!(yymmdd(b"080721  3:04:00 [Warning]"), Some((utc("2008-07-21T03:04:00Z"), 15)));
        assert_eq!(yymmdd(b"261122 22:15:26\t"), Some((utc("2026-11-22T22:15:26Z"), 15)));
        assert_eq!(yymmdd(b"051007   21:55:24\t"), Some((utc("2005-10-07T21:55:24Z"), 17)));
        assert_eq!(yyyymmdd(b"20261122 02:36:02,vm"), Some((utc("2026-11-22T02:36:02Z"), 17)));
        assert_eq!(day_of(utc("1969-12-31T23:59:59Z")), -1);
    }

    #[test]
    fn zones() {
        assert_eq!(zone_offset_minutes("CET"), Some(60));
        assert_eq!(zone_offset_minutes("MSK"), Some(180));
        assert_eq!(zone_offset_minutes("-05"), Some(-300));
        assert_eq!(zone_offset_minutes("+0530"), Some(330));
        assert_eq!(zone_offset_minutes("XYZ"), None);
    }
}
