//! Query fingerprints: one text per query shape, so statements differing only in their values
//! are counted together.
//!
//! - [`mysql`] follows Percona Toolkit's `QueryRewriter::fingerprint` (what `pt-fingerprint` and
//!   `pt-query-digest` print), rule by rule and in its order, including its quirks: digits
//!   inside names become `?` (`users_2009` → `users_?`) and `asc` is dropped after `ORDER BY`.
//! - [`postgres`] follows pgBadger's `normalize_query`.
//! - [`query_id`] is pt-query-digest's query ID: the upper-case MD5 hex of the fingerprint.
//!
//! Perl's regular expressions with back-references and look-ahead are written out by hand; the
//! rest use the `regex` crate, whose leftmost-first matching gives Perl's answers for them.
//! Case folding is ASCII only, as the Perl tools work on bytes.

use std::sync::LazyLock;

use md5::{Digest, Md5};
use regex::Regex;

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("fingerprint pattern compiles")
}

struct MysqlRules {
    call: Regex,
    multi_insert: Regex,
    block_comment: Regex,
    line_comment: Regex,
    use_db: Regex,
    escaped_quote: Regex,
    double_quoted: Regex,
    single_quoted: Regex,
    number: Regex,
    number_edge: Regex,
    null: Regex,
    lists: Regex,
    limit: Regex,
    order_by: Regex,
}

static MYSQL: LazyLock<MysqlRules> = LazyLock::new(|| MysqlRules {
    call: re(r"(?i)\A\s*(call\s+\S+)\("),
    multi_insert: re(r"(?is)\A((?:INSERT|REPLACE)(?: IGNORE)?\s+INTO.+?VALUES\s*\(.*?\))\s*,\s*\("),
    block_comment: re(r"(?s)/\*[^!].*?\*/"),
    line_comment: re(r#"(?:--|#)[^'"\r\n]*([\r\n]|\z)"#),
    use_db: re(r"(?i)\Ause \S+(\n?)\z"),
    escaped_quote: re(r#"\\["']"#),
    double_quoted: re(r#"(?s)".*?""#),
    single_quoted: re(r"(?s)'.*?'"),
    number: re(r"[0-9+-][0-9a-f.xb+-]*"),
    number_edge: re(r"[xb.+-]\?"),
    null: re(r"(?-u:\b)null(?-u:\b)"),
    lists: re(r"(?-u:\b)(in|values?)(?:[\s,]*\([\s?,]*\))+"),
    limit: re(r"(?-u:\b)limit \?(?:, ?\?| offset \?)?"),
    order_by: re(r"(?i)(?-u:\b)ORDER BY "),
});

/// pt-fingerprint's fingerprint of `query`.
pub fn mysql(query: &str) -> String {
    let rules = &*MYSQL;
    if query.starts_with("SELECT /*!40001 SQL_NO_CACHE */ * FROM `") {
        return "mysqldump".into();
    }
    if has_checksum_comment(query) {
        return "percona-toolkit".into();
    }
    if query.starts_with("administrator command: ") {
        return query.into();
    }
    if let Some(call) = rules.call.captures(query) {
        return call[1].to_ascii_lowercase();
    }
    let mut query = match rules.multi_insert.captures(query) {
        Some(beginning) => beginning[1].to_string(),
        None => query.to_string(),
    };
    if query.contains("/*") {
        query = replace(&rules.block_comment, query, "");
    }
    if query.contains("--") || query.contains('#') {
        query = replace(&rules.line_comment, query, "$1");
    }
    if rules.use_db.is_match(&query) {
        return rules.use_db.replace(&query, "use ?$1").into_owned();
    }
    // Each rule runs only where its text can match: most statements need few of them.
    if query.contains('\\') {
        query = replace(&rules.escaped_quote, query, "");
    }
    if query.contains('"') {
        query = replace(&rules.double_quoted, query, "?");
    }
    if query.contains('\'') {
        query = replace(&rules.single_quoted, query, "?");
    }
    query = replace(&rules.number, query, "?");
    if query.contains('?') {
        query = replace(&rules.number_edge, query, "?");
    }

    let trimmed = query.trim_start_matches(perl_space);
    let trimmed = trimmed.strip_suffix('\n').unwrap_or(trimmed);
    let mut collapsed = String::with_capacity(trimmed.len());
    for c in trimmed.chars() {
        if matches!(c, ' ' | '\n' | '\t' | '\r' | '\x0c') {
            if !collapsed.ends_with(' ') || collapsed.is_empty() {
                collapsed.push(' ');
            }
        } else {
            collapsed.push(c.to_ascii_lowercase());
        }
    }
    query = collapsed;
    if query.contains("null") {
        query = replace(&rules.null, query, "?");
    }
    if query.contains('(') {
        query = replace(&rules.lists, query, "$1(?+)");
    }
    if query.contains("union") {
        query = collapse_unions(&query);
    }
    if query.contains("limit") {
        query = rules.limit.replacen(&query, 1, "limit ?").into_owned();
    }
    if let Some(found) = query.contains("order by").then(|| rules.order_by.find(&query)).flatten() {
        query = drop_asc(&query, found.end());
    }
    query
}

/// `/*word.word:N/N*/`, the comment pt-table-checksum puts in its queries.
fn has_checksum_comment(query: &str) -> bool {
    static CHECKSUM: LazyLock<Regex> = LazyLock::new(|| re(r"/\*\w+\.\w+:[0-9]/[0-9]\*/"));
    query.contains("/*") && CHECKSUM.is_match(query)
}

/// Perl's `\s` (ASCII): space, tab, newline, vertical tab, form feed, carriage return.
fn perl_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

fn replace(rule: &Regex, text: String, with: &str) -> String {
    match rule.replace_all(&text, with) {
        std::borrow::Cow::Borrowed(_) => text,
        std::borrow::Cow::Owned(changed) => changed,
    }
}

/// `s/\b(select\s.*?)(?:(\sunion(?:\sall)?)\s\1)+/$1 \/*repeat$2*\//g`: a select repeated
/// through `union [all]` is kept once.
fn collapse_unions(query: &str) -> String {
    let bytes = query.as_bytes();
    let mut out = String::with_capacity(query.len());
    let mut copied = 0;
    let mut at = 0;
    'scan: while let Some(found) = query[at..].find("select") {
        let start = at + found;
        at = start + 1;
        let boundary = start == 0 || !is_word(bytes[start - 1]);
        if !boundary || !bytes.get(start + 6).is_some_and(|b| is_space(*b)) {
            continue;
        }
        // `.` stops at a newline; the lazy group grows one byte at a time.
        let line_end = query[start..].find('\n').map_or(query.len(), |n| start + n);
        for end in start + 7..=line_end {
            if !query.is_char_boundary(end) {
                continue;
            }
            let group = &query[start..end];
            let mut next = end;
            let mut last_union = None;
            while let Some((union, after)) = union_then(query, next, group) {
                last_union = Some(union);
                next = after;
            }
            if let Some(union) = last_union {
                out.push_str(&query[copied..end]);
                out.push_str(" /*repeat");
                out.push_str(union);
                out.push_str("*/");
                copied = next;
                at = next;
                continue 'scan;
            }
        }
    }
    out.push_str(&query[copied..]);
    out
}

/// At `at`: `\sunion(?:\sall)?` then `\s` then `group`; the union text and where the group ends.
fn union_then<'q>(query: &'q str, at: usize, group: &str) -> Option<(&'q str, usize)> {
    let bytes = query.as_bytes();
    if !bytes.get(at).is_some_and(|b| is_space(*b)) || !query[at + 1..].starts_with("union") {
        return None;
    }
    let mut ends = vec![at + 6];
    if bytes.get(at + 6).is_some_and(|b| is_space(*b)) && query[at + 7..].starts_with("all") {
        ends.insert(0, at + 10);
    }
    ends.into_iter().find_map(|end| {
        let rest = query.get(end..)?;
        let after_space = rest.as_bytes().first().filter(|b| is_space(**b)).map(|_| end + 1)?;
        query[after_space..].starts_with(group).then(|| (&query[at..end], after_space + group.len()))
    })
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// `1 while s/\G(.+?)\s+ASC/$1/gi && pos`: from `from` (after `ORDER BY `), every `\s+asc` that
/// follows at least one character is removed.
fn drop_asc(query: &str, from: usize) -> String {
    let mut out = String::with_capacity(query.len());
    out.push_str(&query[..from]);
    let bytes = query.as_bytes();
    let mut at = from;
    loop {
        // The lazy `.+?` takes at least one character, and `.` stops at a newline.
        let mut found = None;
        let mut i = at + query[at..].chars().next().map_or(1, char::len_utf8);
        while i < bytes.len() && bytes[at..i].iter().all(|b| *b != b'\n') {
            if is_space(bytes[i]) {
                let mut j = i;
                while j < bytes.len() && is_space(bytes[j]) {
                    j += 1;
                }
                if bytes.len() >= j + 3 && bytes[j..j + 3].eq_ignore_ascii_case(b"asc") {
                    found = Some((i, j + 3));
                    break;
                }
            }
            i += 1;
        }
        match found {
            Some((space, end)) => {
                out.push_str(&query[at..space]);
                at = end;
            }
            None => break,
        }
    }
    out.push_str(&query[at..]);
    out
}

struct PostgresRules {
    block_comment: Regex,
    quoted_name: Regex,
    escaped_quote: Regex,
    string: Regex,
    question_runs: Regex,
    line_comment: Regex,
    spaces: Regex,
    only_begin: Regex,
    leading_begin: Regex,
    quoted_alias: Regex,
    equals_null: Regex,
    number: Regex,
    hex: Regex,
    parameter: Regex,
    identifier_mark: Regex,
    in_list: Regex,
    quoted_cursor: Regex,
    declare: Regex,
    fetch: Regex,
    deallocate: Regex,
    space_before_semicolon: Regex,
}

static POSTGRES: LazyLock<PostgresRules> = LazyLock::new(|| PostgresRules {
    block_comment: re(r"(?s)/\*.*?\*/"),
    quoted_name: re(r#""[^"]+""#),
    escaped_quote: re(r"\\'"),
    string: re(r"'[^']*'"),
    question_runs: re(r"\?\?+"),
    line_comment: re(r"\s*--[^\n]+\n"),
    spaces: re(r"\s+"),
    only_begin: re(r"\A\s*begin\s*;\s*\z"),
    leading_begin: re(r"\A\s*begin\s*;\s*"),
    quoted_alias: re(r#"(?i)AS\s+"([^"]+)""#),
    equals_null: re(r"=\s*null"),
    number: re(r"([^a-z0-9_$\-])-?\d+"),
    hex: re(r"([^a-z_$-])0x[0-9a-f]{1,10}"),
    parameter: re(r"\$\d+"),
    identifier_mark: re(r"%sqlident(\d+)%"),
    in_list: re(r"(?-u:\b)in\s*\(['0x,\s?]*\)"),
    quoted_cursor: re(r#"(?-u:\b)(declare|in|deallocate|close)\s+"[^"]+""#),
    declare: re(r#"(?-u:\b)declare\s+[^"\s]+\s+cursor"#),
    fetch: re(r"(?-u:\b)(fetch\s+next\s+from)\s+\S+"),
    deallocate: re(r#"(?-u:\b)(deallocate|close)\s+[^"\s]+"#),
    space_before_semicolon: re(r"\s+;"),
});

/// pgBadger's normalised form of `query`. As pgBadger does before normalising, a statement
/// that does not end with `;` gets one, so `SELECT 1` and `SELECT 1;` are one class.
pub fn postgres(query: &str) -> String {
    let rules = &*POSTGRES;
    let mut query = query.to_string();
    if !query.trim_end_matches(perl_space).ends_with(';') {
        query.push(';');
    }
    let mut query = match query.contains("/*") {
        true => replace(&rules.block_comment, query, ""),
        false => query,
    };
    // Lower case, except the names in double quotes.
    let mut lowered = String::with_capacity(query.len());
    let mut copied = 0;
    for name in rules.quoted_name.find_iter(&query) {
        lowered.push_str(&query[copied..name.start()].to_lowercase());
        lowered.push_str(name.as_str());
        copied = name.end();
    }
    lowered.push_str(&query[copied..].to_lowercase());
    query = lowered;

    if query.contains("\\'") {
        query = replace(&rules.escaped_quote, query, "");
    }
    if query.contains('\'') {
        query = replace(&rules.string, query, "?");
    }
    if query.contains("??") {
        query = replace(&rules.question_runs, query, "?");
    }
    if query.contains("--") {
        query = replace(&rules.line_comment, query, "\n");
    }
    query = replace(&rules.spaces, query, " ");
    if !rules.only_begin.is_match(&query) {
        query = replace(&rules.leading_begin, query, "");
    }
    let quoted = query.contains('"');
    if quoted {
        query = rules
            .quoted_alias
            .replace_all(&query, |c: &regex::Captures| format!("AS \"{}\"", c[1].replace('\'', "")))
            .into_owned();
    }
    if query.contains("null") {
        query = replace(&rules.equals_null, query, "= ?");
    }

    // Names in double quotes are set aside while numbers are replaced.
    let mut names = Vec::new();
    if quoted {
        query = rules
            .quoted_name
            .replace_all(&query, |c: &regex::Captures| {
                names.push(c[0][1..c[0].len() - 1].to_string());
                format!("%sqlident{}%", names.len() - 1)
            })
            .into_owned();
    }
    query = replace(&rules.number, query, "$1?");
    if query.contains("0x") {
        query = replace(&rules.hex, query, "$1?");
    }
    if query.contains('$') {
        query = replace(&rules.parameter, query, "?");
    }
    if !names.is_empty() {
        query = rules
            .identifier_mark
            .replace_all(&query, |c: &regex::Captures| {
                let name = c[1].parse::<usize>().ok().and_then(|i| names.get(i)).map_or("", String::as_str);
                format!("\"{name}\"")
            })
            .into_owned();
    }

    if query.contains("in") {
        query = replace(&rules.in_list, query, "in (...)");
    }
    if quoted {
        query = replace(&rules.quoted_cursor, query, "$1 \"...\"");
    }
    if query.contains("declare") {
        query = replace(&rules.declare, query, "declare \"...\" cursor");
    }
    if query.contains("fetch") {
        query = replace(&rules.fetch, query, "$1 \"...\"");
    }
    if query.contains("deallocate") || query.contains("close") {
        query = replace(&rules.deallocate, query, "$1 \"...\"");
    }
    let query = query.trim_matches(perl_space);
    rules.space_before_semicolon.replacen(query, 1, ";").into_owned()
}

/// pt-query-digest's query ID of a fingerprint: its MD5 as 32 upper-case hex digits (Percona
/// Toolkit before 3.5 prints the last 16).
pub fn query_id(fingerprint: &str) -> String {
    let digest = Md5::digest(fingerprint.as_bytes());
    let mut hex = String::with_capacity(32);
    for byte in digest {
        hex.push_str(&format!("{byte:02X}"));
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mysql_as_percona_documents() {
        let cases = [
            ("SELECT * FROM users WHERE id = 5", "select * from users where id = ?"),
            ("select * from users_2009 where name = 'bob'", "select * from users_? where name = ?"),
            ("INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y')", "insert into t (a, b) values(?+)"),
            ("SELECT * FROM t WHERE a IN (1, 2, 3) LIMIT 5, 10", "select * from t where a in(?+) limit ?"),
            ("select a from t order by a asc, b ASC", "select a from t order by a, b"),
            ("CALL sp_foo(1, 2)", "call sp_foo"),
            ("use mydb", "use ?"),
            ("SELECT /* hint */ 1 -- trailing\n", "select ? "),
            ("select 1 union select 1 union select 1", "select ? /*repeat union*/"),
            ("SELECT /*!40001 SQL_NO_CACHE */ * FROM `t`", "mysqldump"),
            ("administrator command: Ping", "administrator command: Ping"),
            ("select * from t where a is NULL and b = true", "select * from t where a is ? and b = true"),
        ];
        for (query, expected) in cases {
            assert_eq!(mysql(query), expected, "{query}");
        }
    }

    #[test]
    fn postgres_as_pgbadger_normalises() {
        let cases = [
            ("SELECT * FROM \"Users\" WHERE id = 42", "select * from \"Users\" where id = ?;"),
            ("select a from t where b in (1, 2, 3) and c = 'x'", "select a from t where b in (...) and c = ?;"),
            ("SELECT $1::int, x1 FROM t2 WHERE y = -5;", "select ?::int, x1 from t2 where y = ?;"),
            ("BEGIN; UPDATE t SET a = NULL ;", "update t set a = ?;"),
            ("fetch next from c1", "fetch next from \"...\""),
        ];
        for (query, expected) in cases {
            assert_eq!(postgres(query), expected, "{query}");
        }
    }

    #[test]
    fn query_id_is_upper_case_md5() {
        assert_eq!(query_id("select ?"), "1FE1379FE2A31B8D16219655761820A2");
    }
}
