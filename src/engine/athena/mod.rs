//! Athena's SQL on DataFusion: the dialect glaux parses, the Trino syntax it rewrites before
//! planning, and Trino's functions with Athena's semantics.
//!
//! Every statement glaux runs — REPL, `-c`, `-f`, jobs — is parsed by [`parse`] and planned in
//! a session prepared by [`install`], so a query pasted from Athena behaves the same wherever
//! it runs.

pub mod dialect;
pub mod functions;
mod rewrite;
mod unnest;

use std::collections::VecDeque;

use datafusion::error::Result;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::{DFParserBuilder, Statement};

use dialect::AthenaDialect;

/// Parses `sql` as Athena reads it: bare `VALUES` rows, `if`, `try` and lambdas included.
pub fn parse(sql: &str, recursion_limit: usize) -> Result<VecDeque<Statement>> {
    let dialect = AthenaDialect;
    let rewritten = rewrite::parenthesize_values(sql, &dialect);
    let text = rewritten.as_deref().unwrap_or(sql);
    let travelled = rewrite::time_travel_keywords(text, &dialect);
    let text = travelled.as_deref().unwrap_or(text);
    let mut statements = DFParserBuilder::new(text)
        .with_dialect(&dialect)
        .with_recursion_limit(recursion_limit)
        .build()?
        .parse_statements()?;
    let fallible = functions::fallible();
    for statement in statements.iter_mut() {
        rewrite_statement(statement, fallible);
    }
    Ok(statements)
}

fn rewrite_statement(statement: &mut Statement, fallible: &std::collections::HashSet<String>) {
    match statement {
        // A view is stored as written, so that Athena reads it too; its query is rewritten when
        // it is planned.
        Statement::Statement(inner)
            if matches!(inner.as_ref(), datafusion::sql::sqlparser::ast::Statement::CreateView(_)) => {}
        Statement::Statement(inner) => {
            rewrite::pin_versions(inner.as_mut());
            rewrite::number_unnested(inner.as_mut());
            rewrite::rewrite_expressions(inner.as_mut(), fallible);
        }
        Statement::Explain(explain) => rewrite_statement(&mut explain.statement, fallible),
        Statement::CopyTo(copy) => {
            if let datafusion::sql::parser::CopyToSource::Query(query) = &mut copy.source {
                rewrite::pin_versions(query.as_mut());
                rewrite::number_unnested(query.as_mut());
                rewrite::rewrite_expressions(query.as_mut(), fallible);
            }
        }
        Statement::CreateExternalTable(_) | Statement::Reset(_) => {}
    }
}

/// Rewrites a query the way [`parse`] rewrites every statement (a view's, before planning it).
pub fn rewrite_query(query: &mut datafusion::sql::sqlparser::ast::Query) {
    rewrite::pin_versions(query);
    rewrite::number_unnested(query);
    rewrite::rewrite_expressions(query, functions::fallible());
}

/// The expression planners a glaux session puts before DataFusion's (which come with its
/// default features): EXTRACT planned as Athena plans it.
pub fn expr_planners() -> Vec<std::sync::Arc<dyn datafusion::logical_expr::planner::ExprPlanner>> {
    vec![std::sync::Arc::new(functions::ExtractPlanner)]
}

/// Prepares a session for Athena's SQL: registers the functions and the rule that runs
/// correlated `CROSS JOIN UNNEST`. (EXTRACT's planner is set when the session is built:
/// [`expr_planners`].)
pub fn install(ctx: &SessionContext) {
    functions::register(ctx);
    ctx.add_analyzer_rule(std::sync::Arc::new(unnest::LateralUnnest));
}

/// Plans one statement of Athena SQL allowed by `options`, as `SessionContext::sql_with_options`
/// does for DataFusion's SQL.
pub async fn sql(
    ctx: &SessionContext,
    sql: &str,
    options: datafusion::execution::context::SQLOptions,
) -> Result<datafusion::dataframe::DataFrame> {
    let recursion_limit = ctx.state().config().options().sql_parser.recursion_limit.get();
    let mut statements = parse(sql, recursion_limit)?;
    if statements.len() != 1 {
        return datafusion::common::plan_err!("expected one SQL statement, found {}", statements.len());
    }
    let Some(statement) = statements.pop_front() else {
        return datafusion::common::plan_err!("expected one SQL statement, found none");
    };
    let plan = ctx.state().statement_to_plan(statement).await?;
    options.verify_plan(&plan)?;
    ctx.execute_logical_plan(plan).await
}

#[cfg(test)]
mod tests {
    use arrow::util::pretty::pretty_format_batches;
    use datafusion::execution::context::SQLOptions;

    use super::*;

    /// The rows of `query` run as glaux runs it, one line per row, cells separated by `|`.
    async fn rows(query: &str) -> Vec<String> {
        let ctx = SessionContext::new();
        install(&ctx);
        let frame = sql(&ctx, query, SQLOptions::new()).await.unwrap_or_else(|e| panic!("{query}: {e}"));
        let batches = frame.collect().await.unwrap_or_else(|e| panic!("{query}: {e}"));
        let table = pretty_format_batches(&batches).unwrap().to_string();
        table
            .lines()
            .skip(3)
            .filter(|l| l.starts_with('|'))
            .map(|l| l.trim_matches('|').split('|').map(str::trim).collect::<Vec<_>>().join("|"))
            .collect()
    }

    async fn error(query: &str) -> String {
        let ctx = SessionContext::new();
        install(&ctx);
        match sql(&ctx, query, SQLOptions::new()).await {
            Err(e) => e.to_string(),
            Ok(frame) => frame.collect().await.map(|_| String::new()).unwrap_or_else(|e| e.to_string()),
        }
    }

    #[tokio::test]
    async fn bare_values_and_if() {
        assert_eq!(rows("SELECT x * 2 FROM (VALUES 1, 2, 3) AS t(x) ORDER BY 1").await, ["2", "4", "6"]);
        assert_eq!(
            rows("SELECT if(x > 1, 'big', 'small'), if(x > 1, 'big') FROM (VALUES 1, 2) AS t(x) ORDER BY x").await,
            ["small|", "big|big"]
        );
        assert_eq!(rows("SELECT if(n = 0, 0, 10 / n) FROM (VALUES 0, 5) AS t(n) ORDER BY n").await, ["0", "2"]);
    }

    #[tokio::test]
    async fn try_gives_null_where_the_expression_fails() {
        assert_eq!(rows("SELECT try(10 / n) FROM (VALUES 0, 5) AS t(n) ORDER BY n").await, ["", "2"]);
        assert_eq!(
            rows("SELECT try(CAST(s AS INTEGER)) AS n FROM (VALUES 'x', '7') AS t(s) ORDER BY s").await,
            ["7", ""]
        );
        assert_eq!(
            rows("SELECT try(date_parse(s, '%Y-%m-%d')) FROM (VALUES '2020-02-30', '2020-02-29') AS t(s) ORDER BY s")
                .await,
            ["2020-02-29T00:00:00", ""]
        );
        assert_eq!(rows("SELECT coalesce(try(json_parse('{')), 'bad')").await, ["bad"]);
        assert!(error("SELECT date_parse('2020-02-30', '%Y-%m-%d')").await.contains("2020-02-30"));
    }

    #[tokio::test]
    async fn lambdas_under_trino_names() {
        assert_eq!(rows("SELECT transform(ARRAY[1, 2, 3], x -> x * 10)").await, ["[10, 20, 30]"]);
        assert_eq!(rows("SELECT filter(ARRAY[5, -6, NULL, 7], x -> x > 0)").await, ["[5, 7]"]);
        assert_eq!(rows("SELECT any_match(ARRAY[1, 2], x -> x > 1)").await, ["true"]);
        // Trino's documentation examples of reduce.
        assert_eq!(rows("SELECT reduce(ARRAY[5, 20, 50], 0, (s, x) -> s + x, s -> s)").await, ["75"]);
        assert_eq!(rows("SELECT reduce(CAST(ARRAY[] AS INT[]), 0, (s, x) -> s + x, s -> s)").await, ["0"]);
        assert_eq!(rows("SELECT reduce(ARRAY[5, 6, 10, 20], 0.0, (s, x) -> s + x, s -> s * 2)").await, ["82.0"]);
        assert_eq!(
            rows("SELECT n, reduce(a, n, (s, x) -> s * x, s -> s) FROM (VALUES (1, ARRAY[2, 3]), (10, ARRAY[4]), (5, NULL)) t(n, a) ORDER BY n").await,
            ["1|6", "5|", "10|40"]
        );
    }

    #[tokio::test]
    async fn correlated_unnest_with_and_without_ordinality() {
        let t = "(VALUES (1, ARRAY['a', 'b']), (2, ARRAY['c']), (3, CAST(ARRAY[] AS VARCHAR[]))) AS t(id, tags)";
        assert_eq!(
            rows(&format!("SELECT t.id, u.tag FROM {t} CROSS JOIN UNNEST(t.tags) AS u(tag) ORDER BY 1, 2")).await,
            ["1|a", "1|b", "2|c"]
        );
        assert_eq!(
            rows(&format!(
                "SELECT id, tag, n FROM {t} CROSS JOIN UNNEST(tags) WITH ORDINALITY AS u(tag, n) ORDER BY 1, 3"
            ))
            .await,
            ["1|a|1", "1|b|2", "2|c|1"]
        );
        assert_eq!(
            rows(&format!("SELECT u.tag, count(*) FROM {t} CROSS JOIN UNNEST(t.tags) AS u(tag) WHERE t.id < 3 GROUP BY u.tag ORDER BY 1")).await,
            ["a|1", "b|1", "c|1"]
        );
    }

    #[tokio::test]
    async fn unnest_of_maps_and_rows_gives_a_column_per_field() {
        let maps = "(SELECT 1 AS id, MAP {'a': 10, 'b': 20} AS m UNION ALL SELECT 2, MAP {'c': 30}) AS t";
        assert_eq!(
            rows(&format!("SELECT id, k, v FROM {maps} CROSS JOIN UNNEST(m) AS u(k, v) ORDER BY k")).await,
            ["1|a|10", "1|b|20", "2|c|30"]
        );
        assert_eq!(
            rows(&format!(
                "SELECT k, v, n FROM {maps} CROSS JOIN UNNEST(m) WITH ORDINALITY AS u(k, v, n) WHERE id = 1 ORDER BY n"
            ))
            .await,
            ["a|10|1", "b|20|2"]
        );
        let rows_of = "(SELECT 1 AS id, [named_struct('name', 'x', 'qty', 2), named_struct('name', 'y', 'qty', 5)] AS items) AS t";
        assert_eq!(
            rows(&format!("SELECT id, name, qty FROM {rows_of} CROSS JOIN UNNEST(items) AS u(name, qty) ORDER BY qty"))
                .await,
            ["1|x|2", "1|y|5"]
        );
        assert!(
            error("SELECT * FROM (SELECT ARRAY[1] AS a) t CROSS JOIN UNNEST(a) AS u(x, y)")
                .await
                .contains("map or an array of rows")
        );
    }
}
