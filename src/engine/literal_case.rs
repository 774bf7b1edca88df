//! `CASE WHEN … THEN 'literal' … END` by picking, not by filtering.
//!
//! Feature jobs band values with searched CASEs whose results are all literals (`'18-24'`,
//! `'high'`, `'at_risk'`). DataFusion 55 evaluates such a CASE branch by branch: it filters the
//! rows no earlier branch matched into a new batch, evaluates the next condition on it, and
//! merges the results, so each branch copies the columns the remaining conditions read. On a
//! million rows a seven-branch CASE took about 60 ms of the feature job's projection.
//!
//! When every condition is infallible (comparisons, `IS [NOT] NULL`, `AND`, `OR`, `NOT` over
//! columns and literals), evaluating it on rows an earlier branch took cannot fail or be seen,
//! so [`LiteralCase`] evaluates each condition on the whole batch, keeps for each row the first
//! branch that holds (a NULL condition does not hold, as in SQL), and takes the results from the
//! branch literals in one `take`. Conditions that could fail (casts, arithmetic, functions) keep
//! DataFusion's own evaluation, which never evaluates them on rows an earlier branch took.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, UInt32Array};
use arrow::buffer::BooleanBuffer;
use arrow::compute::take;
use arrow::datatypes::{DataType, FieldRef, Schema};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::common::{ScalarValue, internal_datafusion_err};
use datafusion::error::Result;
use datafusion::logical_expr::{ColumnarValue, Operator};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::{
    BinaryExpr, CaseExpr, Column, IsNotNullExpr, IsNullExpr, Literal, NotExpr, TryCastExpr,
};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::projection::{ProjectionExec, ProjectionExpr};

/// Physical optimizer rule: literal-result CASEs with infallible conditions in projections
/// become [`LiteralCase`].
#[derive(Debug, Default)]
pub struct LiteralCases;

impl PhysicalOptimizerRule for LiteralCases {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let Some(projection) = node.downcast_ref::<ProjectionExec>() else { return Ok(Transformed::no(node)) };
            let mut changed = false;
            let mut exprs = Vec::with_capacity(projection.expr().len());
            for item in projection.expr() {
                let rewritten = Arc::clone(&item.expr).transform_up(|expr| {
                    Ok(match LiteralCase::replacing(&expr)? {
                        Some(case) => Transformed::yes(Arc::new(case) as Arc<dyn PhysicalExpr>),
                        None => Transformed::no(expr),
                    })
                })?;
                changed |= rewritten.transformed;
                exprs.push(ProjectionExpr { expr: rewritten.data, alias: item.alias.clone() });
            }
            Ok(match changed {
                true => {
                    Transformed::yes(Arc::new(ProjectionExec::try_new(exprs, Arc::clone(projection.input()))?)
                        as Arc<dyn ExecutionPlan>)
                }
                false => Transformed::no(node),
            })
        })
        .data()
    }

    fn name(&self) -> &str {
        "glaux_literal_case"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// A searched CASE whose results are literals and whose conditions are infallible, evaluated by
/// picking each row's first true branch. Displays, types and compares as the CASE it replaced.
#[derive(Debug)]
pub struct LiteralCase {
    /// The `CaseExpr` replaced.
    case: Arc<dyn PhysicalExpr>,
    /// The WHEN conditions, in order.
    conditions: Vec<Arc<dyn PhysicalExpr>>,
    /// The THEN literals in order, then the ELSE literal (NULL when absent), in the CASE's type.
    results: ArrayRef,
}

impl LiteralCase {
    /// The CASE this expression stands in for.
    pub fn replaced(&self) -> &Arc<dyn PhysicalExpr> {
        &self.case
    }

    /// The replacement for `expr` when it is such a CASE; `None` otherwise.
    pub(crate) fn replacing(expr: &Arc<dyn PhysicalExpr>) -> Result<Option<LiteralCase>> {
        let Some(case) = expr.downcast_ref::<CaseExpr>() else { return Ok(None) };
        if case.expr().is_some() || !case.when_then_expr().iter().all(|(when, _)| infallible(when)) {
            return Ok(None);
        }
        let literal = |e: &Arc<dyn PhysicalExpr>| e.downcast_ref::<Literal>().map(|l| l.value().clone());
        let mut values = Vec::with_capacity(case.when_then_expr().len() + 1);
        for (_, then) in case.when_then_expr() {
            let Some(value) = literal(then) else { return Ok(None) };
            values.push(value);
        }
        let otherwise = match case.else_expr() {
            Some(e) => match literal(e) {
                Some(value) => Some(value),
                None => return Ok(None),
            },
            None => None,
        };
        // The CASE's type is its results' common type; literals of another type are cast to it
        // as DataFusion would, and a CASE whose literals do not cast stays as it was.
        let Some(ty) = values.iter().chain(&otherwise).map(ScalarValue::data_type).find(|t| !t.is_null()) else {
            return Ok(None);
        };
        let mut typed = Vec::with_capacity(values.len() + 1);
        for value in values.iter().chain(&otherwise) {
            match value.cast_to(&ty) {
                Ok(v) => typed.push(v),
                Err(_) => return Ok(None),
            }
        }
        if otherwise.is_none() {
            typed.push(ScalarValue::try_from(&ty)?);
        }
        let results = ScalarValue::iter_to_array(typed)?;
        let conditions = case.when_then_expr().iter().map(|(when, _)| Arc::clone(when)).collect();
        Ok(Some(LiteralCase { case: Arc::clone(expr), conditions, results }))
    }
}

/// Whether evaluating `expr` on any row of its input can neither fail nor have effects:
/// columns, literals, comparisons and boolean logic over them, NULL tests, TRY_CAST, and CASEs
/// made of those.
fn infallible(expr: &Arc<dyn PhysicalExpr>) -> bool {
    let children_infallible = || expr.children().into_iter().all(infallible);
    if expr.is::<Column>() || expr.is::<Literal>() {
        return true;
    }
    if let Some(binary) = expr.downcast_ref::<BinaryExpr>() {
        let safe = matches!(
            binary.op(),
            Operator::Eq
                | Operator::NotEq
                | Operator::Lt
                | Operator::LtEq
                | Operator::Gt
                | Operator::GtEq
                | Operator::IsDistinctFrom
                | Operator::IsNotDistinctFrom
                | Operator::And
                | Operator::Or
        );
        return safe && children_infallible();
    }
    let safe_node = expr.is::<IsNullExpr>()
        || expr.is::<IsNotNullExpr>()
        || expr.is::<NotExpr>()
        || expr.is::<TryCastExpr>()
        || expr.is::<CaseExpr>();
    safe_node && children_infallible()
}

impl PhysicalExpr for LiteralCase {
    fn data_type(&self, input_schema: &Schema) -> Result<DataType> {
        self.case.data_type(input_schema)
    }

    fn nullable(&self, input_schema: &Schema) -> Result<bool> {
        self.case.nullable(input_schema)
    }

    fn return_field(&self, input_schema: &Schema) -> Result<FieldRef> {
        self.case.return_field(input_schema)
    }

    fn evaluate(&self, batch: &RecordBatch) -> Result<ColumnarValue> {
        let rows = batch.num_rows();
        let otherwise = self.conditions.len() as u32;
        let mut picked = vec![otherwise; rows];
        let mut open = BooleanBuffer::new_set(rows);
        for (branch, condition) in self.conditions.iter().enumerate() {
            if open.count_set_bits() == 0 {
                break;
            }
            let value = condition.evaluate(batch)?.into_array(rows)?;
            let value = value
                .as_any()
                .downcast_ref::<BooleanArray>()
                .ok_or_else(|| internal_datafusion_err!("a WHEN condition gave {}, not booleans", value.data_type()))?;
            // True and not NULL, and not taken by an earlier branch.
            let holds = match value.nulls() {
                Some(nulls) => value.values() & nulls.inner(),
                None => value.values().clone(),
            };
            let taken = &holds & &open;
            for row in taken.set_indices() {
                picked[row] = branch as u32;
            }
            open = &open & &!&taken;
        }
        let indices = UInt32Array::from(picked);
        Ok(ColumnarValue::Array(take(&self.results, &indices, None)?))
    }

    fn children(&self) -> Vec<&Arc<dyn PhysicalExpr>> {
        self.case.children()
    }

    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn PhysicalExpr>>) -> Result<Arc<dyn PhysicalExpr>> {
        let case = Arc::clone(&self.case).with_new_children(children)?;
        Ok(match LiteralCase::replacing(&case)? {
            Some(replaced) => Arc::new(replaced),
            None => case,
        })
    }

    fn fmt_sql(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.case.fmt_sql(f)
    }
}

impl fmt::Display for LiteralCase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.case, f)
    }
}

impl PartialEq for LiteralCase {
    fn eq(&self, other: &Self) -> bool {
        self.case.as_ref() == other.case.as_ref()
    }
}

impl Eq for LiteralCase {}

impl Hash for LiteralCase {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.case.hash(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::SessionContext;

    /// How many projected expressions of `plan` (at any depth) are [`LiteralCase`]s.
    fn replaced(plan: &Arc<dyn ExecutionPlan>) -> usize {
        let here = plan.downcast_ref::<ProjectionExec>().map_or(0, |p| {
            let mut count = 0;
            for item in p.expr() {
                item.expr
                    .apply(|e| {
                        count += usize::from(e.is::<LiteralCase>());
                        Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
                    })
                    .unwrap();
            }
            count
        });
        here + plan.children().into_iter().map(replaced).sum::<usize>()
    }

    /// Each CASE gives what DataFusion's own evaluation gives, over NULLs, missing ELSE, nested
    /// CASEs and batches of 100 rows; a CASE whose condition could fail on rows an earlier
    /// branch took is left to DataFusion, which never evaluates it there.
    #[tokio::test]
    async fn literal_cases_match_datafusion_and_fallible_ones_stay() {
        let cases = [
            (
                "CASE WHEN a IS NULL OR a < 0 THEN 'unknown' WHEN a < 18 THEN 'minor' WHEN a < 65 THEN 'adult' ELSE '65+' END",
                1,
            ),
            ("CASE WHEN a > 50 THEN 'big' WHEN b THEN 'flag' END", 1),
            ("CASE WHEN CASE WHEN a IS NOT NULL THEN a ELSE 0 END = 0 THEN 1 WHEN NOT b THEN 2 ELSE NULL END", 1),
            ("CASE WHEN s = 'x' OR s IS NULL THEN 1.5 WHEN TRY_CAST(s AS INT) > 3 THEN 2 ELSE 0 END", 1),
            ("CASE WHEN a = 0 THEN 'zero' WHEN 100 / a > 3 THEN 'small' ELSE 'large' END", 0),
            ("CASE WHEN a > 10 THEN upper(s) ELSE 'lit' END", 0),
        ];
        let input = "SELECT CASE WHEN i % 7 = 0 THEN NULL ELSE i % 90 - 5 END AS a, \
                            CASE WHEN i % 5 = 0 THEN NULL ELSE i % 2 = 0 END AS b, \
                            CASE WHEN i % 11 = 0 THEN NULL ELSE CAST(i % 9 AS VARCHAR) END AS s, i \
                     FROM generate_series(-50, 2000) AS t(i)";
        let format = |b: &[RecordBatch]| arrow::util::pretty::pretty_format_batches(b).unwrap().to_string();
        for (case, rewrites) in cases {
            let sql = format!("SELECT i, {case} AS c FROM t ORDER BY i");
            let plain = SessionContext::new();
            plain.sql("SET datafusion.execution.batch_size = 100").await.unwrap();
            plain.sql(&format!("CREATE TABLE t AS {input}")).await.unwrap().collect().await.unwrap();
            let expected = plain.sql(&sql).await.unwrap().collect().await.unwrap();
            let state = datafusion::execution::session_state::SessionStateBuilder::new()
                .with_default_features()
                .with_physical_optimizer_rule(Arc::new(LiteralCases))
                .build();
            let fast = SessionContext::new_with_state(state);
            fast.sql("SET datafusion.execution.batch_size = 100").await.unwrap();
            fast.sql(&format!("CREATE TABLE t AS {input}")).await.unwrap().collect().await.unwrap();
            let plan = fast.sql(&sql).await.unwrap().create_physical_plan().await.unwrap();
            assert_eq!(replaced(&plan), rewrites, "{case}");
            let got = fast.sql(&sql).await.unwrap().collect().await.unwrap();
            assert_eq!(format(&got), format(&expected), "{case}");
        }
    }
}
