//! String, regular-expression and URL functions with Trino's semantics: `split` with a limit,
//! `split_part` and `strpos` as Trino counts, `substr` with negative positions, `concat` that is
//! NULL when an argument is, `regexp_replace` replacing every match with `$1` references,
//! `regexp_extract`, `regexp_extract_all`, `regexp_split`, `codepoint` and `url_extract_*`.
//!
//! Patterns use Rust's regex syntax, which matches Java's (Trino's) for everything but
//! look-around and back-references; those are refused with a message when the pattern is
//! compiled.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Builder, ListBuilder, StringBuilder};
use arrow::datatypes::{DataType, Field, Int64Type};
use datafusion::common::{Result, exec_datafusion_err, exec_err, plan_err};
use regex::Regex;

use super::{Args, Scalar, Text, all_text, arity, is_integer, is_text, returns, text_type};

fn text_list() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)))
}

pub(super) fn all() -> Vec<Scalar> {
    vec![
        Scalar::new("split", text_text_int, returns!(text_list()), split),
        Scalar::new("split_part", text_text_int, returns!(DataType::Utf8), split_part),
        Scalar::new("strpos", text_text_int, returns!(DataType::Int64), strpos),
        Scalar::new("substr", text_int_int, returns!(DataType::Utf8), substr).alias("substring"),
        Scalar::new("concat", concat_types, returns!(DataType::Utf8), concat),
        Scalar::new("codepoint", one_text, returns!(DataType::Int64), codepoint),
        Scalar::new("regexp_extract", text_text_int, returns!(DataType::Utf8), regexp_extract),
        Scalar::new("regexp_extract_all", text_text_int, returns!(text_list()), regexp_extract_all),
        Scalar::new("regexp_replace", |n, t| all_text(n, t, 2, 4), returns!(DataType::Utf8), regexp_replace),
        Scalar::new("regexp_split", |n, t| all_text(n, t, 2, 2), returns!(text_list()), regexp_split),
        Scalar::new("url_extract_host", one_text, returns!(DataType::Utf8), |a, _| url_part(a, UrlPart::Host)),
        Scalar::new("url_extract_path", one_text, returns!(DataType::Utf8), |a, _| url_part(a, UrlPart::Path)),
        Scalar::new("url_extract_protocol", one_text, returns!(DataType::Utf8), |a, _| url_part(a, UrlPart::Protocol)),
        Scalar::new("url_extract_query", one_text, returns!(DataType::Utf8), |a, _| url_part(a, UrlPart::Query)),
        Scalar::new("url_extract_fragment", one_text, returns!(DataType::Utf8), |a, _| url_part(a, UrlPart::Fragment)),
        Scalar::new("url_extract_port", one_text, returns!(DataType::Int64), url_port),
        Scalar::new("url_extract_parameter", |n, t| all_text(n, t, 2, 2), returns!(DataType::Utf8), url_parameter),
    ]
}

/// (varchar)
fn one_text(name: &str, t: &[DataType]) -> Result<Vec<DataType>> {
    all_text(name, t, 1, 1)
}

/// (varchar, varchar[, bigint])
fn text_text_int(name: &str, t: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, t, 2, 3)?;
    if !is_text(&t[0]) || !is_text(&t[1]) || (t.len() == 3 && !is_integer(&t[2])) {
        return plan_err!("{name} takes (varchar, varchar[, bigint]), got {t:?}");
    }
    let mut types = vec![text_type(&t[0]), text_type(&t[1])];
    if t.len() == 3 {
        types.push(DataType::Int64);
    }
    Ok(types)
}

/// (varchar, bigint[, bigint])
fn text_int_int(name: &str, t: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, t, 2, 3)?;
    if !is_text(&t[0]) || !t[1..].iter().all(is_integer) {
        return plan_err!("{name} takes (varchar, bigint[, bigint]), got {t:?}");
    }
    let mut types = vec![text_type(&t[0])];
    types.extend(std::iter::repeat_n(DataType::Int64, t.len() - 1));
    Ok(types)
}

fn concat_types(name: &str, t: &[DataType]) -> Result<Vec<DataType>> {
    if t.is_empty() {
        return plan_err!("{name} takes at least one argument");
    }
    if t.iter().any(|t| matches!(t, DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..))) {
        return plan_err!("{name} of arrays: write array_concat(a, b) or a || b");
    }
    // Anything that is not text is written as text, as Trino does for concat's varchar form.
    Ok(t.iter().map(|t| if is_text(t) { text_type(t) } else { DataType::Utf8 }).collect())
}

/// An optional integer argument, downcast once per batch.
struct Ints<'a> {
    array: Option<&'a arrow::array::Int64Array>,
    constant: bool,
}

impl<'a> Ints<'a> {
    /// Argument `n`, absent when the call has fewer arguments.
    fn new(args: &'a Args, n: usize) -> Ints<'a> {
        let array = (n < args.len()).then(|| args.array(n).as_primitive::<Int64Type>());
        Ints { array, constant: n < args.len() && args.at(n, 1) == 0 }
    }

    /// Row `row`'s value: None when the call has no such argument, Some(None) for NULL.
    #[inline]
    fn get(&self, row: usize) -> Option<Option<i64>> {
        let array = self.array?;
        let i = if self.constant { 0 } else { row };
        Some(array.is_valid(i).then(|| array.value(i)))
    }
}

/// A string builder sized for about as much text as `text` holds.
fn builder_like(args: &Args, n: usize) -> StringBuilder {
    StringBuilder::with_capacity(args.rows, args.array(n).get_buffer_memory_size().min(1 << 30))
}

fn split(args: &Args, _: &DataType) -> Result<ArrayRef> {
    let (text, delimiter, limits) = (args.text(0)?, args.text(1)?, Ints::new(args, 2));
    let finders = Finders::new(args, 1)?;
    let mut out = ListBuilder::new(builder_like(args, 0));
    for row in 0..args.rows {
        let limit = limits.get(row);
        let (Some(s), Some(d), Some(Some(_)) | None) = (text.get(row), delimiter.get(row), limit) else {
            out.append_null();
            continue;
        };
        if d.is_empty() {
            return exec_err!("split: the delimiter may not be the empty string");
        }
        let limit = match limit.flatten() {
            Some(limit) if limit <= 0 => return exec_err!("split: the limit must be positive, got {limit}"),
            Some(limit) => limit as usize,
            None => usize::MAX,
        };
        let (finder, bytes) = (finders.get(d), s.as_bytes());
        let mut start = 0;
        for _ in 1..limit {
            let Some(at) = finder.find(&bytes[start..]) else { break };
            out.values().append_value(&s[start..start + at]);
            start += at + d.len();
        }
        out.values().append_value(&s[start..]);
        out.append(true);
    }
    Ok(Arc::new(out.finish()))
}

fn split_part(args: &Args, _: &DataType) -> Result<ArrayRef> {
    let (text, delimiter, indexes) = (args.text(0)?, args.text(1)?, Ints::new(args, 2));
    // The usual call, a constant delimiter and index over a column, in one pass.
    if let (Some(Some(d)), true, Some(Some(index))) =
        (args.constant_text(1)?, args.is_constant(2), indexes.get(0).filter(|_| !args.is_constant(0)))
        && !d.is_empty()
        && index > 0
    {
        let finder = memchr::memmem::Finder::new(d.as_bytes());
        let mut out = builder_like(args, 0);
        text.for_each(|s| out.append_option(s.and_then(|s| nth_part(s, d.len(), &finder, index as usize - 1))));
        return Ok(Arc::new(out.finish()));
    }
    let finders = Finders::new(args, 1)?;
    let mut out = builder_like(args, 0);
    for row in 0..args.rows {
        let (Some(s), Some(d), Some(Some(index))) = (text.get(row), delimiter.get(row), indexes.get(row)) else {
            out.append_null();
            continue;
        };
        if index <= 0 {
            return exec_err!("split_part: the index must be positive, got {index}");
        }
        let part = if d.is_empty() {
            (index == 1).then_some(s)
        } else {
            nth_part(s, d.len(), &finders.get(d), index as usize - 1)
        };
        out.append_option(part);
    }
    Ok(Arc::new(out.finish()))
}

/// Part `n` of `s` split at every match of `finder` (a delimiter `len` bytes long).
fn nth_part<'s>(s: &'s str, len: usize, finder: &memchr::memmem::Finder, n: usize) -> Option<&'s str> {
    let bytes = s.as_bytes();
    let mut start = 0;
    for _ in 0..n {
        start += finder.find(&bytes[start..])? + len;
    }
    let end = finder.find(&bytes[start..]).map_or(s.len(), |at| start + at);
    s.get(start..end)
}

/// Substring searchers: built once for a constant needle, per row otherwise.
struct Finders {
    constant: Option<memchr::memmem::Finder<'static>>,
}

impl Finders {
    fn new(args: &Args, n: usize) -> Result<Finders> {
        let constant = match args.constant_text(n)? {
            Some(Some(needle)) => Some(memchr::memmem::Finder::new(needle.as_bytes()).into_owned()),
            _ => None,
        };
        Ok(Finders { constant })
    }

    fn get<'n>(&'n self, needle: &'n str) -> std::borrow::Cow<'n, memchr::memmem::Finder<'n>> {
        match &self.constant {
            Some(finder) => std::borrow::Cow::Borrowed(finder),
            None => std::borrow::Cow::Owned(memchr::memmem::Finder::new(needle.as_bytes())),
        }
    }
}

fn strpos(args: &Args, _: &DataType) -> Result<ArrayRef> {
    let (text, needle, instances) = (args.text(0)?, args.text(1)?, Ints::new(args, 2));
    // The usual call, a constant needle over a column, in one pass.
    if let (Some(Some(n)), None, false) = (args.constant_text(1)?, instances.get(0), args.is_constant(0)) {
        let finder = memchr::memmem::Finder::new(n.as_bytes());
        let mut out = Int64Builder::with_capacity(args.rows);
        text.for_each(|s| out.append_option(s.map(|s| finder.find(s.as_bytes()).map_or(0, |at| position(s, at)))));
        return Ok(Arc::new(out.finish()));
    }
    let finders = Finders::new(args, 1)?;
    let mut out = Int64Builder::with_capacity(args.rows);
    for row in 0..args.rows {
        let instance = instances.get(row).unwrap_or(Some(1));
        let (Some(s), Some(n), Some(instance)) = (text.get(row), needle.get(row), instance) else {
            out.append_null();
            continue;
        };
        if instance == 0 {
            return exec_err!("strpos: the instance must not be 0");
        }
        let found = match instance {
            1 => finders.get(n).find(s.as_bytes()),
            i if i > 0 => s.match_indices(n).nth(i as usize - 1).map(|(at, _)| at),
            i => s.rmatch_indices(n).nth((-i) as usize - 1).map(|(at, _)| at),
        };
        out.append_value(found.map_or(0, |at| position(s, at)));
    }
    Ok(Arc::new(out.finish()))
}

/// The position of byte `at` of `s` as Trino counts: characters from 1 (bytes, where all before
/// are ASCII).
fn position(s: &str, at: usize) -> i64 {
    let before = &s[..at];
    if before.is_ascii() { at as i64 + 1 } else { before.chars().count() as i64 + 1 }
}

fn substr(args: &Args, _: &DataType) -> Result<ArrayRef> {
    let (text, starts, lengths) = (args.text(0)?, Ints::new(args, 1), Ints::new(args, 2));
    let mut out = builder_like(args, 0);
    for row in 0..args.rows {
        let length = lengths.get(row).unwrap_or(Some(i64::MAX));
        let (Some(s), Some(Some(start)), Some(length)) = (text.get(row), starts.get(row), length) else {
            out.append_null();
            continue;
        };
        out.append_value(substring(s, start, length));
    }
    Ok(Arc::new(out.finish()))
}

/// Trino's `substr`: 1-based; a negative start counts from the end; start 0 or past either end
/// gives the empty string.
fn substring(s: &str, start: i64, length: i64) -> &str {
    if s.is_ascii() {
        // One byte per character: positions are byte offsets.
        let len = s.len() as i64;
        let first = if start > 0 { start - 1 } else { len + start };
        if start == 0 || first < 0 || first >= len || length <= 0 {
            return "";
        }
        let last = first.saturating_add(length).min(len);
        return &s[first as usize..last as usize];
    }
    let chars = s.chars().count() as i64;
    let first = if start > 0 { start - 1 } else { chars + start };
    if start == 0 || first < 0 || first >= chars || length <= 0 {
        return "";
    }
    let last = first.saturating_add(length).min(chars);
    let mut indices = s.char_indices().map(|(i, _)| i).chain([s.len()]);
    let from = indices.nth(first as usize).unwrap_or(s.len());
    let to = if last == chars { s.len() } else { indices.nth((last - first - 1) as usize).unwrap_or(s.len()) };
    &s[from..to]
}

fn concat(args: &Args, _: &DataType) -> Result<ArrayRef> {
    let texts: Vec<_> = (0..args.len()).map(|n| args.text(n)).collect::<Result<_>>()?;
    let mut out = StringBuilder::new();
    let mut joined = String::new();
    'rows: for row in 0..args.rows {
        joined.clear();
        for text in &texts {
            match text.get(row) {
                Some(part) => joined.push_str(part),
                None => {
                    out.append_null();
                    continue 'rows;
                }
            }
        }
        out.append_value(&joined);
    }
    Ok(Arc::new(out.finish()))
}

fn codepoint(args: &Args, _: &DataType) -> Result<ArrayRef> {
    let text = args.text(0)?;
    let mut out = Int64Builder::with_capacity(args.rows);
    for row in 0..args.rows {
        match text.get(row) {
            Some(s) => {
                let mut chars = s.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => out.append_value(c as i64),
                    _ => return exec_err!("codepoint takes a single character, got `{s}`"),
                }
            }
            None => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()))
}

/// Compiled patterns: the constant one once per batch, varying ones cached by text.
struct Patterns<'a> {
    args: &'a Args,
    n: usize,
    /// Put before every pattern (`(?i)` for case-insensitive matching).
    prefix: &'static str,
    cache: HashMap<String, Regex>,
}

impl<'a> Patterns<'a> {
    fn new(args: &'a Args, n: usize) -> Patterns<'a> {
        Patterns { args, n, prefix: "", cache: HashMap::new() }
    }

    fn get(&mut self, row: usize) -> Result<Option<&Regex>> {
        let Some(pattern) = self.args.text(self.n)?.get(row) else {
            return Ok(None);
        };
        if !self.cache.contains_key(pattern) {
            if self.cache.len() > 1000 {
                self.cache.clear();
            }
            self.cache.insert(pattern.to_string(), compile(&format!("{}{pattern}", self.prefix))?);
        }
        Ok(self.cache.get(pattern))
    }
}

/// Compiles a Trino (Java) pattern; look-around and back-references are refused by name.
pub(super) fn compile(pattern: &str) -> Result<Regex> {
    Regex::new(pattern).map_err(|e| {
        let hint = if pattern.contains("(?=")
            || pattern.contains("(?!")
            || pattern.contains("(?<=")
            || pattern.contains("(?<!")
        {
            " (look-around is not supported)"
        } else {
            ""
        };
        exec_datafusion_err!("invalid regular expression `{pattern}`{hint}: {}", crate::error::one_line(&e.to_string()))
    })
}

/// The group argument (default 0), checked against the pattern's groups.
fn group_of(args: &Args, row: usize, regex: &Regex, function: &str) -> Result<Option<usize>> {
    match Ints::new(args, 2).get(row) {
        None => Ok(Some(0)),
        Some(None) => Ok(None),
        Some(Some(group)) if group < 0 || group as usize >= regex.captures_len() => {
            exec_err!("{function}: pattern has {} groups, cannot access group {group}", regex.captures_len() - 1)
        }
        Some(Some(group)) => Ok(Some(group as usize)),
    }
}

/// Calls `each` for every row with its text, pattern and group, or None where one is NULL.
fn for_each_match(args: &Args, function: &str, mut each: impl FnMut(Option<(&str, &Regex, usize)>)) -> Result<()> {
    let text = args.text(0)?;
    let mut patterns = Patterns::new(args, 1);
    for row in 0..args.rows {
        let found = match (text.get(row), patterns.get(row)?) {
            (Some(s), Some(regex)) => group_of(args, row, regex, function)?.map(|group| (s, regex, group)),
            _ => None,
        };
        each(found);
    }
    Ok(())
}

fn regexp_extract(args: &Args, _: &DataType) -> Result<ArrayRef> {
    let mut out = StringBuilder::new();
    for_each_match(args, "regexp_extract", |found| match found {
        Some((s, regex, group)) => out.append_option(regex.captures(s).and_then(|c| c.get(group)).map(|m| m.as_str())),
        None => out.append_null(),
    })?;
    Ok(Arc::new(out.finish()))
}

fn regexp_extract_all(args: &Args, _: &DataType) -> Result<ArrayRef> {
    let mut out = ListBuilder::new(StringBuilder::new());
    for_each_match(args, "regexp_extract_all", |found| match found {
        Some((s, regex, group)) => {
            for captures in regex.captures_iter(s) {
                out.values().append_option(captures.get(group).map(|m| m.as_str()));
            }
            out.append(true);
        }
        None => out.append_null(),
    })?;
    Ok(Arc::new(out.finish()))
}

fn regexp_replace(args: &Args, _: &DataType) -> Result<ArrayRef> {
    let text = args.text(0)?;
    let replacement = if args.len() >= 3 { Some(args.text(2)?) } else { None };
    let mut patterns = Patterns::new(args, 1);
    if args.len() == 4 {
        patterns.prefix = flags_prefix(args)?;
    }
    if let Some(class) = removed_class(args, patterns.prefix)? {
        return Ok(remove_class(&text, args.rows, &class));
    }
    let mut out = StringBuilder::new();
    // The last (pattern, replacement) translated to Rust's syntax, reused while they repeat.
    let mut translated: Option<(String, String, String)> = None;
    for row in 0..args.rows {
        let with = match &replacement {
            Some(r) => r.get(row),
            None => Some(""),
        };
        let (Some(s), Some(regex), Some(with)) = (text.get(row), patterns.get(row)?, with) else {
            out.append_null();
            continue;
        };
        let fresh = translated.as_ref().is_none_or(|(p, w, _)| p != regex.as_str() || w != with);
        if fresh {
            translated =
                Some((regex.as_str().to_string(), with.to_string(), java_replacement(with, regex.captures_len())?));
        }
        let rust = translated.as_ref().map_or("", |(_, _, r)| r.as_str());
        out.append_value(regex.replace_all(s, rust));
    }
    Ok(Arc::new(out.finish()))
}

/// The class of ASCII characters a call removes, when its pattern is a constant bracket class
/// of ASCII characters and ranges (`[^0-9+]`, `[-() .]`) and its replacement is a constant empty
/// text: stripping characters, as phone and id normalisation does, needs no regular expression.
fn removed_class(args: &Args, prefix: &str) -> Result<Option<AsciiClass>> {
    let removes = args.len() < 3 || args.constant_text(2)? == Some(Some(""));
    Ok(match (removes && prefix.is_empty(), args.constant_text(1)?) {
        (true, Some(Some(pattern))) => AsciiClass::parse(pattern),
        _ => None,
    })
}

/// A bracket class of ASCII characters: the bytes it lists, and whether it is negated.
#[derive(Debug, PartialEq)]
struct AsciiClass {
    listed: [bool; 128],
    negated: bool,
}

impl AsciiClass {
    /// `[...]` or `[^...]` of letters, digits, ranges between them and punctuation that means
    /// itself inside a class in Java and Rust alike (a `-` first or last); None for anything
    /// else (escapes, nested classes, `&&`), which goes to the regular expression engine.
    fn parse(pattern: &str) -> Option<AsciiClass> {
        let inner = pattern.strip_prefix('[')?.strip_suffix(']')?;
        let (negated, inner) = match inner.strip_prefix('^') {
            Some(rest) => (true, rest),
            None => (false, inner),
        };
        let chars: Vec<char> = inner.chars().collect();
        let plain = |c: char| c.is_ascii_alphanumeric() || " +.,_@()*?$|/:;!#%='\"~<>{}`".contains(c);
        let mut listed = [false; 128];
        let mut i = 0;
        while i < chars.len() {
            let first = chars[i];
            let dash = first == '-' && (i == 0 || i == chars.len() - 1);
            if !plain(first) && !dash {
                return None;
            }
            match chars.get(i + 1..i + 3) {
                Some(['-', last]) if !dash => {
                    if !first.is_ascii_alphanumeric() || !last.is_ascii_alphanumeric() || *last < first {
                        return None;
                    }
                    (first as u8..=*last as u8).for_each(|b| listed[usize::from(b)] = true);
                    i += 3;
                }
                _ => {
                    listed[first as usize] = true;
                    i += 1;
                }
            }
        }
        (!chars.is_empty()).then_some(AsciiClass { listed, negated })
    }

    /// Whether byte `b` of a UTF-8 text is removed. A negated class removes every non-ASCII
    /// character (all its bytes are at least 0x80), a plain one none; a multi-byte character
    /// holds no ASCII byte, so removing bytes removes whole characters.
    fn removes(&self, b: u8) -> bool {
        let listed = b < 128 && self.listed[usize::from(b)];
        listed != self.negated
    }
}

/// `regexp_replace(text, class, '')` for every row: the text without the class's characters.
fn remove_class(text: &Text<'_>, rows: usize, class: &AsciiClass) -> ArrayRef {
    let mut out = StringBuilder::new();
    let mut kept = Vec::new();
    for row in 0..rows {
        let Some(s) = text.get(row) else {
            out.append_null();
            continue;
        };
        if !s.bytes().any(|b| class.removes(b)) {
            out.append_value(s);
            continue;
        }
        kept.clear();
        kept.extend(s.bytes().filter(|b| !class.removes(*b)));
        out.append_value(std::str::from_utf8(&kept).expect("removing ASCII bytes or whole characters keeps UTF-8"));
    }
    Arc::new(out.finish())
}

/// The optional fourth argument of `regexp_replace` in DataFusion's and PostgreSQL's form
/// (`'g'`, `'i'`), accepted so SQL written for them runs: `g` changes nothing (Trino replaces
/// every match), `i` ignores case.
fn flags_prefix(args: &Args) -> Result<&'static str> {
    let Some(Some(flags)) = args.constant_text(3)? else {
        return exec_err!("regexp_replace: the flags must be a constant such as 'g' or 'i'");
    };
    let mut prefix = "";
    for flag in flags.chars() {
        match flag {
            'g' => {}
            'i' => prefix = "(?i)",
            other => return exec_err!("regexp_replace: the flag `{other}` is not supported; use g or i"),
        }
    }
    Ok(prefix)
}

/// Java's replacement syntax (`$1`, `${name}`, `\$` for a dollar) in Rust's (`${1}`, `$$`).
/// As in Java, `$12` is group 12 only when the pattern has that many groups, else group 1 and
/// a `2`.
fn java_replacement(java: &str, groups: usize) -> Result<String> {
    let mut rust = String::with_capacity(java.len());
    let mut chars = java.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('$') => rust.push_str("$$"),
                Some(other) => rust.push(other),
                None => return exec_err!("regexp_replace: the replacement `{java}` ends with a lone backslash"),
            },
            '$' => match chars.peek() {
                Some('{') => {
                    chars.next();
                    let name: String = chars.by_ref().take_while(|c| *c != '}').collect();
                    rust.push_str(&format!("${{{name}}}"));
                }
                Some(d) if d.is_ascii_digit() => {
                    let mut group = chars.next().and_then(|d| d.to_digit(10)).unwrap_or(0) as usize;
                    while let Some(next) = chars.peek().and_then(|d| d.to_digit(10)) {
                        let longer = group * 10 + next as usize;
                        if longer >= groups {
                            break;
                        }
                        group = longer;
                        chars.next();
                    }
                    if group >= groups {
                        return exec_err!("regexp_replace: the pattern has no group {group}");
                    }
                    rust.push_str(&format!("${{{group}}}"));
                }
                _ => {
                    return exec_err!(
                        "regexp_replace: `$` in the replacement `{java}` must name a group; write \\$ for a dollar"
                    );
                }
            },
            other => rust.push(other),
        }
    }
    Ok(rust)
}

fn regexp_split(args: &Args, _: &DataType) -> Result<ArrayRef> {
    let text = args.text(0)?;
    let mut patterns = Patterns::new(args, 1);
    let mut out = ListBuilder::new(StringBuilder::new());
    for row in 0..args.rows {
        let (Some(s), Some(regex)) = (text.get(row), patterns.get(row)?) else {
            out.append_null();
            continue;
        };
        regex.split(s).for_each(|part| out.values().append_value(part));
        out.append(true);
    }
    Ok(Arc::new(out.finish()))
}

#[derive(Clone, Copy)]
enum UrlPart {
    Host,
    Path,
    Protocol,
    Query,
    Fragment,
}

fn url_part(args: &Args, part: UrlPart) -> Result<ArrayRef> {
    let text = args.text(0)?;
    let mut out = StringBuilder::new();
    for row in 0..args.rows {
        let url = text.get(row).and_then(|s| url::Url::parse(s).ok());
        out.append_option(url.as_ref().and_then(|u| match part {
            UrlPart::Host => u.host_str().map(str::to_string),
            UrlPart::Path => Some(u.path().to_string()),
            UrlPart::Protocol => Some(u.scheme().to_string()),
            UrlPart::Query => u.query().map(str::to_string),
            UrlPart::Fragment => u.fragment().map(str::to_string),
        }));
    }
    Ok(Arc::new(out.finish()))
}

fn url_port(args: &Args, _: &DataType) -> Result<ArrayRef> {
    let text = args.text(0)?;
    let mut out = Int64Builder::with_capacity(args.rows);
    for row in 0..args.rows {
        let url = text.get(row).and_then(|s| url::Url::parse(s).ok());
        out.append_option(url.and_then(|u| u.port()).map(i64::from));
    }
    Ok(Arc::new(out.finish()))
}

fn url_parameter(args: &Args, _: &DataType) -> Result<ArrayRef> {
    let (text, name) = (args.text(0)?, args.text(1)?);
    let mut out = StringBuilder::new();
    for row in 0..args.rows {
        let url = text.get(row).and_then(|s| url::Url::parse(s).ok());
        let value = match (url, name.get(row)) {
            (Some(url), Some(name)) => url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned()),
            _ => None,
        };
        out.append_option(value);
    }
    Ok(Arc::new(out.finish()))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{try_value, value};
    use super::*;

    #[tokio::test]
    async fn split_strpos_substr_as_trino() {
        assert_eq!(value("SELECT split('a.b.c', '.')").await, "[a, b, c]");
        assert_eq!(value("SELECT split('a.b.c', '.', 2)").await, "[a, b.c]");
        assert_eq!(value("SELECT split('', ',')").await, "[]");
        assert_eq!(value("SELECT split_part('a,b,c', ',', 2)").await, "b");
        assert_eq!(value("SELECT split_part('a,b,c', ',', 4)").await, "NULL");
        assert_eq!(value("SELECT strpos('high', 'ig')").await, "2");
        assert_eq!(value("SELECT strpos('high', 'x')").await, "0");
        assert_eq!(value("SELECT strpos('hahaha', 'ha', 2)").await, "3");
        assert_eq!(value("SELECT strpos('hahaha', 'ha', -1)").await, "5");
        assert_eq!(value("SELECT substr('hello', -3)").await, "llo");
        assert_eq!(value("SELECT substr('hello', 2, 3)").await, "ell");
        assert_eq!(value("SELECT substr('hello', 0)").await, "");
        assert_eq!(value("SELECT substr('héllo', 2, 2)").await, "él");
        assert_eq!(value("SELECT substring('hello' FROM 2 FOR 2)").await, "el");
        assert_eq!(value("SELECT concat('a', NULL, 'b')").await, "NULL");
        assert_eq!(value("SELECT concat('a', 1, 'b')").await, "a1b");
        assert!(try_value("SELECT concat(ARRAY[1], ARRAY[2])").await.unwrap_err().contains("array_concat"));
        assert_eq!(value("SELECT codepoint('é')").await, "233");
        assert!(try_value("SELECT codepoint('ab')").await.is_err());
        assert!(try_value("SELECT split('a', '')").await.unwrap_err().contains("empty"));
    }

    #[tokio::test]
    async fn regular_expressions_as_trino() {
        assert_eq!(value("SELECT regexp_extract('1a 2b 14m', '\\d+')").await, "1");
        assert_eq!(value("SELECT regexp_extract('1a 2b 14m', '(\\d+)([a-z]+)', 2)").await, "a");
        assert_eq!(value("SELECT regexp_extract('abc', '\\d+')").await, "NULL");
        assert_eq!(value("SELECT regexp_extract_all('1a 2b 14m', '\\d+')").await, "[1, 2, 14]");
        assert_eq!(value("SELECT regexp_extract_all('1a 2b 14m', '(\\d+)([a-z]+)', 2)").await, "[a, b, m]");
        assert_eq!(value("SELECT regexp_replace('1a 2b 14m', '\\d+[ab] ')").await, "14m");
        assert_eq!(value("SELECT regexp_replace('+1 (555) 010-9999', '[^0-9+]', '', 'g')").await, "+15550109999");
        assert_eq!(value("SELECT regexp_replace('a-b c', '[- ]')").await, "abc");
        assert_eq!(value("SELECT regexp_replace('1a 2b 14m', '(\\d+)([ab]) ', '3c$2 ')").await, "3ca 3cb 14m");
        assert_eq!(value("SELECT regexp_replace('a.b', '\\.', '\\$')").await, "a$b");
        assert_eq!(value("SELECT regexp_replace('+49 (30) 12', '[^0-9+]', '', 'g')").await, "+493012");
        assert_eq!(value("SELECT regexp_replace('aAa', 'a', 'x', 'i')").await, "xxx");
        assert!(try_value("SELECT regexp_replace('a', 'a', 'x', 'q')").await.unwrap_err().contains("flag"));
        assert_eq!(value("SELECT regexp_split('1a 2b 14m', '\\s*[a-z]+\\s*')").await, "[1, 2, 14, ]");
        assert!(try_value("SELECT regexp_extract('a', '(a)', 2)").await.unwrap_err().contains("group 2"));
        assert!(try_value("SELECT regexp_like('a', '(?=a)')").await.is_err());
        let err = try_value("SELECT regexp_extract('a', '(?=a)')").await.unwrap_err();
        assert!(err.contains("look-around"), "{err}");
        assert_eq!(java_replacement("$12", 2).unwrap(), "${1}2");
        assert_eq!(java_replacement("$12", 13).unwrap(), "${12}");
    }

    #[tokio::test]
    async fn urls() {
        let url = "'http://user@example.com:8080/path/to?query=1&b=x%20y#frag'";
        assert_eq!(value(&format!("SELECT url_extract_host({url})")).await, "example.com");
        assert_eq!(value(&format!("SELECT url_extract_path({url})")).await, "/path/to");
        assert_eq!(value(&format!("SELECT url_extract_port({url})")).await, "8080");
        assert_eq!(value(&format!("SELECT url_extract_protocol({url})")).await, "http");
        assert_eq!(value(&format!("SELECT url_extract_query({url})")).await, "query=1&b=x%20y");
        assert_eq!(value(&format!("SELECT url_extract_fragment({url})")).await, "frag");
        assert_eq!(value(&format!("SELECT url_extract_parameter({url}, 'b')")).await, "x y");
        assert_eq!(value("SELECT url_extract_host('not a url')").await, "NULL");
    }

    #[test]
    fn removing_a_class_of_ascii_characters_agrees_with_the_regular_expression() {
        let texts = ["+1 (555) 010-9999", "", "ünïcödé 12\n34", "日本 03-1234", "a\u{1F600}b-c_d", "---", "[]^\\"];
        let classes =
            ["[^0-9+]", "[0-9]", "[-() .]", "[^a-z]", "[a-cx-z_]", "[^-]", "[ -]", "[.$*?{}|]", "[^A-Za-z0-9]"];
        for pattern in classes {
            let class = AsciiClass::parse(pattern).unwrap_or_else(|| panic!("{pattern} is a plain class"));
            let regex = Regex::new(pattern).unwrap();
            let array: ArrayRef =
                Arc::new(arrow::array::StringArray::from(texts.iter().map(|t| Some(*t)).collect::<Vec<_>>()));
            let text = Text::new(&array, false).unwrap();
            let fast = remove_class(&text, texts.len(), &class);
            for (row, t) in texts.iter().enumerate() {
                assert_eq!(fast.as_string::<i32>().value(row), regex.replace_all(t, ""), "{pattern} on {t:?}");
            }
        }
        // Escapes, nested classes, intersections, a reversed range, a dash inside, case flags:
        // the regular expression engine's.
        for pattern in
            ["[\\d]", "[^\\s]", "[a-z&&[^x]]", "[[:alpha:]]", "[z-a]", "[a-c-e]", "[]", "[^]", "a[0-9]", "[0-9]+"]
        {
            assert_eq!(AsciiClass::parse(pattern), None, "{pattern}");
        }
    }
}
