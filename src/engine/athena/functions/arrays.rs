//! Array and map functions with Trino's semantics: `element_at` on arrays (1-based, negative
//! counts from the end, NULL past either end) and on maps (the value, not a list), `contains`
//! on arrays, `sequence` over integers, dates and timestamps, and the lambda functions under
//! Trino's names (`transform`, `filter`, `any_match`).

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, BooleanBuilder, GenericListArray, ListBuilder, OffsetSizeTrait,
    TimestampMicrosecondBuilder, UInt32Array,
};
use arrow::buffer::{BooleanBuffer, NullBuffer};
use arrow::compute::kernels::cmp::eq;
use arrow::compute::take;
use arrow::datatypes::{DataType, Field, Int64Type, IntervalMonthDayNanoType, TimeUnit, TimestampMicrosecondType};
use chrono::{DateTime, Months, TimeDelta};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::HigherOrderUDF;

use super::{Args, Scalar, arity, cast_to, is_integer};

/// Trino's most entries in a `sequence`.
const MAX_SEQUENCE: usize = 10_000;

pub(super) fn all() -> Vec<Scalar> {
    vec![
        Scalar::new("element_at", element_at_types, element_at_returns, element_at),
        Scalar::new("contains", contains_types, super::returns!(DataType::Boolean), contains),
        Scalar::new("sequence", sequence_types, sequence_returns, sequence),
        Scalar::new(super::super::rewrite::UNNEST_FIELD, unnest_field_types, unnest_field_returns, unnest_field),
    ]
}

/// DataFusion's lambda functions under Trino's names.
pub(super) fn higher_order() -> Vec<Arc<HigherOrderUDF>> {
    let names = [("array_transform", "transform"), ("array_filter", "filter"), ("array_any_match", "any_match")];
    datafusion::functions_nested::all_default_higher_order_functions()
        .into_iter()
        .filter_map(|f| {
            let (_, alias) = names.iter().find(|(name, _)| f.name() == *name)?;
            Some(Arc::new(f.as_ref().clone().with_aliases([*alias])))
        })
        .collect()
}

fn element_type(t: &DataType) -> Option<&DataType> {
    match t {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => Some(f.data_type()),
        _ => None,
    }
}

/// A map's key and value types.
fn map_types(t: &DataType) -> Option<(&DataType, &DataType)> {
    let DataType::Map(entries, _) = t else { return None };
    let DataType::Struct(fields) = entries.data_type() else { return None };
    Some((fields.first()?.data_type(), fields.get(1)?.data_type()))
}

/// A fixed-size list reads as a list.
fn list_type(t: &DataType) -> DataType {
    match t {
        DataType::FixedSizeList(f, _) => DataType::List(f.clone()),
        other => other.clone(),
    }
}

fn element_at_types(name: &str, t: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, t, 2, 2)?;
    if element_type(&t[0]).is_some() {
        if !is_integer(&t[1]) {
            return plan_err!("{name}: an array index must be an integer, got {}", t[1]);
        }
        return Ok(vec![list_type(&t[0]), DataType::Int64]);
    }
    if let Some((key, _)) = map_types(&t[0]) {
        return Ok(vec![t[0].clone(), key.clone()]);
    }
    plan_err!("{name} takes an array or a map, got {}", t[0])
}

fn element_at_returns(t: &[DataType], _: &[Option<&datafusion::common::ScalarValue>]) -> Result<DataType> {
    if let Some(element) = element_type(&t[0]) {
        return Ok(element.clone());
    }
    match map_types(&t[0]) {
        Some((_, value)) => Ok(value.clone()),
        None => plan_err!("element_at takes an array or a map, got {}", t[0]),
    }
}

fn element_at(args: &Args, _: &DataType) -> Result<ArrayRef> {
    match args.array(0).data_type() {
        DataType::List(_) => array_element::<i32>(args, args.array(0).as_list()),
        DataType::LargeList(_) => array_element::<i64>(args, args.array(0).as_list()),
        DataType::Map(..) => map_value(args),
        other => exec_err!("element_at takes an array or a map, got {other}"),
    }
}

fn array_element<O: OffsetSizeTrait>(args: &Args, list: &GenericListArray<O>) -> Result<ArrayRef> {
    let index = args.array(1).as_primitive::<Int64Type>();
    let offsets = list.value_offsets();
    let mut picks = Vec::with_capacity(args.rows);
    for row in 0..args.rows {
        let (l, i) = (args.at(0, row), args.at(1, row));
        if list.is_null(l) || index.is_null(i) {
            picks.push(None);
            continue;
        }
        let (start, end) = (offsets[l].as_usize() as i64, offsets[l + 1].as_usize() as i64);
        let position = match index.value(i) {
            0 => return exec_err!("element_at: SQL array indices start at 1"),
            n if n > 0 => start + n - 1,
            n => end + n,
        };
        picks.push((position >= start && position < end).then_some(position as u32));
    }
    Ok(take(list.values().as_ref(), &UInt32Array::from(picks), None)?)
}

fn map_value(args: &Args) -> Result<ArrayRef> {
    let map = args.array(0).as_map();
    let offsets: Vec<usize> = map.value_offsets().iter().map(|o| *o as usize).collect();
    let entries = Entries::of(args, &offsets);
    let keys = take(map.keys().as_ref(), &entries.items, None)?;
    let wanted = take(args.array(1).as_ref(), &entries.wanted, None)?;
    let matches: BooleanArray = eq(&keys, &wanted)?;
    let mut picks = Vec::with_capacity(args.rows);
    for (row, range) in entries.ranges.iter().enumerate() {
        if map.is_null(args.at(0, row)) {
            picks.push(None);
            continue;
        }
        let found = range.clone().find(|&e| matches.is_valid(e) && matches.value(e));
        picks.push(found.map(|e| entries.items.value(e)));
    }
    Ok(take(map.values().as_ref(), &UInt32Array::from(picks), None)?)
}

/// The entries of each output row's list or map, laid out so that one kernel call compares
/// them all with each row's wanted value (a constant list or map repeats its one row).
struct Entries {
    /// Index of each entry in the list's or map's values.
    items: UInt32Array,
    /// Index of each entry's row in the wanted-value argument.
    wanted: UInt32Array,
    /// Each output row's entries, as positions in `items`.
    ranges: Vec<std::ops::Range<usize>>,
}

impl Entries {
    fn of(args: &Args, offsets: &[usize]) -> Entries {
        let (mut items, mut wanted, mut ranges) = (Vec::new(), Vec::new(), Vec::with_capacity(args.rows));
        for row in 0..args.rows {
            let l = args.at(0, row);
            let start = items.len();
            for item in offsets[l]..offsets[l + 1] {
                items.push(item as u32);
                wanted.push(args.at(1, row) as u32);
            }
            ranges.push(start..items.len());
        }
        Entries { items: UInt32Array::from(items), wanted: UInt32Array::from(wanted), ranges }
    }
}

fn contains_types(name: &str, t: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, t, 2, 2)?;
    match element_type(&t[0]) {
        Some(element) => Ok(vec![list_type(&t[0]), element.clone()]),
        None => plan_err!(
            "{name} takes (array, element), got ({}, {}); for text use strpos(s, part) > 0 or s LIKE '%part%'",
            t[0],
            t[1]
        ),
    }
}

/// Trino's `contains`: true when an element equals the value; NULL when none does but the
/// array has NULLs (it is unknown whether they equal it); false otherwise.
fn contains(args: &Args, _: &DataType) -> Result<ArrayRef> {
    match args.array(0).data_type() {
        DataType::List(_) => contains_in::<i32>(args, args.array(0).as_list()),
        DataType::LargeList(_) => contains_in::<i64>(args, args.array(0).as_list()),
        other => exec_err!("contains takes an array, got {other}"),
    }
}

fn contains_in<O: OffsetSizeTrait>(args: &Args, list: &GenericListArray<O>) -> Result<ArrayRef> {
    if args.at(0, 1) == 1 && args.at(1, 1) == 0 {
        return contains_constant(list, args.array(1));
    }
    let offsets: Vec<usize> = list.value_offsets().iter().map(|o| o.as_usize()).collect();
    let entries = Entries::of(args, &offsets);
    let values = take(list.values().as_ref(), &entries.items, None)?;
    let wanted = take(args.array(1).as_ref(), &entries.wanted, None)?;
    let matches: BooleanArray = eq(&values, &wanted)?;
    let mut out = BooleanBuilder::with_capacity(args.rows);
    for (row, range) in entries.ranges.iter().enumerate() {
        if list.is_null(args.at(0, row)) || args.array(1).is_null(args.at(1, row)) {
            out.append_null();
        } else {
            let found = range.clone().any(|e| matches.is_valid(e) && matches.value(e));
            out.append_option(three_valued(found, range.clone().any(|e| matches.is_null(e))));
        }
    }
    Ok(Arc::new(out.finish()))
}

fn unnest_field_types(name: &str, t: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, t, 2, 2)?;
    let splittable = map_types(&t[0]).is_some() || matches!(element_type(&t[0]), Some(DataType::Struct(_)));
    if !splittable || !is_integer(&t[1]) {
        return plan_err!("UNNEST with several column names needs a map or an array of rows, got {}", t[0]);
    }
    Ok(vec![list_type(&t[0]), DataType::Int64])
}

/// The type of field `n` (a constant) of a map's entries or of an array's rows, as a list.
fn unnest_field_returns(t: &[DataType], scalars: &[Option<&datafusion::common::ScalarValue>]) -> Result<DataType> {
    let n = match scalars.get(1).copied().flatten() {
        Some(datafusion::common::ScalarValue::Int64(Some(n))) => *n as usize,
        _ => return plan_err!("UNNEST: the field number must be a constant"),
    };
    let field = match (map_types(&t[0]), element_type(&t[0])) {
        (Some((key, value)), _) => match n {
            0 => key.clone(),
            1 => value.clone(),
            _ => return plan_err!("UNNEST of a map gives two columns (key, value), not {}", n + 1),
        },
        (None, Some(DataType::Struct(fields))) => match fields.get(n) {
            Some(f) => f.data_type().clone(),
            None => return plan_err!("UNNEST of rows with {} fields names {} columns", fields.len(), n + 1),
        },
        _ => return plan_err!("UNNEST with several column names needs a map or an array of rows, got {}", t[0]),
    };
    Ok(DataType::List(Arc::new(Field::new_list_field(field, true))))
}

/// One field of every entry (a map) or row (an array of rows), as an array per input row.
fn unnest_field(args: &Args, returns: &DataType) -> Result<ArrayRef> {
    let n = args.array(1).as_primitive::<Int64Type>().value(0) as usize;
    let source = args.array(0);
    let (offsets, nulls, values): (arrow::buffer::OffsetBuffer<i32>, _, ArrayRef) = match source.data_type() {
        DataType::Map(..) => {
            let map = source.as_map();
            let values = if n == 0 { map.keys().clone() } else { map.values().clone() };
            (map.offsets().clone(), map.nulls().cloned(), values)
        }
        DataType::List(_) => {
            let list = source.as_list::<i32>();
            (list.offsets().clone(), list.nulls().cloned(), list.values().as_struct().column(n).clone())
        }
        other => return exec_err!("UNNEST cannot split {other}"),
    };
    let DataType::List(field) = returns else {
        return exec_err!("UNNEST fields are lists, not {returns}");
    };
    Ok(Arc::new(arrow::array::ListArray::try_new(field.clone(), offsets, values, nulls)?))
}

/// Trino's answer for `contains`: true on a match, else unknown (NULL) when some element was
/// NULL, else false.
fn three_valued(found: bool, any_null: bool) -> Option<bool> {
    if found {
        Some(true)
    } else if any_null {
        None
    } else {
        Some(false)
    }
}

/// `contains` of one value in every row's array: one comparison over all the elements.
fn contains_constant<O: OffsetSizeTrait>(list: &GenericListArray<O>, needle: &ArrayRef) -> Result<ArrayRef> {
    if needle.is_null(0) {
        return Ok(arrow::array::new_null_array(&DataType::Boolean, list.len()));
    }
    let offsets = list.value_offsets();
    let (first, last) = (offsets[0].as_usize(), offsets[list.len()].as_usize());
    let values = list.values().slice(first, last - first);
    let matches: BooleanArray = eq(&values, &arrow::array::Scalar::new(needle.clone()))?;
    // Whether any element matched (a NULL element never counts as a match).
    let found = match matches.nulls() {
        Some(nulls) => matches.values() & nulls.inner(),
        None => matches.values().clone(),
    };
    let range = |row: usize| offsets[row].as_usize() - first..offsets[row + 1].as_usize() - first;
    let values = BooleanBuffer::collect_bool(list.len(), |row| range(row).any(|e| found.value(e)));
    // NULL for a NULL array, and for one without a match that holds a NULL.
    let nulls = match (list.nulls(), matches.nulls()) {
        (None, None) => None,
        (lists, elements) => Some(NullBuffer::new(BooleanBuffer::collect_bool(list.len(), |row| {
            lists.is_none_or(|n| n.is_valid(row))
                && (values.value(row) || elements.is_none_or(|n| range(row).all(|e| n.is_valid(e))))
        }))),
    };
    Ok(Arc::new(BooleanArray::new(values, nulls)))
}

fn sequence_types(name: &str, t: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, t, 2, 3)?;
    if is_integer(&t[0]) && is_integer(&t[1]) && t.get(2).is_none_or(is_integer) {
        return Ok(vec![DataType::Int64; t.len()]);
    }
    let temporal = |t: &DataType| matches!(t, DataType::Date32 | DataType::Date64 | DataType::Timestamp(..));
    if temporal(&t[0]) && temporal(&t[1]) && t.get(2).is_none_or(|s| matches!(s, DataType::Interval(_))) {
        let point = if t[0] == DataType::Date32 && t[1] == DataType::Date32 {
            DataType::Date32
        } else {
            DataType::Timestamp(TimeUnit::Microsecond, None)
        };
        let mut types = vec![point.clone(), point];
        if t.len() == 3 {
            types.push(DataType::Interval(arrow::datatypes::IntervalUnit::MonthDayNano));
        }
        return Ok(types);
    }
    plan_err!(
        "{name} takes (start, stop[, step]) of bigints, or of dates or timestamps with an interval step; got {t:?}"
    )
}

fn sequence_returns(t: &[DataType], _: &[Option<&datafusion::common::ScalarValue>]) -> Result<DataType> {
    Ok(DataType::List(Arc::new(Field::new_list_field(t[0].clone(), true))))
}

fn sequence(args: &Args, returns: &DataType) -> Result<ArrayRef> {
    if args.array(0).data_type() == &DataType::Int64 {
        return integer_sequence(args);
    }
    let point = args.array(0).data_type().clone();
    let micros_type = DataType::Timestamp(TimeUnit::Microsecond, None);
    let (start, stop) = (cast_to(args.array(0), &micros_type)?, cast_to(args.array(1), &micros_type)?);
    let (start, stop) =
        (start.as_primitive::<TimestampMicrosecondType>(), stop.as_primitive::<TimestampMicrosecondType>());
    let steps = (args.len() == 3).then(|| args.array(2).as_primitive::<IntervalMonthDayNanoType>());
    let mut out = ListBuilder::new(TimestampMicrosecondBuilder::new());
    for row in 0..args.rows {
        let (s, e) = (args.at(0, row), args.at(1, row));
        let step = match steps {
            Some(steps) if steps.is_null(args.at(2, row)) => None,
            Some(steps) => Some(steps.value(args.at(2, row))),
            None => Some(arrow::datatypes::IntervalMonthDayNano::new(
                0,
                if start.value(s) <= stop.value(e) { 1 } else { -1 },
                0,
            )),
        };
        let (Some(step), true, true) = (step, start.is_valid(s), stop.is_valid(e)) else {
            out.append_null();
            continue;
        };
        let (first, last) = (start.value(s), stop.value(e));
        let forward =
            step.months > 0 || (step.months == 0 && (step.days > 0 || (step.days == 0 && step.nanoseconds > 0)));
        let backward =
            step.months < 0 || (step.months == 0 && (step.days < 0 || (step.days == 0 && step.nanoseconds < 0)));
        if (!forward && !backward) || (forward && first > last) || (backward && first < last) {
            return exec_err!("sequence: the step must move from start towards stop");
        }
        if point == DataType::Date32 && step.nanoseconds != 0 {
            return exec_err!("sequence: the step of a date sequence must be whole days or months");
        }
        let mut n = 0i64;
        loop {
            let Some(value) = shift(first, step, n) else { return exec_err!("sequence: a value overflows") };
            if (forward && value > last) || (backward && value < last) {
                break;
            }
            out.values().append_value(value);
            n += 1;
            if n as usize > MAX_SEQUENCE {
                return exec_err!("sequence: the result must not have more than {MAX_SEQUENCE} entries");
            }
        }
        out.append(true);
    }
    let built: ArrayRef = Arc::new(out.finish());
    cast_to(&built, returns)
}

/// `micros` moved by `n` steps, months first, as Trino does (so month ends stay clamped).
fn shift(micros: i64, step: arrow::datatypes::IntervalMonthDayNano, n: i64) -> Option<i64> {
    let at = DateTime::from_timestamp_micros(micros)?.naive_utc();
    let months = i64::from(step.months).checked_mul(n)?;
    let shifted = Months::new(u32::try_from(months.unsigned_abs()).ok()?);
    let at = if months >= 0 { at.checked_add_months(shifted)? } else { at.checked_sub_months(shifted)? };
    let at = at.checked_add_signed(TimeDelta::days(i64::from(step.days).checked_mul(n)?))?;
    let at = at.checked_add_signed(TimeDelta::nanoseconds(step.nanoseconds.checked_mul(n)?))?;
    Some(at.and_utc().timestamp_micros())
}

fn integer_sequence(args: &Args) -> Result<ArrayRef> {
    let (start, stop) = (args.array(0).as_primitive::<Int64Type>(), args.array(1).as_primitive::<Int64Type>());
    let steps = (args.len() == 3).then(|| args.array(2).as_primitive::<Int64Type>());
    let mut values: Vec<i64> = Vec::new();
    let mut offsets: Vec<i32> = Vec::with_capacity(args.rows + 1);
    let mut valid = Vec::with_capacity(args.rows);
    offsets.push(0);
    for row in 0..args.rows {
        let (s, e) = (args.at(0, row), args.at(1, row));
        let null = start.is_null(s) || stop.is_null(e) || steps.is_some_and(|st| st.is_null(args.at(2, row)));
        valid.push(!null);
        if !null {
            let (first, last) = (start.value(s), stop.value(e));
            let step = match steps {
                Some(st) => st.value(args.at(2, row)),
                None => {
                    if first <= last {
                        1
                    } else {
                        -1
                    }
                }
            };
            if step == 0 || (step > 0 && first > last) || (step < 0 && first < last) {
                return exec_err!("sequence: the step must move from start towards stop");
            }
            let count = (last.abs_diff(first) / step.unsigned_abs()) as usize + 1;
            if count > MAX_SEQUENCE {
                return exec_err!("sequence: the result must not have more than {MAX_SEQUENCE} entries");
            }
            values.extend((0..count as i64).map(|n| first + n * step));
        }
        offsets.push(i32::try_from(values.len()).map_err(|_| {
            datafusion::error::DataFusionError::Execution("sequence: over 2^31 values in one batch".into())
        })?);
    }
    let field = Arc::new(Field::new_list_field(DataType::Int64, true));
    let list = arrow::array::ListArray::try_new(
        field,
        arrow::buffer::OffsetBuffer::new(offsets.into()),
        Arc::new(arrow::array::Int64Array::from(values)),
        Some(arrow::buffer::NullBuffer::from(valid)),
    )?;
    Ok(Arc::new(list))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{try_value, value};

    #[tokio::test]
    async fn element_at_on_arrays_and_maps() {
        assert_eq!(value("SELECT element_at(make_array(1, 2, 3), 1)").await, "1");
        assert_eq!(value("SELECT element_at(make_array(1, 2, 3), -1)").await, "3");
        assert_eq!(value("SELECT element_at(make_array(1, 2, 3), 4)").await, "NULL");
        assert_eq!(value("SELECT element_at(make_array(1, 2, 3), -4)").await, "NULL");
        assert_eq!(value("SELECT element_at(CAST(make_array() AS INT[]), 1)").await, "NULL");
        assert!(try_value("SELECT element_at(make_array(1), 0)").await.unwrap_err().contains("start at 1"));
        assert_eq!(value("SELECT element_at(MAP {'a': 1, 'b': 2}, 'b')").await, "2");
        assert_eq!(value("SELECT element_at(MAP {'a': 1}, 'z')").await, "NULL");
    }

    #[tokio::test]
    async fn contains_is_three_valued() {
        assert_eq!(value("SELECT contains(make_array(1, 2, 3), 2)").await, "true");
        assert_eq!(value("SELECT contains(make_array(1, 2, 3), 5)").await, "false");
        assert_eq!(value("SELECT contains(make_array(1, NULL, 3), 5)").await, "NULL");
        assert_eq!(value("SELECT contains(make_array('a', 'b'), 'b')").await, "true");
        assert!(try_value("SELECT contains('abc', 'b')").await.unwrap_err().contains("strpos"));
    }

    #[tokio::test]
    async fn sequences() {
        assert_eq!(value("SELECT sequence(1, 5)").await, "[1, 2, 3, 4, 5]");
        assert_eq!(value("SELECT sequence(5, 1)").await, "[5, 4, 3, 2, 1]");
        assert_eq!(value("SELECT sequence(1, 10, 4)").await, "[1, 5, 9]");
        assert_eq!(
            value("SELECT sequence(DATE '2020-02-27', DATE '2020-03-01')").await,
            "[2020-02-27, 2020-02-28, 2020-02-29, 2020-03-01]"
        );
        assert_eq!(
            value("SELECT sequence(DATE '2020-01-31', DATE '2020-05-01', INTERVAL '1' MONTH)").await,
            "[2020-01-31, 2020-02-29, 2020-03-31, 2020-04-30]"
        );
        assert!(try_value("SELECT sequence(1, 5, -1)").await.is_err());
        assert!(try_value("SELECT sequence(1, 100000)").await.unwrap_err().contains("10000"));
    }
}
