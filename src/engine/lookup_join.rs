//! Joins to a small table by looking each row up, passing the probe side's columns through.
//!
//! Feature jobs join every customer to a few-row table (`LEFT JOIN regions ON …`). DataFusion 55
//! plans that as a hash join that collects the small side and probes it with the large one, and
//! builds every output batch with a `take` of each probe column by the matched row indices, even
//! when each probe row matches exactly once and the indices are 0, 1, 2, …. On a million
//! customers that copying (the ids, e-mail addresses and phone numbers the join carries up to the
//! projection) was a tenth of the feature job's CPU.
//!
//! [`LookupJoins`] replaces such joins with [`LookupJoinExec`]: it collects the small side once,
//! maps each key to its row, and for each probe batch finds every row's match. When the small
//! side's keys are unique, a probe row has at most one match, so the probe columns are passed on
//! as they are (or filtered, for the rows an inner or semi join drops) and only the small side's
//! columns are taken. Should a key repeat after all, the rows are expanded as the hash join
//! would, in probe order.

use std::fmt;
use std::sync::{Arc, Mutex};

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch, UInt32Array};
use arrow::buffer::NullBuffer;
use arrow::compute::{filter, take};
use arrow::datatypes::{DataType, Schema, SchemaRef};
use arrow::row::{RowConverter, SortField};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode, TreeNodeRecursion};
use datafusion::common::{HashMap, JoinType, NullEquality, Statistics};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::Operator;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::{BinaryExpr, DynamicFilterPhysicalExpr, InListExpr, lit};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::joins::{HashJoinExec, PartitionMode};
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet, Time};
use datafusion::physical_plan::statistics::{StatisticsArgs, StatisticsContext};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan, InputDistributionRequirements, PlanProperties,
    ReplaceChildrenOptions,
};
use futures::future::{BoxFuture, Shared};
use futures::{FutureExt, StreamExt, TryStreamExt};

/// The most rows the build side may have by its statistics: a lookup table, not a second fact
/// table (whose join DataFusion's hash table serves as well).
pub const LOOKUP_ROWS: usize = 100_000;

/// Physical optimizer rule: hash joins that collect a small side and keep or drop probe rows by
/// whether they match (inner, right, right semi and right anti joins, on equalities only) become
/// [`LookupJoinExec`]. Runs after DataFusion's rules: a dynamic filter the hash join pushed to its
/// probe side's scan is filled by the lookup, with the small side's keys.
#[derive(Debug, Default)]
pub struct LookupJoins;

impl PhysicalOptimizerRule for LookupJoins {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            Ok(match LookupJoinExec::replacing(&node)? {
                Some(exec) => Transformed::yes(Arc::new(exec) as Arc<dyn ExecutionPlan>),
                None => Transformed::no(node),
            })
        })
        .data()
    }

    fn name(&self) -> &str {
        "glaux_lookup_joins"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// Where an output column comes from: a column of the build (small) or probe side.
#[derive(Debug, Clone, Copy)]
enum Source {
    Build(usize),
    Probe(usize),
}

/// What each probe batch is joined by.
#[derive(Debug)]
struct Probing {
    join_type: JoinType,
    keys: Vec<Arc<dyn PhysicalExpr>>,
    /// The output columns.
    sources: Vec<Source>,
}

/// The build side collected: its rows, and each key's rows (keys with a NULL are left out: they
/// match nothing).
struct Lookup {
    batch: RecordBatch,
    keys: KeyMap,
    /// Whether every key has one row, so a probe row matches at most once.
    unique: bool,
    /// The memory the rows and the map take, given back when the last stream ends.
    _reservation: MemoryReservation,
}

type SharedLookup = Shared<BoxFuture<'static, std::result::Result<Arc<Lookup>, Arc<DataFusionError>>>>;

/// A join that looks probe rows up in the collected build side; stands in for the hash join it
/// replaced, whose schema, properties and display it keeps.
pub struct LookupJoinExec {
    join: Arc<dyn ExecutionPlan>,
    /// The dynamic filter the hash join pushed to its probe side, set here to the build keys.
    pushed: Option<Arc<DynamicFilterPhysicalExpr>>,
    build_keys: Vec<Arc<dyn PhysicalExpr>>,
    probing: Arc<Probing>,
    /// The build side, collected by the first output partition that needs it, shared by all.
    lookup: Mutex<Option<SharedLookup>>,
    metrics: ExecutionPlanMetricsSet,
}

impl fmt::Debug for LookupJoinExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LookupJoinExec").field("join", &self.join).finish()
    }
}

impl LookupJoinExec {
    /// The replacement for `plan` when it is a hash join this node can run.
    fn replacing(plan: &Arc<dyn ExecutionPlan>) -> Result<Option<LookupJoinExec>> {
        let Some(join) = plan.downcast_ref::<HashJoinExec>() else { return Ok(None) };
        let join_type = *join.join_type();
        let keeps_probe_rows =
            matches!(join_type, JoinType::Inner | JoinType::Right | JoinType::RightSemi | JoinType::RightAnti);
        if !keeps_probe_rows
            || *join.partition_mode() != PartitionMode::CollectLeft
            || join.filter().is_some()
            || join.null_equality() != NullEquality::NullEqualsNothing
            || join.null_aware
            || join.fetch().is_some()
        {
            return Ok(None);
        }
        let small = StatisticsContext::new().compute(join.left().as_ref(), &StatisticsArgs::new())?.num_rows;
        if small.get_value().is_none_or(|rows| *rows > LOOKUP_ROWS) {
            return Ok(None);
        }
        let (build_schema, probe_schema) = (join.left().schema(), join.right().schema());
        for (build, probe) in join.on() {
            let kind = build.data_type(&build_schema)?;
            if kind != probe.data_type(&probe_schema)? || !exact_key(&kind) {
                return Ok(None);
            }
        }
        let joined: Vec<Source> = match join_type {
            JoinType::RightSemi | JoinType::RightAnti => (0..probe_schema.fields().len()).map(Source::Probe).collect(),
            _ => (0..build_schema.fields().len())
                .map(Source::Build)
                .chain((0..probe_schema.fields().len()).map(Source::Probe))
                .collect(),
        };
        let sources = match &join.projection {
            Some(projection) => projection.iter().map(|i| joined[*i]).collect(),
            None => joined,
        };
        // The filter DataFusion pushed to the probe side's scan, which this node then fills.
        // (`dynamic_expressions_produced`, its replacement, gives it as a `dyn PhysicalExpr`, which
        // cannot be turned back into the filter it is.)
        #[expect(deprecated)]
        let pushed = join.dynamic_filter_expr().cloned();
        if join.dynamic_expressions_produced().len() > usize::from(pushed.is_some()) {
            return Ok(None);
        }
        Ok(Some(LookupJoinExec {
            pushed,
            join: Arc::clone(plan),
            build_keys: join.on().iter().map(|(build, _)| Arc::clone(build)).collect(),
            probing: Arc::new(Probing {
                join_type,
                keys: join.on().iter().map(|(_, probe)| Arc::clone(probe)).collect(),
                sources,
            }),
            lookup: Mutex::new(None),
            metrics: ExecutionPlanMetricsSet::new(),
        }))
    }

    fn build(&self) -> &Arc<dyn ExecutionPlan> {
        self.join.children()[0]
    }

    fn probe(&self) -> &Arc<dyn ExecutionPlan> {
        self.join.children()[1]
    }

    /// The shared future collecting the build side, started by the first caller.
    fn lookup(&self, context: &Arc<TaskContext>, build_time: Time) -> Result<SharedLookup> {
        let mut lookup =
            self.lookup.lock().map_err(|_| DataFusionError::Internal("lookup join lock poisoned".into()))?;
        if let Some(shared) = lookup.as_ref() {
            return Ok(shared.clone());
        }
        let input = self.build().execute(0, Arc::clone(context))?;
        let schema = self.build().schema();
        let keys = self.build_keys.clone();
        let pushed = self.pushed.clone();
        let probe_schema = self.probe().schema();
        let probe_keys = self.probing.keys.clone();
        let reservation = MemoryConsumer::new("LookupJoin").register(context.memory_pool());
        let future = async move {
            let batches: Vec<RecordBatch> = input.try_collect().await?;
            let _timer = build_time.timer();
            let batch = arrow::compute::concat_batches(&schema, &batches)?;
            reservation.try_grow(batch.get_array_memory_size())?;
            if let Some(filter) = pushed {
                filter.update(probe_filter(&batch, &keys, &probe_keys, &probe_schema)?)?;
                filter.mark_complete();
            }
            Ok(Arc::new(Lookup::new(batch, &keys, reservation)?))
        }
        .map(|result: Result<Arc<Lookup>>| result.map_err(Arc::new))
        .boxed()
        .shared();
        *lookup = Some(future.clone());
        Ok(future)
    }
}

/// The filter a probe row must pass to have a match: each probe key among the build side's
/// values of that key (rows whose keys match one by one may still pair differently, so the join
/// still decides; this only lets the scan skip what cannot match).
fn probe_filter(
    build: &RecordBatch,
    build_keys: &[Arc<dyn PhysicalExpr>],
    probe_keys: &[Arc<dyn PhysicalExpr>],
    probe_schema: &Schema,
) -> Result<Arc<dyn PhysicalExpr>> {
    let mut every: Option<Arc<dyn PhysicalExpr>> = None;
    for (build_key, probe_key) in build_keys.iter().zip(probe_keys) {
        let values = build_key.evaluate(build)?.into_array(build.num_rows())?;
        let present = match values.logical_nulls() {
            Some(nulls) => filter(&values, &BooleanArray::new(nulls.inner().clone(), None))?,
            None => values,
        };
        let member = Arc::new(InListExpr::try_new_from_array(Arc::clone(probe_key), present, false, probe_schema)?);
        every = Some(match every {
            Some(earlier) => Arc::new(BinaryExpr::new(earlier, Operator::And, member)),
            None => member,
        });
    }
    Ok(every.unwrap_or_else(|| lit(true)))
}

/// Key types whose equality in the row format is SQL equality (floats are left to the hash join:
/// -0.0 and 0.0 are equal there and distinct as bytes).
fn exact_key(kind: &DataType) -> bool {
    kind.is_integer()
        || matches!(
            kind,
            DataType::Utf8
                | DataType::LargeUtf8
                | DataType::Utf8View
                | DataType::Binary
                | DataType::LargeBinary
                | DataType::BinaryView
                | DataType::FixedSizeBinary(_)
                | DataType::Boolean
                | DataType::Date32
                | DataType::Date64
                | DataType::Timestamp(_, _)
                | DataType::Decimal128(_, _)
                | DataType::Decimal256(_, _)
        )
}

/// The key columns of `batch`.
fn key_columns(keys: &[Arc<dyn PhysicalExpr>], batch: &RecordBatch) -> Result<Vec<ArrayRef>> {
    keys.iter().map(|key| key.evaluate(batch).and_then(|value| value.into_array(batch.num_rows()))).collect()
}

/// The values of a text column as bytes, `None` for NULL.
fn text_values(column: &dyn Array) -> Option<Box<dyn Iterator<Item = Option<&[u8]>> + '_>> {
    match column.data_type() {
        DataType::Utf8 => Some(Box::new(column.as_string::<i32>().iter().map(|v| v.map(str::as_bytes)))),
        DataType::LargeUtf8 => Some(Box::new(column.as_string::<i64>().iter().map(|v| v.map(str::as_bytes)))),
        DataType::Utf8View => Some(Box::new(column.as_string_view().iter().map(|v| v.map(str::as_bytes)))),
        _ => None,
    }
}

/// Each key's build rows. Keys with a NULL are left out: they match nothing.
enum KeyMap {
    /// One text key, looked up by its bytes.
    Text(HashMap<Vec<u8>, Vec<u32>>),
    /// Any keys, looked up by their row encoding.
    Rows(RowConverter, HashMap<Box<[u8]>, Vec<u32>>),
}

impl KeyMap {
    fn new(keys: &[ArrayRef]) -> Result<KeyMap> {
        if let [key] = keys
            && let Some(values) = text_values(key.as_ref())
        {
            let mut rows: HashMap<Vec<u8>, Vec<u32>> = HashMap::new();
            for (row, value) in values.enumerate() {
                if let Some(value) = value {
                    rows.entry(value.to_vec()).or_default().push(row as u32);
                }
            }
            return Ok(KeyMap::Text(rows));
        }
        let converter = RowConverter::new(keys.iter().map(|k| SortField::new(k.data_type().clone())).collect())?;
        let encoded = converter.convert_columns(keys)?;
        let present = all_present(keys);
        let mut rows: HashMap<Box<[u8]>, Vec<u32>> = HashMap::new();
        for (row, key) in encoded.iter().enumerate() {
            if present.as_ref().is_none_or(|p| p.is_valid(row)) {
                rows.entry(key.as_ref().into()).or_default().push(row as u32);
            }
        }
        Ok(KeyMap::Rows(converter, rows))
    }

    fn values(&self) -> Box<dyn Iterator<Item = &Vec<u32>> + '_> {
        match self {
            KeyMap::Text(rows) => Box::new(rows.values()),
            KeyMap::Rows(_, rows) => Box::new(rows.values()),
        }
    }

    /// The memory the map holds beyond its build rows.
    fn size(&self) -> usize {
        let entries = |capacity: usize, key: usize| capacity * (key + size_of::<Vec<u32>>() + 8);
        match self {
            KeyMap::Text(rows) => entries(rows.capacity(), size_of::<Vec<u8>>()),
            KeyMap::Rows(_, rows) => entries(rows.capacity(), size_of::<Box<[u8]>>()),
        }
    }

    /// The build rows each probe row's keys match (`None`: no match).
    fn find(&self, keys: &[ArrayRef]) -> Result<Vec<Option<&[u32]>>> {
        match self {
            KeyMap::Text(rows) => {
                let values = text_values(keys[0].as_ref()).expect("the probe key has the build key's type");
                Ok(values.map(|value| value.and_then(|v| rows.get(v)).map(Vec::as_slice)).collect())
            }
            KeyMap::Rows(converter, rows) => {
                let encoded = converter.convert_columns(keys)?;
                let present = all_present(keys);
                Ok((0..encoded.num_rows())
                    .map(|row| match present.as_ref().is_none_or(|p| p.is_valid(row)) {
                        true => rows.get(encoded.row(row).as_ref()).map(Vec::as_slice),
                        false => None,
                    })
                    .collect())
            }
        }
    }
}

/// Per row, whether every key is present (`None`: all are).
fn all_present(keys: &[ArrayRef]) -> Option<NullBuffer> {
    keys.iter().fold(None, |present, key| NullBuffer::union(present.as_ref(), key.logical_nulls().as_ref()))
}

impl Lookup {
    fn new(batch: RecordBatch, keys: &[Arc<dyn PhysicalExpr>], reservation: MemoryReservation) -> Result<Lookup> {
        let keys = KeyMap::new(&key_columns(keys, &batch)?)?;
        let unique = keys.values().all(|matches| matches.len() == 1);
        reservation.try_grow(keys.size())?;
        Ok(Lookup { batch, keys, unique, _reservation: reservation })
    }

    /// The joined rows of one probe batch.
    fn join(&self, exec: &Probing, probe: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
        let matched = self.keys.find(&key_columns(&exec.keys, probe)?)?;
        if self.unique || matches!(exec.join_type, JoinType::RightSemi | JoinType::RightAnti) {
            let found: Vec<Option<u32>> = matched.iter().map(|m| m.map(|m| m[0])).collect();
            let kept: Option<BooleanArray> = match exec.join_type {
                JoinType::Right => None,
                JoinType::RightAnti => Some(found.iter().map(|m| Some(m.is_none())).collect()),
                _ => match found.iter().all(Option::is_some) {
                    true => None,
                    false => Some(found.iter().map(|m| Some(m.is_some())).collect()),
                },
            };
            let build_rows: UInt32Array = match &kept {
                Some(kept) => found.iter().zip(kept.values()).filter(|(_, keep)| *keep).map(|(m, _)| *m).collect(),
                None => found.into_iter().collect(),
            };
            let columns = exec
                .sources
                .iter()
                .map(|source| match (source, &kept) {
                    (Source::Build(i), _) => Ok(take(self.batch.column(*i), &build_rows, None)?),
                    (Source::Probe(i), None) => Ok(Arc::clone(probe.column(*i))),
                    (Source::Probe(i), Some(kept)) => Ok(filter(probe.column(*i), kept)?),
                })
                .collect::<Result<Vec<ArrayRef>>>()?;
            return Ok(RecordBatch::try_new_with_options(
                Arc::clone(schema),
                columns,
                &arrow::array::RecordBatchOptions::new().with_row_count(Some(build_rows.len())),
            )?);
        }
        // A key repeats: one output row per match, and for a right join one with no build row
        // for each probe row without a match.
        let mut build_rows: Vec<Option<u32>> = Vec::with_capacity(probe.num_rows());
        let mut probe_rows: Vec<u32> = Vec::with_capacity(probe.num_rows());
        for (row, matches) in matched.into_iter().enumerate() {
            match matches {
                Some(matches) => {
                    build_rows.extend(matches.iter().map(|m| Some(*m)));
                    probe_rows.extend(std::iter::repeat_n(row as u32, matches.len()));
                }
                None if exec.join_type == JoinType::Right => {
                    build_rows.push(None);
                    probe_rows.push(row as u32);
                }
                None => {}
            }
        }
        let (build_rows, probe_rows) = (UInt32Array::from(build_rows), UInt32Array::from(probe_rows));
        let columns = exec
            .sources
            .iter()
            .map(|source| match source {
                Source::Build(i) => Ok(take(self.batch.column(*i), &build_rows, None)?),
                Source::Probe(i) => Ok(take(probe.column(*i), &probe_rows, None)?),
            })
            .collect::<Result<Vec<ArrayRef>>>()?;
        Ok(RecordBatch::try_new_with_options(
            Arc::clone(schema),
            columns,
            &arrow::array::RecordBatchOptions::new().with_row_count(Some(probe_rows.len())),
        )?)
    }
}

impl DisplayAs for LookupJoinExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "LookupJoinExec (replaces ")?;
        self.join.fmt_as(t, f)?;
        write!(f, ")")
    }
}

impl ExecutionPlan for LookupJoinExec {
    fn name(&self) -> &str {
        "LookupJoinExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.join.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![self.build(), self.probe()]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        self.join.apply_expressions(f)
    }

    fn input_distribution_requirements(&self) -> InputDistributionRequirements {
        self.join.input_distribution_requirements()
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![false, true]
    }

    fn replace_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
        options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let join = Arc::clone(&self.join).replace_children(children, options)?;
        Ok(match LookupJoinExec::replacing(&join)? {
            Some(exec) => Arc::new(exec),
            None => join,
        })
    }

    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(children, ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute))
    }

    /// A fresh node, collecting the build side again (a recursive query's next round): the hash
    /// join resets its dynamic filter, and the build is not kept.
    fn reset_state(self: Arc<Self>) -> Result<Arc<dyn ExecutionPlan>> {
        let join = Arc::clone(&self.join).reset_state()?;
        Ok(match LookupJoinExec::replacing(&join)? {
            Some(exec) => Arc::new(exec),
            None => join,
        })
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let build_time = MetricBuilder::new(&self.metrics).subset_time("build_time", partition);
        let lookup = self.lookup(&context, build_time)?;
        let probe = self.probe().execute(partition, context)?;
        let schema = self.schema();
        let metrics = BaselineMetrics::new(&self.metrics, partition);
        let (probing, out_schema) = (Arc::clone(&self.probing), Arc::clone(&schema));
        let stream = futures::stream::once(async move {
            let lookup = lookup.await.map_err(DataFusionError::Shared)?;
            Ok::<_, DataFusionError>(probe.map(move |batch| {
                let batch = batch?;
                let _timer = metrics.elapsed_compute().timer();
                let out = lookup.join(&probing, &batch, &out_schema)?;
                metrics.record_output(out.num_rows());
                Ok(out)
            }))
        })
        .try_flatten()
        .try_filter(|batch| futures::future::ready(batch.num_rows() > 0));
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }

    fn statistics_from_inputs(&self, inputs: &[Arc<Statistics>], args: &StatisticsArgs) -> Result<Arc<Statistics>> {
        self.join.statistics_from_inputs(inputs, args)
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::SessionContext;

    use super::*;

    /// Joins of each kind give DataFusion's own results, with unique keys, a repeated key, NULL
    /// keys on both sides and probe rows without a match; and the lookup is really in the plan.
    #[tokio::test]
    async fn lookup_joins_match_datafusion_s_hash_join() {
        let setup = [
            "SET datafusion.execution.batch_size = 100",
            "CREATE TABLE fact AS SELECT i, CASE WHEN i % 11 = 0 THEN NULL ELSE 'r' || (i % 7) END AS code, i % 3 AS n \
             FROM generate_series(1, 2000) AS t(i)",
            "CREATE TABLE dim AS VALUES ('r0', 'zero', 0), ('r1', 'one', 1), ('r2', 'two', 2), ('r3', 'three', 0), \
             ('r4', 'four', 1), (NULL, 'none', 2)",
            "CREATE TABLE empty AS SELECT * FROM dim WHERE column3 > 5",
            "CREATE TABLE twice AS VALUES ('r0', 'zero'), ('r1', 'one'), ('r1', 'uno'), (NULL, 'none')",
        ];
        let queries = [
            ("LEFT JOIN", "SELECT f.i, f.code, d.column2 FROM fact f LEFT JOIN dim d ON d.column1 = f.code"),
            ("INNER JOIN", "SELECT f.i, d.column2 FROM fact f JOIN dim d ON d.column1 = f.code"),
            ("two keys", "SELECT f.i, d.column2 FROM fact f LEFT JOIN dim d ON d.column1 = f.code AND d.column3 = f.n"),
            ("repeated key", "SELECT f.i, f.code, t.column2 FROM fact f LEFT JOIN twice t ON t.column1 = f.code"),
            ("repeated key, inner", "SELECT f.i, t.column2 FROM fact f JOIN twice t ON t.column1 = f.code"),
            ("semi", "SELECT f.i FROM fact f WHERE EXISTS (SELECT 1 FROM twice t WHERE t.column1 = f.code)"),
            (
                "anti",
                "SELECT f.i, f.code FROM fact f WHERE NOT EXISTS (SELECT 1 FROM twice t WHERE t.column1 = f.code)",
            ),
            // Each round of a recursive query joins the new rows: the node starts afresh.
            (
                "recursive",
                "WITH RECURSIVE r(n, code) AS (SELECT 1, 'r1' UNION ALL \
                 SELECT r.n + 1, 'r' || ((r.n + 1) % 7) FROM r JOIN dim d ON d.column1 = r.code WHERE r.n < 20) \
                 SELECT * FROM r",
            ),
            // A Parquet probe side takes the build keys as a filter, row by row.
            ("filtered scan", "SELECT f.i, d.column2 FROM pfact f JOIN dim d ON d.column1 = f.code"),
            ("filtered scan, nothing to find", "SELECT f.i, d.column2 FROM pfact f JOIN empty d ON d.column1 = f.code"),
            (
                "filtered scan, two keys",
                "SELECT f.i, d.column2 FROM pfact f JOIN dim d ON d.column1 = f.code AND d.column3 = f.n",
            ),
        ];
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("fact.parquet");
        let parquet = [
            format!("COPY fact TO '{}' STORED AS PARQUET", file.display()),
            format!("CREATE EXTERNAL TABLE pfact STORED AS PARQUET LOCATION '{}'", file.display()),
            "SET datafusion.execution.parquet.pushdown_filters = true".to_owned(),
        ];
        let plain = SessionContext::new();
        let state = datafusion::execution::session_state::SessionStateBuilder::new()
            .with_default_features()
            .with_physical_optimizer_rule(Arc::new(LookupJoins))
            .build();
        let fast = SessionContext::new_with_state(state);
        for ctx in [&plain, &fast] {
            for sql in setup.iter().copied().chain(parquet.iter().map(String::as_str)) {
                ctx.sql(sql).await.unwrap().collect().await.unwrap();
            }
        }
        for (what, query) in queries {
            let sql = query;
            let plan = fast.sql(sql).await.unwrap().create_physical_plan().await.unwrap();
            let shown = datafusion::physical_plan::displayable(plan.as_ref()).indent(false).to_string();
            assert!(shown.contains("LookupJoinExec"), "{what}: {shown}");
            if what.starts_with("filtered scan") {
                datafusion::physical_plan::collect(Arc::clone(&plan), fast.task_ctx()).await.unwrap();
                let analyzed =
                    datafusion::physical_plan::display::DisplayableExecutionPlan::with_metrics(plan.as_ref())
                        .indent(true)
                        .to_string();
                // r5, r6 and NULL codes: 2,000 / 7 * 2 + 2,000 / 11, about 700 rows.
                let pruned = analyzed.split("pushdown_rows_pruned=").nth(1).and_then(|s| s.split([',', ']']).next());
                assert!(pruned.is_some_and(|p| p.trim() != "0"), "{what}: the scan used the keys: {analyzed}");
            }
            let expected = plain.sql(sql).await.unwrap().collect().await.unwrap();
            let got = fast.sql(sql).await.unwrap().collect().await.unwrap();
            // The rows in any order.
            let format = |b: &[RecordBatch]| {
                let text = arrow::util::pretty::pretty_format_batches(b).unwrap().to_string();
                let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
                lines.sort();
                lines
            };
            assert_eq!(format(&got), format(&expected), "{what}");
            let rows = got.iter().map(RecordBatch::num_rows).sum::<usize>();
            assert_eq!(rows == 0, what.ends_with("nothing to find"), "{what}");
        }
    }
}
