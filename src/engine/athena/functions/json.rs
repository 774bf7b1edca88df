//! JSON functions with Trino's semantics over JSON held as text: `json_extract` and
//! `json_extract_scalar` with JSONPath (`$.a.b`, `$["a b"]`, `$.items[0]`, `$.items[*].id`),
//! `json_parse` and `json_format` (canonical: keys sorted, no spaces, as Trino prints JSON),
//! `json_size`, `json_array_length`, `json_array_get`, `json_array_contains` and
//! `is_json_scalar`.
//!
//! A value that is not JSON gives NULL in the extract functions, as in Trino; `json_parse`
//! rejects it with the text and the parser's position.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanBuilder, Int64Builder, StringBuilder};
use arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err, plan_err};
use serde_json::Value;

use super::{Args, Scalar, all_text, arity, is_integer, is_text, returns, text_type};

pub(super) fn all() -> Vec<Scalar> {
    vec![
        Scalar::new("json_extract", |n, t| all_text(n, t, 2, 2), returns!(DataType::Utf8), json_extract),
        Scalar::new("json_extract_scalar", |n, t| all_text(n, t, 2, 2), returns!(DataType::Utf8), json_extract_scalar),
        Scalar::new("json_parse", |n, t| all_text(n, t, 1, 1), returns!(DataType::Utf8), json_parse),
        Scalar::new("json_format", |n, t| all_text(n, t, 1, 1), returns!(DataType::Utf8), json_format),
        Scalar::new("json_size", |n, t| all_text(n, t, 2, 2), returns!(DataType::Int64), json_size),
        Scalar::new("json_array_length", |n, t| all_text(n, t, 1, 1), returns!(DataType::Int64), json_array_length),
        Scalar::new("json_array_get", text_and_int, returns!(DataType::Utf8), json_array_get),
        Scalar::new("json_array_contains", json_and_value, returns!(DataType::Boolean), json_array_contains),
        Scalar::new("is_json_scalar", |n, t| all_text(n, t, 1, 1), returns!(DataType::Boolean), is_json_scalar),
    ]
}

fn text_and_int(name: &str, t: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, t, 2, 2)?;
    if !is_text(&t[0]) || !is_integer(&t[1]) {
        return plan_err!("{name} takes (json, bigint), got ({}, {})", t[0], t[1]);
    }
    Ok(vec![text_type(&t[0]), DataType::Int64])
}

fn json_and_value(name: &str, t: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, t, 2, 2)?;
    if !is_text(&t[0]) {
        return plan_err!("{name} takes (json, value), got ({}, {})", t[0], t[1]);
    }
    // The value is compared as JSON text: numbers and booleans are written as text first.
    Ok(vec![text_type(&t[0]), DataType::Utf8])
}

/// One step of a JSONPath.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
    /// `[*]` or `.*`: every element or member.
    All,
}

/// Parses Trino's JSONPath: `$` followed by `.key`, `["key"]`, `['key']`, `[index]`, `[*]`, `.*`.
fn parse_path(path: &str) -> Result<Vec<Step>> {
    let invalid = |why: &str| exec_err!("invalid JSON path `{path}`: {why}");
    let Some(mut rest) = path.trim().strip_prefix('$') else {
        return invalid("it must start with $");
    };
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            if let Some(after) = after.strip_prefix('*') {
                steps.push(Step::All);
                rest = after;
                continue;
            }
            let end = after.find(['.', '[']).unwrap_or(after.len());
            if end == 0 {
                return invalid("a key is missing after `.`");
            }
            steps.push(Step::Key(after[..end].to_string()));
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let Some(close) = find_close(after) else {
                return invalid("`[` is not closed");
            };
            let inner = after[..close].trim();
            steps.push(if inner == "*" {
                Step::All
            } else if let Some(quoted) = unquote(inner) {
                Step::Key(quoted)
            } else {
                match inner.parse::<usize>() {
                    Ok(i) => Step::Index(i),
                    Err(_) => return invalid(&format!("`{inner}` is not an index, a quoted key or *")),
                }
            });
            rest = &after[close + 1..];
        } else {
            return invalid(&format!("unexpected `{rest}`"));
        }
    }
    Ok(steps)
}

/// The position of the `]` closing a bracket, skipping quoted keys.
fn find_close(s: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, ']') => return Some(i),
            _ => {}
        }
    }
    None
}

fn unquote(s: &str) -> Option<String> {
    let quote = s.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let inner = s.strip_prefix(quote)?.strip_suffix(quote)?;
    Some(inner.replace(&format!("\\{quote}"), &quote.to_string()))
}

/// The values `steps` select in `value`; with a wildcard, several.
fn select<'a>(value: &'a Value, steps: &[Step]) -> Vec<&'a Value> {
    let Some((step, rest)) = steps.split_first() else {
        return vec![value];
    };
    match (step, value) {
        (Step::Key(key), Value::Object(map)) => map.get(key).map(|v| select(v, rest)).unwrap_or_default(),
        (Step::Index(i), Value::Array(items)) => items.get(*i).map(|v| select(v, rest)).unwrap_or_default(),
        (Step::All, Value::Array(items)) => items.iter().flat_map(|v| select(v, rest)).collect(),
        (Step::All, Value::Object(map)) => map.values().flat_map(|v| select(v, rest)).collect(),
        _ => Vec::new(),
    }
}

fn has_wildcard(steps: &[Step]) -> bool {
    steps.contains(&Step::All)
}

/// The path argument, parsed once when it is constant.
struct Paths<'a> {
    args: &'a Args,
    constant: Option<Option<Vec<Step>>>,
}

impl<'a> Paths<'a> {
    fn new(args: &'a Args) -> Result<Paths<'a>> {
        let constant = match args.constant_text(1)? {
            Some(path) => Some(path.map(parse_path).transpose()?),
            None => None,
        };
        Ok(Paths { args, constant })
    }

    fn get(&self, row: usize) -> Result<Option<Vec<Step>>> {
        match &self.constant {
            Some(steps) => Ok(steps.clone()),
            None => self.args.text(1)?.get(row).map(parse_path).transpose(),
        }
    }
}

/// Applies `write` to the value each row's path selects (wildcard matches as a JSON array).
fn extract_with(args: &Args, mut write: impl FnMut(Option<&Value>)) -> Result<()> {
    let text = args.text(0)?;
    let paths = Paths::new(args)?;
    for row in 0..args.rows {
        let (Some(json), Some(steps)) = (text.get(row), paths.get(row)?) else {
            write(None);
            continue;
        };
        let Ok(value) = serde_json::from_str::<Value>(json) else {
            write(None);
            continue;
        };
        let found = select(&value, &steps);
        if has_wildcard(&steps) {
            let all = Value::Array(found.into_iter().cloned().collect());
            write(Some(&all));
        } else {
            write(found.first().copied());
        }
    }
    Ok(())
}

fn json_extract(args: &Args, _: &DataType) -> Result<ArrayRef> {
    let mut out = StringBuilder::new();
    extract_with(args, |v| out.append_option(v.map(Value::to_string)))?;
    Ok(Arc::new(out.finish()))
}

fn json_extract_scalar(args: &Args, _: &DataType) -> Result<ArrayRef> {
    let mut out = StringBuilder::new();
    extract_with(args, |v| out.append_option(v.and_then(scalar_text)))?;
    Ok(Arc::new(out.finish()))
}

/// A scalar's text (strings unquoted); NULL for null, arrays and objects.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

fn json_size(args: &Args, _: &DataType) -> Result<ArrayRef> {
    let mut out = Int64Builder::with_capacity(args.rows);
    extract_with(args, |v| {
        out.append_option(v.map(|v| match v {
            Value::Array(items) => items.len() as i64,
            Value::Object(map) => map.len() as i64,
            _ => 0,
        }))
    })?;
    Ok(Arc::new(out.finish()))
}

fn json_parse(args: &Args, _: &DataType) -> Result<ArrayRef> {
    let text = args.text(0)?;
    let mut out = StringBuilder::new();
    for row in 0..args.rows {
        match text.get(row) {
            Some(s) => match serde_json::from_str::<Value>(s) {
                Ok(value) => out.append_value(value.to_string()),
                Err(e) => return exec_err!("json_parse: `{}` is not JSON: {e}", abbreviate(s)),
            },
            None => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()))
}

fn abbreviate(s: &str) -> String {
    match s.char_indices().nth(60) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_string(),
    }
}

fn json_format(args: &Args, _: &DataType) -> Result<ArrayRef> {
    let text = args.text(0)?;
    let mut out = StringBuilder::new();
    for row in 0..args.rows {
        out.append_option(text.get(row).map(|s| match serde_json::from_str::<Value>(s) {
            Ok(value) => value.to_string(),
            Err(_) => s.to_string(),
        }));
    }
    Ok(Arc::new(out.finish()))
}

fn parsed(text: Option<&str>) -> Option<Value> {
    serde_json::from_str(text?).ok()
}

fn json_array_length(args: &Args, _: &DataType) -> Result<ArrayRef> {
    let text = args.text(0)?;
    let mut out = Int64Builder::with_capacity(args.rows);
    for row in 0..args.rows {
        out.append_option(match parsed(text.get(row)) {
            Some(Value::Array(items)) => Some(items.len() as i64),
            _ => None,
        });
    }
    Ok(Arc::new(out.finish()))
}

fn json_array_get(args: &Args, _: &DataType) -> Result<ArrayRef> {
    use arrow::array::AsArray;
    let text = args.text(0)?;
    let index = args.array(1).as_primitive::<arrow::datatypes::Int64Type>();
    let mut out = StringBuilder::new();
    for row in 0..args.rows {
        let i = args.at(1, row);
        let item = match (parsed(text.get(row)), index.is_valid(i)) {
            (Some(Value::Array(items)), true) => {
                let at = index.value(i);
                let position = if at < 0 { items.len() as i64 + at } else { at };
                usize::try_from(position).ok().and_then(|p| items.get(p)).map(Value::to_string)
            }
            _ => None,
        };
        out.append_option(item);
    }
    Ok(Arc::new(out.finish()))
}

fn json_array_contains(args: &Args, _: &DataType) -> Result<ArrayRef> {
    let (text, wanted) = (args.text(0)?, args.text(1)?);
    let mut out = BooleanBuilder::with_capacity(args.rows);
    for row in 0..args.rows {
        let (Some(Value::Array(items)), Some(wanted)) = (parsed(text.get(row)), wanted.get(row)) else {
            out.append_null();
            continue;
        };
        out.append_value(items.iter().any(|item| match item {
            Value::String(s) => s == wanted,
            Value::Number(_) | Value::Bool(_) => serde_json::from_str::<Value>(wanted).is_ok_and(|w| &w == item),
            _ => false,
        }));
    }
    Ok(Arc::new(out.finish()))
}

fn is_json_scalar(args: &Args, _: &DataType) -> Result<ArrayRef> {
    let text = args.text(0)?;
    let mut out = BooleanBuilder::with_capacity(args.rows);
    for row in 0..args.rows {
        match text.get(row) {
            Some(s) => match serde_json::from_str::<Value>(s) {
                Ok(v) => out.append_value(!matches!(v, Value::Array(_) | Value::Object(_))),
                Err(e) => return exec_err!("is_json_scalar: `{}` is not JSON: {e}", abbreviate(s)),
            },
            None => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{try_value, value};
    use super::*;

    #[test]
    fn paths_parse() {
        assert_eq!(parse_path("$.a[0]").unwrap(), vec![Step::Key("a".into()), Step::Index(0)]);
        assert_eq!(
            parse_path("$[\"a b\"][*].c").unwrap(),
            vec![Step::Key("a b".into()), Step::All, Step::Key("c".into())]
        );
        assert_eq!(parse_path("$['x.y']").unwrap(), vec![Step::Key("x.y".into())]);
        assert!(parse_path("a.b").is_err());
        assert!(parse_path("$[x]").is_err());
        assert!(parse_path("$.a[").is_err());
    }

    #[tokio::test]
    async fn extract_as_trino_documents() {
        let book =
            r#"'{"store": {"book": [{"title": "a", "price": 8.95}, {"title": "b", "price": 12}], "open": true}}'"#;
        assert_eq!(value(&format!("SELECT json_extract_scalar({book}, '$.store.book[0].title')")).await, "a");
        assert_eq!(value(&format!("SELECT json_extract_scalar({book}, '$.store.book[1].price')")).await, "12");
        assert_eq!(value(&format!("SELECT json_extract_scalar({book}, '$.store.open')")).await, "true");
        assert_eq!(value(&format!("SELECT json_extract_scalar({book}, '$.store.book')")).await, "NULL");
        assert_eq!(
            value(&format!("SELECT json_extract({book}, '$.store.book[0]')")).await,
            r#"{"price":8.95,"title":"a"}"#
        );
        assert_eq!(value(&format!("SELECT json_extract({book}, '$.store.book[*].title')")).await, r#"["a","b"]"#);
        assert_eq!(value(&format!("SELECT json_size({book}, '$.store.book')")).await, "2");
        assert_eq!(value(&format!("SELECT json_size({book}, '$.store.open')")).await, "0");
        assert_eq!(value("SELECT json_extract_scalar('not json', '$.a')").await, "NULL");
        assert_eq!(value("SELECT json_array_length('[1, 2, 3]')").await, "3");
        assert_eq!(value("SELECT json_array_length('{}')").await, "NULL");
        assert_eq!(value("SELECT json_array_get('[\"a\", [3, 9], \"c\"]', 1)").await, "[3,9]");
        assert_eq!(value("SELECT json_array_get('[\"a\", \"b\"]', -1)").await, "\"b\"");
        assert_eq!(value("SELECT json_array_contains('[1, 2, 3]', 2)").await, "true");
        assert_eq!(value("SELECT is_json_scalar('[1]')").await, "false");
    }

    #[tokio::test]
    async fn parse_and_format_are_canonical() {
        assert_eq!(value(r#"SELECT json_parse('{"b": 1, "a": [1, 2.5, null]}')"#).await, r#"{"a":[1,2.5,null],"b":1}"#);
        assert_eq!(value(r#"SELECT json_format(json_parse('[1, "x"]'))"#).await, r#"[1,"x"]"#);
        let err = try_value("SELECT json_parse('{\"a\": ')").await.unwrap_err();
        assert!(err.contains("not JSON"), "{err}");
        assert!(try_value("SELECT json_extract('{}', 'a')").await.unwrap_err().contains("must start with $"));
    }
}
