//! Correlated `CROSS JOIN UNNEST(t.arr) AS u(x)`, as Trino runs it.
//!
//! DataFusion plans the UNNEST as a subquery reading `t.arr` as an outer reference, joined to
//! `t`, and cannot execute it. This analyzer rule moves the unnest onto the join's left side
//! (one output row per element, with the left row's columns), which is what the join means,
//! and keeps the names the query sees: the left side's columns as they were, the unnested
//! columns under the UNNEST's alias.

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, Result};
use datafusion::logical_expr::{Expr, JoinType, LogicalPlan, Projection, SubqueryAlias};
use datafusion::optimizer::AnalyzerRule;

/// The analyzer rule that runs correlated UNNEST joins.
#[derive(Debug, Default)]
pub struct LateralUnnest;

impl AnalyzerRule for LateralUnnest {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|node| match lateral_unnest(&node)? {
            Some(rewritten) => Ok(Transformed::yes(rewritten)),
            None => Ok(Transformed::no(node)),
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "athena_lateral_unnest"
    }
}

/// `left CROSS JOIN UNNEST(…) AS u(…)` as an unnest of `left`, or None when `node` is not one.
fn lateral_unnest(node: &LogicalPlan) -> Result<Option<LogicalPlan>> {
    let LogicalPlan::Join(join) = node else { return Ok(None) };
    if join.join_type != JoinType::Inner || !join.on.is_empty() || join.filter.is_some() {
        return Ok(None);
    }
    let LogicalPlan::SubqueryAlias(SubqueryAlias { input, alias, .. }) = join.right.as_ref() else {
        return Ok(None);
    };
    let LogicalPlan::Subquery(subquery) = input.as_ref() else { return Ok(None) };
    if subquery.outer_ref_columns.is_empty() || !is_unnest_of_one_row(&subquery.subquery) {
        return Ok(None);
    }
    let left = join.left.as_ref().clone();
    let left_columns: Vec<Expr> = left.schema().columns().into_iter().map(Expr::Column).collect();
    let outputs: Vec<String> = subquery.subquery.schema().fields().iter().map(|f| f.name().clone()).collect();
    // Feed the left side in place of the one empty row, carrying its columns through.
    let moved = subquery.subquery.as_ref().clone().transform_up(|plan| match plan {
        LogicalPlan::EmptyRelation(_) => Ok(Transformed::yes(left.clone())),
        LogicalPlan::Projection(projection) => {
            let mut expr = left_columns.clone();
            expr.extend(projection.expr.iter().cloned().map(without_outer_references).collect::<Result<Vec<_>>>()?);
            Ok(Transformed::yes(LogicalPlan::Projection(Projection::try_new(expr, projection.input)?)))
        }
        other => Ok(Transformed::yes(other.recompute_schema()?)),
    })?;
    let mut expr = left_columns;
    expr.extend(
        outputs
            .iter()
            .map(|name| Expr::Column(Column::new_unqualified(name)).alias_qualified(Some(alias.clone()), name)),
    );
    Ok(Some(LogicalPlan::Projection(Projection::try_new(expr, Arc::new(moved.data))?)))
}

/// Whether `plan` is projections and unnests over the one empty row, the shape DataFusion
/// gives `UNNEST(…)` in FROM.
fn is_unnest_of_one_row(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::Projection(p) => is_unnest_of_one_row(&p.input),
        LogicalPlan::Unnest(u) => is_unnest_of_one_row(&u.input),
        LogicalPlan::EmptyRelation(e) => e.produce_one_row,
        _ => false,
    }
}

/// `expr` with outer references (`outer_ref(t.arr)`) read as plain columns.
fn without_outer_references(expr: Expr) -> Result<Expr> {
    expr.transform_up(|e| match e {
        Expr::OuterReferenceColumn(_, column) => Ok(Transformed::yes(Expr::Column(column))),
        other => Ok(Transformed::no(other)),
    })
    .map(|t| t.data)
}
