//! Aggregate functions with Trino's semantics: `approx_percentile` with one percentile or an
//! array of them (one t-digest per group, the sketch DataFusion's `approx_percentile_cont`
//! keeps), `max_by` / `min_by`, `count_if`, `map_agg` and `histogram`.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, MapArray, StructArray};
use arrow::buffer::OffsetBuffer;
use arrow::compute::{SortOptions, cast};
use arrow::datatypes::{DataType, Field, FieldRef, Fields};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::functions_aggregate::count::count_udaf;
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::function::{AccumulatorArgs, AggregateFunctionSimplification, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{Accumulator, AggregateUDF, AggregateUDFImpl, Expr, Signature, Volatility, lit};
use datafusion::physical_expr::expressions::Literal;
use datafusion_functions_aggregate_common::tdigest::TDigest;

use super::arity;

pub(super) fn all() -> Vec<AggregateUDF> {
    vec![
        Aggregate::new("approx_percentile", approx_percentile_types, approx_percentile_returns, digest_state, |a| {
            Ok(Box::new(Percentiles::new(a)?))
        }),
        Aggregate::new("max_by", by_types, |t| Ok(t[0].clone()), by_state, |a| Ok(Box::new(By::new(a, true)))),
        Aggregate::new("min_by", by_types, |t| Ok(t[0].clone()), by_state, |a| Ok(Box::new(By::new(a, false)))),
        Aggregate::new(
            "count_if",
            count_if_types,
            |_| Ok(DataType::Int64),
            count_if_state,
            |_| Ok(Box::new(CountIf(0))),
        )
        .simplified_by(count_if_as_count),
        Aggregate::new(
            "map_agg",
            map_agg_types,
            |t| Ok(map_type(&t[0], &t[1])),
            map_state,
            |a| Ok(Box::new(MapAgg::new(a, false))),
        ),
        Aggregate::new(
            "histogram",
            histogram_types,
            |t| Ok(map_type(&t[0], &DataType::Int64)),
            map_state,
            |a| Ok(Box::new(MapAgg::new(a, true))),
        ),
    ]
    .into_iter()
    .map(AggregateUDF::new_from_impl)
    .collect()
}

pub(super) type Coerce = fn(&str, &[DataType]) -> Result<Vec<DataType>>;
pub(super) type Returns = fn(&[DataType]) -> Result<DataType>;
pub(super) type State = fn(&StateFieldsArgs) -> Vec<FieldRef>;
pub(super) type Make = fn(&AccumulatorArgs) -> Result<Box<dyn Accumulator>>;
type Simplify = fn(AggregateFunction) -> Result<Expr>;

/// One aggregate function: argument coercion, result type, state and accumulator.
#[derive(Debug)]
pub(super) struct Aggregate {
    name: &'static str,
    signature: Signature,
    coerce: Coerce,
    returns: Returns,
    state: State,
    make: Make,
    simplify: Option<Simplify>,
}

impl Aggregate {
    pub(super) fn new(name: &'static str, coerce: Coerce, returns: Returns, state: State, make: Make) -> Aggregate {
        Aggregate {
            name,
            signature: Signature::user_defined(Volatility::Immutable),
            coerce,
            returns,
            state,
            make,
            simplify: None,
        }
    }

    fn simplified_by(mut self, simplify: Simplify) -> Aggregate {
        self.simplify = Some(simplify);
        self
    }
}

impl PartialEq for Aggregate {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for Aggregate {}

impl Hash for Aggregate {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state)
    }
}

impl AggregateUDFImpl for Aggregate {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        (self.coerce)(self.name, arg_types)
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        (self.returns)(arg_types)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok((self.state)(&args))
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        (self.make)(&args)
    }

    fn simplify(&self) -> Option<AggregateFunctionSimplification> {
        let simplify = self.simplify?;
        Some(Box::new(move |function, _| simplify(function)))
    }
}

fn state_field(args: &StateFieldsArgs, name: &str, data_type: DataType) -> FieldRef {
    Arc::new(Field::new(format_state_name(args.name, name), data_type, true))
}

fn list_of(t: &DataType) -> DataType {
    DataType::List(Arc::new(Field::new_list_field(t.clone(), true)))
}

// approx_percentile

fn approx_percentile_types(name: &str, t: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, t, 2, 2)?;
    if !t[0].is_numeric() {
        return plan_err!("{name} takes a number, got {}", t[0]);
    }
    let percentile = match &t[1] {
        p if p.is_numeric() => DataType::Float64,
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) if f.data_type().is_numeric() => {
            list_of(&DataType::Float64)
        }
        other => return plan_err!("{name}: the percentile must be a double or an array of doubles, got {other}"),
    };
    Ok(vec![t[0].clone(), percentile])
}

fn approx_percentile_returns(t: &[DataType]) -> Result<DataType> {
    Ok(if matches!(t[1], DataType::List(_)) { list_of(&t[0]) } else { t[0].clone() })
}

fn digest_state(args: &StateFieldsArgs) -> Vec<FieldRef> {
    vec![
        state_field(args, "max_size", DataType::UInt64),
        state_field(args, "sum", DataType::Float64),
        state_field(args, "count", DataType::Float64),
        state_field(args, "max", DataType::Float64),
        state_field(args, "min", DataType::Float64),
        state_field(args, "centroids", list_of(&DataType::Float64)),
    ]
}

/// Centroids per digest, as DataFusion's `approx_percentile_cont` keeps: relative error about
/// 1% at the median, less towards the tails.
const DIGEST_SIZE: usize = 100;

/// The t-digest of one group and the percentiles asked for.
#[derive(Debug)]
struct Percentiles {
    digest: TDigest,
    percentiles: Vec<f64>,
    array: bool,
    returns: DataType,
}

impl Percentiles {
    fn new(args: &AccumulatorArgs) -> Result<Percentiles> {
        let Some(literal) = args.exprs.get(1).and_then(|e| e.downcast_ref::<Literal>()) else {
            return plan_err!("approx_percentile: the percentile must be a constant");
        };
        let (percentiles, array) = match literal.value() {
            ScalarValue::List(list) => {
                let values = cast(list.values(), &DataType::Float64)?;
                let values = values.as_primitive::<arrow::datatypes::Float64Type>();
                (values.iter().collect::<Option<Vec<f64>>>().unwrap_or_default(), true)
            }
            other => match other.cast_to(&DataType::Float64)? {
                ScalarValue::Float64(Some(p)) => (vec![p], false),
                _ => return plan_err!("approx_percentile: the percentile must not be NULL"),
            },
        };
        if let Some(p) = percentiles.iter().find(|p| !(0.0..=1.0).contains(*p)) {
            return plan_err!("approx_percentile: a percentile must be between 0 and 1, got {p}");
        }
        Ok(Percentiles { digest: TDigest::new(DIGEST_SIZE), percentiles, array, returns: args.return_type().clone() })
    }
}

impl Accumulator for Percentiles {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let values = cast(&values[0], &DataType::Float64)?;
        let values: Vec<f64> = values.as_primitive::<arrow::datatypes::Float64Type>().iter().flatten().collect();
        if !values.is_empty() {
            self.digest = self.digest.merge_unsorted_f64(values);
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let mut digests = vec![self.digest.clone()];
        for row in 0..states[0].len() {
            let state: Vec<ScalarValue> =
                states.iter().map(|s| ScalarValue::try_from_array(s, row)).collect::<Result<_>>()?;
            digests.push(TDigest::from_scalar_state(&state));
        }
        self.digest = TDigest::merge_digests(&digests);
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(self.digest.to_scalar_state())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let element = if self.array {
            match &self.returns {
                DataType::List(f) => f.data_type().clone(),
                other => return exec_err!("approx_percentile returns an array, not {other}"),
            }
        } else {
            self.returns.clone()
        };
        let estimates: Vec<ScalarValue> = self
            .percentiles
            .iter()
            .map(|p| {
                let value = if self.digest.count() == 0.0 { None } else { Some(self.digest.estimate_quantile(*p)) };
                // Integer inputs give integer percentiles, rounded as Trino rounds.
                let value = ScalarValue::Float64(value.map(|v| if element.is_integer() { v.round() } else { v }));
                value.cast_to(&element)
            })
            .collect::<Result<_>>()?;
        if !self.array {
            return Ok(estimates.into_iter().next().unwrap_or(ScalarValue::Null));
        }
        if self.digest.count() == 0.0 {
            return ScalarValue::try_from(&self.returns);
        }
        Ok(ScalarValue::List(ScalarValue::new_list_nullable(&estimates, &element)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.digest.size() * 16 + self.percentiles.len() * 8
    }
}

// max_by, min_by

fn by_types(name: &str, t: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, t, 2, 2)?;
    Ok(t.to_vec())
}

fn by_state(args: &StateFieldsArgs) -> Vec<FieldRef> {
    let types: Vec<DataType> = args.input_fields.iter().map(|f| f.data_type().clone()).collect();
    vec![state_field(args, "value", types[0].clone()), state_field(args, "key", types[1].clone())]
}

/// The value `x` at the greatest (or least) `y` seen; rows whose `y` is NULL are skipped.
#[derive(Debug)]
struct By {
    greatest: bool,
    value: ScalarValue,
    key: ScalarValue,
}

impl By {
    fn new(args: &AccumulatorArgs, greatest: bool) -> By {
        let null = |f: &FieldRef| ScalarValue::try_from(f.data_type()).unwrap_or(ScalarValue::Null);
        By { greatest, value: null(&args.expr_fields[0]), key: null(&args.expr_fields[1]) }
    }

    fn better(&self, candidate: &ScalarValue) -> bool {
        if self.key.is_null() {
            return true;
        }
        match candidate.partial_cmp(&self.key) {
            Some(std::cmp::Ordering::Greater) => self.greatest,
            Some(std::cmp::Ordering::Less) => !self.greatest,
            _ => false,
        }
    }

    /// Takes the best row of `values` (x) and `keys` (y).
    fn offer(&mut self, values: &ArrayRef, keys: &ArrayRef) -> Result<()> {
        let compare = arrow::array::make_comparator(keys.as_ref(), keys.as_ref(), SortOptions::default())?;
        let mut best: Option<usize> = None;
        for row in 0..keys.len() {
            if keys.is_null(row) {
                continue;
            }
            let wins = match best {
                None => true,
                Some(b) => {
                    let order = compare(row, b);
                    if self.greatest { order.is_gt() } else { order.is_lt() }
                }
            };
            if wins {
                best = Some(row);
            }
        }
        if let Some(row) = best {
            let key = ScalarValue::try_from_array(keys, row)?;
            if self.better(&key) {
                self.key = key;
                self.value = ScalarValue::try_from_array(values, row)?;
            }
        }
        Ok(())
    }
}

impl Accumulator for By {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.offer(&values[0], &values[1])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.offer(&states[0], &states[1])
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.value.clone(), self.key.clone()])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(self.value.clone())
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.value.size() + self.key.size()
    }
}

// count_if

fn count_if_types(name: &str, t: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, t, 1, 1)?;
    if !matches!(t[0], DataType::Boolean | DataType::Null) {
        return plan_err!("{name} takes a boolean, got {}", t[0]);
    }
    Ok(vec![DataType::Boolean])
}

fn count_if_state(args: &StateFieldsArgs) -> Vec<FieldRef> {
    vec![state_field(args, "count", DataType::Int64)]
}

/// `count_if(c)` is `count(*) FILTER (WHERE c)`, which DataFusion runs with its grouped
/// accumulators.
fn count_if_as_count(function: AggregateFunction) -> Result<Expr> {
    let params = function.params;
    let condition = params.args.into_iter().next().unwrap_or(lit(false));
    // `count(*) FILTER (WHERE condition)`: a NULL condition, like FALSE, is not counted.
    let filter = match params.filter {
        Some(filter) => filter.and(condition),
        None => condition,
    };
    Ok(Expr::AggregateFunction(AggregateFunction::new_udf(
        count_udaf(),
        vec![lit(1i64)],
        params.distinct,
        Some(Box::new(filter)),
        params.order_by,
        params.null_treatment,
    )))
}

/// The plain accumulator, for plans that skip simplification.
#[derive(Debug)]
struct CountIf(i64);

impl Accumulator for CountIf {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.0 += values[0].as_boolean().true_count() as i64;
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.0 += states[0].as_primitive::<arrow::datatypes::Int64Type>().iter().flatten().sum::<i64>();
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::Int64(Some(self.0))])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Int64(Some(self.0)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }
}

// map_agg, histogram

fn map_agg_types(name: &str, t: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, t, 2, 2)?;
    Ok(t.to_vec())
}

fn histogram_types(name: &str, t: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, t, 1, 1)?;
    Ok(t.to_vec())
}

fn map_type(key: &DataType, value: &DataType) -> DataType {
    let entries = Fields::from(vec![Field::new("key", key.clone(), false), Field::new("value", value.clone(), true)]);
    DataType::Map(Arc::new(Field::new("entries", DataType::Struct(entries), false)), false)
}

fn map_state(args: &StateFieldsArgs) -> Vec<FieldRef> {
    let DataType::Map(entries, _) = args.return_type() else {
        return Vec::new();
    };
    let DataType::Struct(fields) = entries.data_type() else {
        return Vec::new();
    };
    vec![
        state_field(args, "keys", list_of(fields[0].data_type())),
        state_field(args, "values", list_of(fields[1].data_type())),
    ]
}

/// Entries by key: `map_agg` keeps the first value of each key, `histogram` counts.
#[derive(Debug)]
struct MapAgg {
    counting: bool,
    entries: HashMap<ScalarValue, ScalarValue>,
    returns: DataType,
}

impl MapAgg {
    fn new(args: &AccumulatorArgs, counting: bool) -> MapAgg {
        MapAgg { counting, entries: HashMap::new(), returns: args.return_type().clone() }
    }

    fn add(&mut self, key: ScalarValue, value: ScalarValue) {
        if key.is_null() {
            return;
        }
        if self.counting {
            let n = match (&value, self.entries.get(&key)) {
                (ScalarValue::Int64(Some(add)), Some(ScalarValue::Int64(Some(had)))) => had + add,
                (ScalarValue::Int64(Some(add)), _) => *add,
                _ => 0,
            };
            self.entries.insert(key, ScalarValue::Int64(Some(n)));
        } else {
            self.entries.entry(key).or_insert(value);
        }
    }

    fn sorted(&self) -> Vec<(&ScalarValue, &ScalarValue)> {
        let mut entries: Vec<_> = self.entries.iter().collect();
        entries.sort_by(|a, b| a.0.partial_cmp(b.0).unwrap_or(std::cmp::Ordering::Equal));
        entries
    }

    fn types(&self) -> Result<(DataType, DataType)> {
        let DataType::Map(entries, _) = &self.returns else {
            return exec_err!("expected a map type, got {}", self.returns);
        };
        let DataType::Struct(fields) = entries.data_type() else {
            return exec_err!("expected map entries, got {}", entries.data_type());
        };
        Ok((fields[0].data_type().clone(), fields[1].data_type().clone()))
    }
}

impl Accumulator for MapAgg {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        for row in 0..values[0].len() {
            let key = ScalarValue::try_from_array(&values[0], row)?;
            let value =
                if self.counting { ScalarValue::Int64(Some(1)) } else { ScalarValue::try_from_array(&values[1], row)? };
            self.add(key, value);
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let (keys, values) = (states[0].as_list::<i32>(), states[1].as_list::<i32>());
        for row in 0..keys.len() {
            if keys.is_null(row) {
                continue;
            }
            let (k, v) = (keys.value(row), values.value(row));
            for i in 0..k.len() {
                self.add(ScalarValue::try_from_array(&k, i)?, ScalarValue::try_from_array(&v, i)?);
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let (key_type, value_type) = self.types()?;
        let sorted = self.sorted();
        let keys: Vec<ScalarValue> = sorted.iter().map(|(k, _)| (*k).clone()).collect();
        let values: Vec<ScalarValue> = sorted.iter().map(|(_, v)| (*v).clone()).collect();
        Ok(vec![
            ScalarValue::List(ScalarValue::new_list_nullable(&keys, &key_type)),
            ScalarValue::List(ScalarValue::new_list_nullable(&values, &value_type)),
        ])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let (key_type, value_type) = self.types()?;
        if self.entries.is_empty() {
            return ScalarValue::try_from(&self.returns);
        }
        let sorted = self.sorted();
        let keys = ScalarValue::iter_to_array(sorted.iter().map(|(k, _)| (*k).clone()))?;
        let values = ScalarValue::iter_to_array(sorted.iter().map(|(_, v)| (*v).clone()))?;
        let (keys, values) = (cast(&keys, &key_type)?, cast(&values, &value_type)?);
        let DataType::Map(entries_field, _) = &self.returns else {
            return exec_err!("expected a map type, got {}", self.returns);
        };
        let DataType::Struct(fields) = entries_field.data_type() else {
            return exec_err!("expected map entries");
        };
        let entries = StructArray::try_new(fields.clone(), vec![keys, values], None)?;
        let offsets = OffsetBuffer::from_lengths([entries.len()]);
        let map = MapArray::try_new(entries_field.clone(), offsets, entries, None, false)?;
        Ok(ScalarValue::Map(Arc::new(map)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.entries.iter().map(|(k, v)| k.size() + v.size()).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{try_value, type_of, value};

    const T: &str =
        "(SELECT * FROM (VALUES (1, 'a', 10.0), (2, 'b', 30.0), (3, 'a', 20.0), (4, NULL, NULL)) AS t(id, k, v))";

    #[tokio::test]
    async fn approx_percentile_one_or_many() {
        assert_eq!(value(&format!("SELECT approx_percentile(v, 0.5) FROM {T}")).await, "20.0");
        assert_eq!(value(&format!("SELECT approx_percentile(id, ARRAY[0.0, 1.0]) FROM {T}")).await, "[1, 4]");
        assert_eq!(type_of(&format!("SELECT approx_percentile(id, 0.5) FROM {T}")).await, "Int64");
        assert_eq!(value("SELECT approx_percentile(x, 0.5) FROM (SELECT 1.0 AS x) WHERE false").await, "NULL");
        assert!(
            try_value(&format!("SELECT approx_percentile(v, 1.5) FROM {T}"))
                .await
                .unwrap_err()
                .contains("between 0 and 1")
        );
    }

    #[tokio::test]
    async fn by_count_if_map_agg_histogram() {
        assert_eq!(value(&format!("SELECT max_by(k, v) FROM {T}")).await, "b");
        assert_eq!(value(&format!("SELECT min_by(id, v) FROM {T}")).await, "1");
        assert_eq!(value(&format!("SELECT count_if(v > 15) FROM {T}")).await, "2");
        assert_eq!(value(&format!("SELECT count_if(v > 100) FROM {T}")).await, "0");
        assert_eq!(value("SELECT count_if(x) FROM (VALUES (true), (NULL), (false), (true)) t(x)").await, "2");
        assert_eq!(
            value("SELECT count_if(x) FILTER (WHERE n > 1) FROM (VALUES (true, 1), (true, 2), (NULL, 3)) t(x, n)")
                .await,
            "1"
        );
        assert_eq!(value(&format!("SELECT map_agg(id, k) FROM {T} WHERE id < 3")).await, "{1: a, 2: b}");
        assert_eq!(value(&format!("SELECT histogram(k) FROM {T}")).await, "{a: 2, b: 1}");
        assert_eq!(value(&format!("SELECT element_at(histogram(k), 'a') FROM {T}")).await, "2");
        let grouped = format!(
            "SELECT string_agg(CAST(c AS VARCHAR), ',' ORDER BY k) FROM (SELECT k, count_if(id > 1) AS c FROM {T} GROUP BY k)"
        );
        assert_eq!(value(&grouped).await, "1,1,1");
    }
}
