//! Latency sketches: glaux's own functions (not Trino's) for percentiles that stay right when
//! summaries are combined, so a p95 over a month of daily digest rows is the p95 of the month's
//! calls, not an average of daily p95s.
//!
//! - `latency_sketch(x)` (aggregate) summarises non-negative numbers as a `varbinary` sketch;
//! - `merge_sketches(sketch)` (aggregate) combines sketches into one, as if built from all their
//!   values;
//! - `sketch_quantile(sketch, p)` estimates the value at rank `ceil(p * n)` (nearest rank) of
//!   the `n` values summarised; `sketch_count(sketch)` is `n`;
//! - `sketch_histogram(sketch)` counts values per power of ten from 1 µs, pt-query-digest's
//!   "Query_time distribution" when the values are seconds: `[< 10 µs, < 100 µs, < 1 ms,
//!   < 10 ms, < 100 ms, < 1 s, < 10 s, ≥ 10 s]`.
//!
//! The sketch keeps a count per logarithmic bucket `(γ^(i-1), γ^i]` with γ = 1.02 (DDSketch's
//! construction): an estimate is the bucket's `2γ^i / (γ + 1)`, within **1 %** (relative,
//! `(γ - 1) / (γ + 1)`) of the exact order statistic, whatever the values and however sketches
//! are merged. Zeros are counted apart and estimated exactly. A sketch of calls between 1 µs
//! and 1 hour has at most about 1,100 buckets; only the non-empty ones are stored, two or three
//! bytes each.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BinaryArray, BinaryBuilder, Float64Builder, ListBuilder, UInt64Builder};
use arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::function::StateFieldsArgs;
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{Accumulator, AggregateUDF};

use super::aggregates::Aggregate;
use super::{Args, Scalar, arity, returns};

const GAMMA: f64 = 1.02;
/// The format written: a version byte, then LEB128 numbers.
const VERSION: u8 = 2;
/// The most buckets between the lowest and the highest of a sketch.
const MAX_SPAN: u32 = 1 << 17;

pub(super) fn aggregates() -> Vec<AggregateUDF> {
    vec![
        Aggregate::new(
            "latency_sketch",
            number_types,
            |_| Ok(DataType::Binary),
            sketch_state,
            |_| Ok(Box::new(SketchAccumulator { sketch: Sketch::default(), merging_input: false })),
        ),
        Aggregate::new(
            "merge_sketches",
            binary_types,
            |_| Ok(DataType::Binary),
            sketch_state,
            |_| Ok(Box::new(SketchAccumulator { sketch: Sketch::default(), merging_input: true })),
        ),
    ]
    .into_iter()
    .map(AggregateUDF::new_from_impl)
    .collect()
}

pub(super) fn scalars() -> Vec<Scalar> {
    vec![
        Scalar::new("sketch_quantile", quantile_types, returns!(DataType::Float64), quantile),
        Scalar::new("sketch_count", binary_types, returns!(DataType::UInt64), count),
        Scalar::new(
            "sketch_histogram",
            binary_types,
            returns!(DataType::List(Arc::new(Field::new_list_field(DataType::UInt64, true)))),
            histogram,
        ),
    ]
}

fn number_types(name: &str, t: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, t, 1, 1)?;
    if !t[0].is_numeric() && t[0] != DataType::Null {
        return plan_err!("{name} takes a number (a duration), got {}", t[0]);
    }
    Ok(vec![DataType::Float64])
}

fn binary_types(name: &str, t: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, t, 1, 1)?;
    if !matches!(t[0], DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::Null) {
        return plan_err!("{name} takes a sketch (varbinary from latency_sketch), got {}", t[0]);
    }
    Ok(vec![DataType::Binary])
}

fn quantile_types(name: &str, t: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, t, 2, 2)?;
    binary_types(name, &t[..1])?;
    if !t[1].is_numeric() {
        return plan_err!("{name}: the quantile must be a number between 0 and 1, got {}", t[1]);
    }
    Ok(vec![DataType::Binary, DataType::Float64])
}

fn sketch_state(args: &StateFieldsArgs) -> Vec<FieldRef> {
    vec![Arc::new(Field::new(format_state_name(args.name, "sketch"), DataType::Binary, true))]
}

/// Counts per bucket index, densely from `first`, and the count of zeros.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Sketch {
    zeros: u64,
    first: i32,
    counts: Vec<u64>,
}

impl Sketch {
    fn index(value: f64) -> i32 {
        (value.ln() / GAMMA.ln()).ceil() as i32
    }

    /// Counts `value` (a NULL, negative or non-finite value is not a duration and is skipped).
    pub fn add(&mut self, value: f64) {
        if value == 0.0 {
            self.zeros += 1;
        } else if value > 0.0 && value.is_finite() {
            self.add_count(Self::index(value), 1);
        }
    }

    fn add_count(&mut self, index: i32, count: u64) {
        if self.counts.is_empty() {
            self.first = index;
        }
        if index < self.first {
            let grow = (self.first - index) as usize;
            self.counts.splice(0..0, std::iter::repeat_n(0, grow));
            self.first = index;
        }
        let at = (index - self.first) as usize;
        if at >= self.counts.len() {
            self.counts.resize(at + 1, 0);
        }
        self.counts[at] += count;
    }

    /// Adds every value `other` counted.
    pub fn merge(&mut self, other: &Sketch) {
        self.zeros += other.zeros;
        for (i, count) in other.counts.iter().enumerate() {
            if *count > 0 {
                self.add_count(other.first + i as i32, *count);
            }
        }
    }

    /// How many values were counted.
    pub fn count(&self) -> u64 {
        self.zeros + self.counts.iter().sum::<u64>()
    }

    /// The estimated value at rank `ceil(p * n)` (the first for p = 0), None when empty.
    pub fn quantile(&self, p: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = ((p.clamp(0.0, 1.0) * n as f64).ceil() as u64).max(1);
        if rank <= self.zeros {
            return Some(0.0);
        }
        let mut seen = self.zeros;
        for (i, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                let index = self.first + i as i32;
                return Some(2.0 * GAMMA.powi(index) / (GAMMA + 1.0));
            }
        }
        None
    }

    /// Counts per power of ten from 1e-6: `[< 1e-5, …, < 10, ≥ 10]` (8 numbers).
    pub fn decades(&self) -> [u64; 8] {
        let mut out = [0u64; 8];
        out[0] = self.zeros;
        for (i, count) in self.counts.iter().enumerate() {
            let estimate = 2.0 * GAMMA.powi(self.first + i as i32) / (GAMMA + 1.0);
            let decade = (estimate.log10().floor() + 6.0).clamp(0.0, 7.0) as usize;
            out[decade] += count;
        }
        out
    }

    /// The stored form: the version, the zero count, the number of non-empty buckets, then per
    /// non-empty bucket the distance from the one before (zigzag, the first from 0) and its
    /// count, all LEB128.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![VERSION];
        leb128(&mut out, self.zeros);
        leb128(&mut out, self.counts.iter().filter(|c| **c > 0).count() as u64);
        let mut previous = 0i32;
        for (i, count) in self.counts.iter().enumerate().filter(|(_, c)| **c > 0) {
            let index = self.first + i as i32;
            leb128(&mut out, zigzag(index - previous));
            leb128(&mut out, *count);
            previous = index;
        }
        out
    }

    /// Reads a stored sketch.
    pub fn from_bytes(bytes: &[u8]) -> Result<Sketch> {
        let invalid = || {
            datafusion::error::DataFusionError::Execution(
                "not a latency sketch (write merge_sketches(col) over values made by latency_sketch)".into(),
            )
        };
        let (&version, mut rest) = bytes.split_first().ok_or_else(invalid)?;
        if version != VERSION {
            return Err(invalid());
        }
        let mut next = || read_leb128(&mut rest).ok_or_else(invalid);
        let mut sketch = Sketch { zeros: next()?, ..Sketch::default() };
        let buckets = next()?;
        let mut index = 0i32;
        for _ in 0..buckets {
            index = index.checked_add(unzigzag(next()?)).ok_or_else(invalid)?;
            let count = next()?;
            // Every finite double lies within about 73,000 buckets: more is not a sketch (and
            // must not become a huge allocation).
            let span = if sketch.counts.is_empty() { 0 } else { index.abs_diff(sketch.first) };
            if span >= MAX_SPAN {
                return Err(invalid());
            }
            sketch.add_count(index, count);
        }
        Ok(sketch)
    }

    /// Adds the values of the stored sketch `bytes` without building a second sketch.
    pub fn merge_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        let other = Sketch::from_bytes(bytes)?;
        self.merge(&other);
        Ok(())
    }
}

fn leb128(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn read_leb128(input: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = input.split_first()?;
        *input = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn zigzag(v: i32) -> u64 {
    u64::from(((v << 1) ^ (v >> 31)) as u32)
}

fn unzigzag(v: u64) -> i32 {
    let v = v as u32;
    ((v >> 1) as i32) ^ -((v & 1) as i32)
}

#[derive(Debug)]
struct SketchAccumulator {
    sketch: Sketch,
    /// Whether the input is sketches (`merge_sketches`) rather than values.
    merging_input: bool,
}

impl SketchAccumulator {
    fn merge_binary(&mut self, array: &ArrayRef) -> Result<()> {
        let sketches: &BinaryArray = array.as_binary();
        for bytes in sketches.iter().flatten() {
            self.sketch.merge_bytes(bytes)?;
        }
        Ok(())
    }
}

impl Accumulator for SketchAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        if self.merging_input {
            return self.merge_binary(&values[0]);
        }
        for value in values[0].as_primitive::<Float64Type>().iter().flatten() {
            self.sketch.add(value);
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.merge_binary(&states[0])
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::Binary(Some(self.sketch.to_bytes()))])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Binary(Some(self.sketch.to_bytes())))
    }

    fn size(&self) -> usize {
        size_of::<Self>() + self.sketch.counts.capacity() * size_of::<u64>()
    }
}

/// Each row's sketch (None for NULL), read once per row.
fn each_sketch(args: &Args, mut f: impl FnMut(usize, Option<Sketch>) -> Result<()>) -> Result<()> {
    let sketches = args.array(0).as_binary::<i32>();
    for row in 0..args.rows {
        let i = args.at(0, row);
        let sketch = if sketches.is_valid(i) { Some(Sketch::from_bytes(sketches.value(i))?) } else { None };
        f(row, sketch)?;
    }
    Ok(())
}

fn quantile(args: &Args, _: &DataType) -> Result<ArrayRef> {
    let ps = args.array(1).as_primitive::<Float64Type>();
    let mut out = Float64Builder::with_capacity(args.rows);
    each_sketch(args, |row, sketch| {
        let i = args.at(1, row);
        match (sketch, ps.is_valid(i).then(|| ps.value(i))) {
            (Some(_), Some(p)) if !(0.0..=1.0).contains(&p) => {
                return exec_err!("sketch_quantile: the quantile must be between 0 and 1, got {p}");
            }
            (Some(sketch), Some(p)) => out.append_option(sketch.quantile(p)),
            _ => out.append_null(),
        }
        Ok(())
    })?;
    Ok(Arc::new(out.finish()))
}

fn count(args: &Args, _: &DataType) -> Result<ArrayRef> {
    let mut out = UInt64Builder::with_capacity(args.rows);
    each_sketch(args, |_, sketch| {
        out.append_option(sketch.map(|s| s.count()));
        Ok(())
    })?;
    Ok(Arc::new(out.finish()))
}

fn histogram(args: &Args, _: &DataType) -> Result<ArrayRef> {
    let mut out = ListBuilder::new(UInt64Builder::new());
    each_sketch(args, |_, sketch| {
        match sketch {
            Some(sketch) => {
                out.values().append_slice(&sketch.decades());
                out.append(true);
            }
            None => out.append_null(),
        }
        Ok(())
    })?;
    Ok(Arc::new(out.finish()))
}

/// Appends a sketch of `values` to `out` (for tests and callers building sketches in Rust).
pub fn sketch_of(values: impl IntoIterator<Item = f64>, out: &mut BinaryBuilder) {
    let mut sketch = Sketch::default();
    values.into_iter().for_each(|v| sketch.add(v));
    out.append_value(sketch.to_bytes());
}

#[cfg(test)]
mod tests {
    use super::super::testing::value;
    use super::*;

    #[test]
    fn quantiles_are_within_one_percent_of_the_exact_rank() {
        let values: Vec<f64> = (1..=10_000).map(|i| (i as f64 * 0.37).powf(1.7) * 1e-4).collect();
        let (mut left, mut right) = (Sketch::default(), Sketch::default());
        for (i, v) in values.iter().enumerate() {
            if i % 3 == 0 { left.add(*v) } else { right.add(*v) }
        }
        let mut merged = Sketch::from_bytes(&left.to_bytes()).unwrap();
        merged.merge(&Sketch::from_bytes(&right.to_bytes()).unwrap());
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        for p in [0.0, 0.01, 0.5, 0.95, 0.99, 1.0] {
            let rank = ((p * sorted.len() as f64).ceil() as usize).max(1);
            let exact = sorted[rank - 1];
            let estimate = merged.quantile(p).unwrap();
            assert!((estimate - exact).abs() <= 0.0099 * exact + 1e-12, "p{p}: {estimate} vs {exact}");
        }
        assert_eq!(merged.count(), 10_000);
    }

    #[test]
    fn zeros_and_empty() {
        let mut sketch = Sketch::default();
        assert_eq!(sketch.quantile(0.5), None);
        sketch.add(0.0);
        sketch.add(0.0);
        sketch.add(2.0);
        assert_eq!(sketch.quantile(0.5), Some(0.0));
        assert!((sketch.quantile(1.0).unwrap() - 2.0).abs() < 0.02);
        assert_eq!(sketch.decades(), [2, 0, 0, 0, 0, 0, 1, 0]);
        assert!(Sketch::from_bytes(b"nonsense").is_err());
        // Two buckets a billion apart: refused, not allocated.
        let mut far = vec![VERSION, 0, 2];
        leb128(&mut far, zigzag(0));
        leb128(&mut far, 1);
        leb128(&mut far, zigzag(1_000_000_000));
        leb128(&mut far, 1);
        assert!(Sketch::from_bytes(&far).is_err());
        let mut extremes = Sketch::default();
        extremes.add(f64::MIN_POSITIVE / 1e15);
        extremes.add(f64::MAX);
        assert_eq!(Sketch::from_bytes(&extremes.to_bytes()).unwrap(), extremes);
    }

    #[tokio::test]
    async fn in_sql() {
        let sql = "SELECT round(sketch_quantile(merge_sketches(s), 0.5), 3) FROM (
            SELECT latency_sketch(x) AS s FROM (VALUES (1.0), (2.0), (3.0)) t(x)
            UNION ALL SELECT latency_sketch(x) FROM (VALUES (4.0), (5.0)) t(x))";
        assert_eq!(value(sql).await, "3.001");
        assert_eq!(value("SELECT sketch_count(latency_sketch(x)) FROM (VALUES (1.0), (NULL)) t(x)").await, "1");
        assert_eq!(
            value("SELECT sketch_histogram(latency_sketch(x)) FROM (VALUES (0.0005), (0.2), (30.0)) t(x)").await,
            "[0, 0, 1, 0, 0, 1, 0, 1]"
        );
    }
}
