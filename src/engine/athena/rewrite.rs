//! Trino syntax DataFusion does not read, rewritten into forms it does before planning.
//!
//! - `VALUES 1, 2, 3` (rows without parentheses) becomes `VALUES (1), (2), (3)`: a token-level
//!   rewrite, because the parser stops at the first bare row.
//! - `SUBSTR` and `SUBSTRING`, which the parser reads as syntax, call glaux's `substr`.
//! - `if(c, a[, b])` becomes `CASE WHEN c THEN a ELSE b END`, so that `b` is evaluated only
//!   where `c` is false (`if(n = 0, 0, x / n)` does not divide by zero).
//! - `try(e)` gives NULL where evaluating `e` fails: inside it, casts become `TRY_CAST`,
//!   division and modulo by zero give NULL, and glaux's functions that raise errors
//!   (`date_parse`, `json_parse`, `from_iso8601_timestamp`, …) run in their NULL-on-error form.
//!   Errors of other DataFusion functions inside `try` still fail the query.
//! - `UNNEST(m) AS u(k, v)` over a map, or over an array of rows with as many names as fields,
//!   unnests one array per field side by side.
//! - `UNNEST(a) WITH ORDINALITY AS u(x, n)` unnests `a` beside `range(1, cardinality(a) + 1)`,
//!   so `n` numbers the elements from 1.
//! - `t FOR VERSION AS OF 12` and `t FOR TIMESTAMP AS OF ts` (time travel): the parser reads
//!   them without `FOR` (a token-level rewrite drops it), and the version moves into the table's
//!   name, which [`crate::engine::travel`] resolves to the snapshot.

use std::collections::HashSet;
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::helpers::attached_token::AttachedToken;
use datafusion::sql::sqlparser::ast::{
    BinaryOperator, CaseWhen, CastKind, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments, Ident,
    ObjectName, ObjectNamePart, TableFactor, Value, VisitMut, VisitorMut, visit_expressions_mut,
};
use datafusion::sql::sqlparser::dialect::Dialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

/// The function that splits a map or an array of rows into one array per field, for UNNEST.
pub const UNNEST_FIELD: &str = "glaux_unnest_field";

/// The prefix of a function's NULL-on-error form (`try_date_parse`), registered beside it.
pub const TRY_PREFIX: &str = "try_";

/// Puts parentheses around bare `VALUES` rows; None when the text has none (it is parsed as is).
/// The output copies the input's own text token by token, so literals keep their escaping.
pub fn parenthesize_values(sql: &str, dialect: &dyn Dialect) -> Option<String> {
    let located = Tokenizer::new(dialect, sql).tokenize_with_location().ok()?;
    let starts = byte_offsets(sql, located.iter().map(|t| (t.span.start.line, t.span.start.column)));
    let texts: Vec<&str> =
        (0..located.len()).map(|i| &sql[starts[i]..starts.get(i + 1).copied().unwrap_or(sql.len())]).collect();
    let tokens: Vec<Token> = located.into_iter().map(|t| t.token).collect();
    let significant = |from: usize| (from..tokens.len()).find(|&i| !matches!(tokens[i], Token::Whitespace(_)));
    let mut rewrites = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let Token::Word(word) = token else { continue };
        if word.keyword != Keyword::VALUES {
            continue;
        }
        let Some(first) = significant(i + 1) else { continue };
        if tokens[first] == Token::LParen && row_is_parenthesized(&tokens, first) {
            continue;
        }
        rewrites.push(first);
    }
    if rewrites.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(sql.len() + 16);
    let mut i = 0;
    let mut pending = rewrites.into_iter().peekable();
    while i < tokens.len() {
        if pending.peek() == Some(&i) {
            pending.next();
            i = write_rows(&tokens, &texts, i, &mut out);
            continue;
        }
        out.push_str(texts[i]);
        i += 1;
    }
    Some(out)
}

/// The byte offset of each (line, column) position (1-based, columns in characters), given in
/// increasing order.
fn byte_offsets(sql: &str, positions: impl Iterator<Item = (u64, u64)>) -> Vec<usize> {
    let mut line_starts = vec![0];
    line_starts.extend(sql.match_indices('\n').map(|(i, _)| i + 1));
    positions
        .map(|(line, column)| {
            let start = line_starts.get((line.max(1) - 1) as usize).copied().unwrap_or(sql.len());
            sql[start..].char_indices().nth((column.max(1) - 1) as usize).map_or(sql.len(), |(i, _)| start + i)
        })
        .collect()
}

/// Whether the parenthesis at `open` encloses a whole row (`(1, 2), …`) rather than starting
/// an expression (`(1 + 2) * 3, …`).
fn row_is_parenthesized(tokens: &[Token], open: usize) -> bool {
    let close = matching(tokens, open);
    let next = (close + 1..tokens.len()).find(|&i| !matches!(tokens[i], Token::Whitespace(_)));
    match next.map(|i| &tokens[i]) {
        None | Some(Token::Comma | Token::RParen | Token::SemiColon) => true,
        Some(Token::Word(w)) => ends_values(w.keyword),
        _ => false,
    }
}

/// The index of the parenthesis closing the one at `open` (or the last token).
fn matching(tokens: &[Token], open: usize) -> usize {
    let mut depth = 0;
    for (i, token) in tokens.iter().enumerate().skip(open) {
        match token {
            Token::LParen | Token::LBracket => depth += 1,
            Token::RParen | Token::RBracket => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    tokens.len() - 1
}

/// Keywords that end a `VALUES` list.
fn ends_values(keyword: Keyword) -> bool {
    matches!(
        keyword,
        Keyword::ORDER
            | Keyword::LIMIT
            | Keyword::OFFSET
            | Keyword::FETCH
            | Keyword::UNION
            | Keyword::EXCEPT
            | Keyword::INTERSECT
            | Keyword::AS
            | Keyword::ON
            | Keyword::WHERE
            | Keyword::JOIN
            | Keyword::CROSS
            | Keyword::LEFT
            | Keyword::RIGHT
            | Keyword::INNER
            | Keyword::FULL
    )
}

/// Writes the rows starting at `start` each in parentheses; returns the index after the list.
fn write_rows(tokens: &[Token], texts: &[&str], start: usize, out: &mut String) -> usize {
    let mut depth = 0i32;
    let mut i = start;
    let mut row = String::new();
    let mut rows = Vec::new();
    while i < tokens.len() {
        let token = &tokens[i];
        match token {
            Token::LParen | Token::LBracket => depth += 1,
            Token::RParen | Token::RBracket if depth == 0 => break,
            Token::RParen | Token::RBracket => depth -= 1,
            Token::SemiColon if depth == 0 => break,
            Token::Comma if depth == 0 => {
                rows.push(std::mem::take(&mut row));
                i += 1;
                continue;
            }
            Token::Word(w) if depth == 0 && ends_values(w.keyword) => break,
            _ => {}
        }
        row.push_str(texts[i]);
        i += 1;
    }
    // Whitespace before what follows the list stays outside the last row.
    let tail = row[row.trim_end().len()..].to_string();
    rows.push(row);
    let rows: Vec<String> = rows.iter().map(|r| format!("({})", r.trim())).collect();
    out.push_str(&rows.join(", "));
    out.push_str(&tail);
    i
}

/// Drops the `FOR` of Athena's `FOR VERSION AS OF` and `FOR TIMESTAMP AS OF`, which the parser
/// reads as `VERSION AS OF` and `TIMESTAMP AS OF`; None when the text has neither.
pub fn time_travel_keywords(sql: &str, dialect: &dyn Dialect) -> Option<String> {
    // Most statements have no `OF` at all: spare them a second tokenization.
    if !sql.as_bytes().windows(2).any(|w| w.eq_ignore_ascii_case(b"of")) {
        return None;
    }
    let located = Tokenizer::new(dialect, sql).tokenize_with_location().ok()?;
    let starts = byte_offsets(sql, located.iter().map(|t| (t.span.start.line, t.span.start.column)));
    let tokens: Vec<Token> = located.into_iter().map(|t| t.token).collect();
    let words: Vec<(usize, Keyword)> = tokens
        .iter()
        .enumerate()
        .filter(|(_, t)| !matches!(t, Token::Whitespace(_)))
        .map(|(i, t)| (i, if let Token::Word(w) = t { w.keyword } else { Keyword::NoKeyword }))
        .collect();
    let mut drop = Vec::new();
    for window in words.windows(4) {
        let [(at, Keyword::FOR), (_, Keyword::VERSION | Keyword::TIMESTAMP), (_, Keyword::AS), (_, Keyword::OF)] =
            window
        else {
            continue;
        };
        drop.push(*at);
    }
    if drop.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(sql.len());
    let mut from = 0;
    for at in drop {
        out.push_str(&sql[from..starts[at]]);
        from = starts.get(at + 1).copied().unwrap_or(sql.len());
    }
    out.push_str(&sql[from..]);
    Some(out)
}

/// Moves each table's `VERSION AS OF` / `TIMESTAMP AS OF` into its name (see
/// [`crate::engine::travel`]).
pub fn pin_versions<V: VisitMut>(node: &mut V) {
    let _ = node.visit(&mut PinVersions);
}

struct PinVersions;

impl VisitorMut for PinVersions {
    type Break = ();

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        use crate::engine::travel::{AsOf, encode};
        use datafusion::sql::sqlparser::ast::TableVersion;
        let TableFactor::Table { name, version, .. } = factor else { return ControlFlow::Continue(()) };
        let as_of = match version.take() {
            None => return ControlFlow::Continue(()),
            Some(TableVersion::VersionAsOf(Expr::Value(value))) => match &value.value {
                Value::Number(n, _) => match n.parse() {
                    Ok(n) => AsOf::Version(n),
                    // Not a version number: the name resolves to no table and says so.
                    Err(_) => AsOf::Timestamp(format!("'not a version: {n}'")),
                },
                other => AsOf::Timestamp(other.to_string()),
            },
            Some(TableVersion::TimestampAsOf(expr) | TableVersion::ForSystemTimeAsOf(expr)) => {
                AsOf::Timestamp(expr.to_string())
            }
            Some(other) => {
                *version = Some(other);
                return ControlFlow::Continue(());
            }
        };
        if let Some(ObjectNamePart::Identifier(ident)) = name.0.last_mut() {
            // The planner lowercases unquoted names; this one is quoted, so lowercase it here.
            let table = if ident.quote_style.is_none() { ident.value.to_lowercase() } else { ident.value.clone() };
            *ident = Ident::with_quote('"', encode(&table, &as_of));
        }
        ControlFlow::Continue(())
    }
}

/// Replaces `WITH ORDINALITY` in every UNNEST of `node` by an unnested array of ordinals.
pub fn number_unnested<V: VisitMut>(node: &mut V) {
    let _ = node.visit(&mut Ordinality);
}

struct Ordinality;

impl VisitorMut for Ordinality {
    type Break = ();

    fn post_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        // One map or array of rows named by several columns (`UNNEST(m) AS u(k, v)`) unnests
        // as its fields side by side: keys and values, or each field of the rows.
        if let TableFactor::UNNEST { array_exprs, with_ordinality, alias: Some(alias), .. } = factor
            && array_exprs.len() == 1
        {
            let named = alias.columns.len() - usize::from(*with_ordinality && !alias.columns.is_empty());
            if named > 1 {
                let source = array_exprs.remove(0);
                for field in 0..named {
                    array_exprs.push(call(UNNEST_FIELD, vec![source.clone(), number(&field.to_string())]));
                }
            }
        }
        if let TableFactor::UNNEST { array_exprs, with_ordinality, .. } = factor
            && *with_ordinality
            && !array_exprs.is_empty()
        {
            *with_ordinality = false;
            let lengths: Vec<Expr> = array_exprs.iter().map(|a| call("cardinality", vec![a.clone()])).collect();
            let longest = if lengths.len() == 1 {
                lengths.into_iter().next().unwrap_or(Expr::Value(Value::Null.into()))
            } else {
                call("greatest", lengths)
            };
            let longest = Expr::Cast {
                kind: CastKind::Cast,
                expr: Box::new(longest),
                data_type: datafusion::sql::sqlparser::ast::DataType::BigInt(None),
                array: false,
                format: None,
            };
            let end =
                Expr::BinaryOp { left: Box::new(longest), op: BinaryOperator::Plus, right: Box::new(number("1")) };
            array_exprs.push(call("range", vec![number("1"), end]));
        }
        ControlFlow::Continue(())
    }
}

fn number(n: &str) -> Expr {
    Expr::Value(Value::Number(n.into(), false).into())
}

/// Applies the expression rewrites to every expression of `node`. `fallible` names the
/// functions with a NULL-on-error form.
pub fn rewrite_expressions<V: VisitMut>(node: &mut V, fallible: &HashSet<String>) {
    let _ = visit_expressions_mut(node, |expr| {
        if let Some(rewritten) = rewrite(expr, fallible) {
            *expr = rewritten;
        }
        ControlFlow::<()>::Continue(())
    });
}

fn rewrite(expr: &Expr, fallible: &HashSet<String>) -> Option<Expr> {
    if let Expr::Substring { expr, substring_from, substring_for, .. } = expr {
        // The parser reads SUBSTR and SUBSTRING specially; call glaux's `substr` (negative
        // positions count from the end) instead of DataFusion's, which the planner would pick.
        let from = substring_from.as_deref().cloned().unwrap_or_else(|| number("1"));
        let mut args = vec![expr.as_ref().clone(), from];
        args.extend(substring_for.as_deref().cloned());
        return Some(call("substr", args));
    }
    let Expr::Function(function) = expr else { return None };
    if function.over.is_some() || function.filter.is_some() {
        return None;
    }
    let name = single_name(&function.name)?;
    let args = plain_args(function)?;
    match (name.as_str(), args.as_slice()) {
        ("if", [condition, then]) => Some(case(condition, then, None)),
        ("if", [condition, then, otherwise]) => Some(case(condition, then, Some(otherwise))),
        ("try", [inner]) => {
            let mut inner = (*inner).clone();
            make_lenient(&mut inner, fallible);
            Some(Expr::Nested(Box::new(inner)))
        }
        _ => None,
    }
}

/// A function's name when it has one part (`if`, not `db.if`), lower-cased.
fn single_name(name: &ObjectName) -> Option<String> {
    match name.0.as_slice() {
        [ObjectNamePart::Identifier(ident)] if ident.quote_style.is_none() => Some(ident.value.to_ascii_lowercase()),
        _ => None,
    }
}

/// A call's arguments when they are all plain expressions.
fn plain_args(function: &Function) -> Option<Vec<&Expr>> {
    let FunctionArguments::List(list) = &function.args else { return None };
    if list.duplicate_treatment.is_some() || !list.clauses.is_empty() {
        return None;
    }
    list.args
        .iter()
        .map(|arg| match arg {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
            _ => None,
        })
        .collect()
}

fn case(condition: &Expr, then: &Expr, otherwise: Option<&Expr>) -> Expr {
    Expr::Case {
        case_token: AttachedToken::empty(),
        end_token: AttachedToken::empty(),
        operand: None,
        conditions: vec![CaseWhen { condition: condition.clone(), result: then.clone() }],
        else_result: otherwise.map(|e| Box::new(e.clone())),
    }
}

/// Rewrites `expr` so that the failures `try` catches give NULL instead.
fn make_lenient(expr: &mut Expr, fallible: &HashSet<String>) {
    let _ = visit_expressions_mut(expr, |e| {
        match e {
            Expr::Cast { kind, .. } if matches!(kind, CastKind::Cast | CastKind::DoubleColon) => {
                *kind = CastKind::TryCast
            }
            Expr::BinaryOp { op: BinaryOperator::Divide | BinaryOperator::Modulo, right, .. } => {
                let divisor = std::mem::replace(right.as_mut(), Expr::Value(Value::Null.into()));
                **right = nullif_zero(divisor);
            }
            Expr::Function(function) => {
                if let Some(name) = single_name(&function.name).filter(|n| fallible.contains(n)) {
                    function.name =
                        ObjectName(vec![ObjectNamePart::Identifier(Ident::new(format!("{TRY_PREFIX}{name}")))]);
                }
            }
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
}

fn nullif_zero(divisor: Expr) -> Expr {
    call("nullif", vec![divisor, number("0")])
}

/// A call of the function `name`.
fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(Function {
        name: ObjectName(vec![ObjectNamePart::Identifier(Ident::new(name))]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(datafusion::sql::sqlparser::ast::FunctionArgumentList {
            duplicate_treatment: None,
            args: args.into_iter().map(|a| FunctionArg::Unnamed(FunctionArgExpr::Expr(a))).collect(),
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::athena::dialect::AthenaDialect;

    fn values(sql: &str) -> String {
        parenthesize_values(sql, &AthenaDialect).unwrap_or_else(|| sql.to_string())
    }

    #[test]
    fn bare_values_rows_get_parentheses() {
        assert_eq!(values("VALUES 1, 2, 3"), "VALUES (1), (2), (3)");
        assert_eq!(
            values("SELECT * FROM (VALUES 1, (2 + 3) * 4) AS t(x)"),
            "SELECT * FROM (VALUES (1), ((2 + 3) * 4)) AS t(x)"
        );
        assert_eq!(values("VALUES 'a', 'it''s' ORDER BY 1"), "VALUES ('a'), ('it''s') ORDER BY 1");
        assert_eq!(values("VALUES (1, 'a'), (2, 'b')"), "VALUES (1, 'a'), (2, 'b')");
        assert_eq!(values("INSERT INTO t VALUES 1, 2;"), "INSERT INTO t VALUES (1), (2);");
        assert!(parenthesize_values("SELECT 1", &AthenaDialect).is_none());
    }
}
