//! Trino's functions with Athena's semantics (engine v3), registered in every glaux session.
//!
//! Where DataFusion has a function of the same name with another meaning (`date_format`,
//! `element_at`, `contains`, `regexp_replace`, `md5`, `to_hex`, `split`, `from_unixtime`,
//! `to_unixtime`), the Trino meaning replaces it. Functions DataFusion already has with Trino's
//! meaning (`date_trunc`, `chr`, `strpos`, `cardinality`, `flatten`, `array_join`, `map_keys`,
//! `approx_distinct`, `bool_and`, `array_agg`, …) are DataFusion's own; Trino's other names for
//! them (`levenshtein_distance`, `arbitrary`, `every`, `transform`, `filter`, `zip`) are aliases.
//!
//! Beside them, glaux's own latency sketches ([`sketch`]): mergeable percentiles for digests.
//!
//! Each scalar function here is a [`Scalar`]: a name, how its arguments are coerced, its result
//! type and a body over whole arrays. Constant arguments (formats, patterns, units) arrive as
//! one-row arrays and are read once per batch.

mod aggregates;
mod arrays;
mod binary;
mod datetime;
pub use datetime::ExtractPlanner;
mod json;
mod reduce;
pub mod sketch;
mod text;
pub(crate) mod timefmt;

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, LargeStringArray, StringArray, StringViewArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;

/// Registers every Athena function in `ctx`, replacing DataFusion's functions of the same name,
/// and beside each scalar function its NULL-on-error form for `try(…)` (`try_date_parse`).
pub fn register(ctx: &SessionContext) {
    for function in scalar_impls() {
        ctx.register_udf(ScalarUDF::new_from_impl(function.lenient()));
    }
    for function in scalars() {
        ctx.register_udf(function);
    }
    for function in aggregates::all().into_iter().chain(sketch::aggregates()) {
        ctx.register_udaf(function);
    }
    for function in arrays::higher_order() {
        ctx.register_higher_order_function(function);
    }
    ctx.register_higher_order_function(reduce::reduce());
    let state = ctx.state();
    for (alias, builtin) in ALIASES {
        if let Some(function) = state.scalar_functions().get(*builtin) {
            ctx.register_udf(function.as_ref().clone().with_aliases([*alias]));
        }
        if let Some(function) = state.aggregate_functions().get(*builtin) {
            ctx.register_udaf(function.as_ref().clone().with_aliases([*alias]));
        }
    }
}

/// Trino names for DataFusion functions with the same meaning: (Trino name, DataFusion name).
const ALIASES: &[(&str, &str)] = &[
    ("levenshtein_distance", "levenshtein"),
    ("arbitrary", "any_value"),
    ("every", "bool_and"),
    ("zip", "arrays_zip"),
];

/// The names of the scalar functions with a NULL-on-error form (computed once: every parse
/// asks).
pub fn fallible() -> &'static std::collections::HashSet<String> {
    static NAMES: std::sync::LazyLock<std::collections::HashSet<String>> =
        std::sync::LazyLock::new(|| scalar_impls().iter().map(|f| f.name.to_string()).collect());
    &NAMES
}

fn scalar_impls() -> Vec<Scalar> {
    let mut all = Vec::new();
    all.extend(datetime::all());
    all.extend(text::all());
    all.extend(json::all());
    all.extend(arrays::all());
    all.extend(binary::all());
    all.extend(sketch::scalars());
    all
}

fn scalars() -> Vec<ScalarUDF> {
    scalar_impls().into_iter().map(ScalarUDF::new_from_impl).collect()
}

/// A function's arguments for one batch: every argument as an array (a constant as one row).
pub(crate) struct Args {
    arrays: Vec<ArrayRef>,
    constant: Vec<bool>,
    /// Rows to produce: the batch's, or 1 when every argument is a constant.
    pub rows: usize,
}

impl Args {
    /// Argument `n`'s array.
    pub fn array(&self, n: usize) -> &ArrayRef {
        &self.arrays[n]
    }

    /// How many arguments the call has.
    pub fn len(&self) -> usize {
        self.arrays.len()
    }

    /// The index into argument `n`'s array for row `row`.
    pub fn at(&self, n: usize, row: usize) -> usize {
        if self.constant[n] { 0 } else { row }
    }

    /// Argument `n` as text (any of Arrow's string types).
    pub fn text(&self, n: usize) -> Result<Text<'_>> {
        Text::new(&self.arrays[n], self.constant[n])
    }

    /// Whether argument `n` is a constant (one row standing for every row).
    pub fn is_constant(&self, n: usize) -> bool {
        self.constant[n]
    }

    /// Argument `n` when it is a constant: its value (None for NULL), or None when it varies.
    pub fn constant_text(&self, n: usize) -> Result<Option<Option<&str>>> {
        if !self.constant[n] {
            return Ok(None);
        }
        Ok(Some(self.text(n)?.get(0)))
    }
}

/// A text argument, read row by row whatever its Arrow string type.
pub(crate) struct Text<'a> {
    kind: TextKind<'a>,
    constant: bool,
}

enum TextKind<'a> {
    Utf8(&'a StringArray),
    Large(&'a LargeStringArray),
    View(&'a StringViewArray),
}

impl<'a> Text<'a> {
    fn new(array: &'a ArrayRef, constant: bool) -> Result<Text<'a>> {
        let kind = match array.data_type() {
            DataType::Utf8 => TextKind::Utf8(array.as_string::<i32>()),
            DataType::LargeUtf8 => TextKind::Large(array.as_string::<i64>()),
            DataType::Utf8View => TextKind::View(array.as_string_view()),
            other => return exec_err!("expected text, got {other}"),
        };
        Ok(Text { kind, constant })
    }

    /// Calls `f` with every row's value in order (None for NULL), the array's type matched once.
    pub fn for_each(&self, mut f: impl FnMut(Option<&'a str>)) {
        match &self.kind {
            TextKind::Utf8(a) => a.iter().for_each(&mut f),
            TextKind::Large(a) => a.iter().for_each(&mut f),
            TextKind::View(a) => a.iter().for_each(&mut f),
        }
    }

    /// Row `row`'s value, None for NULL.
    #[inline]
    pub fn get(&self, row: usize) -> Option<&'a str> {
        let i = if self.constant { 0 } else { row };
        match &self.kind {
            TextKind::Utf8(a) => a.is_valid(i).then(|| a.value(i)),
            TextKind::Large(a) => a.is_valid(i).then(|| a.value(i)),
            TextKind::View(a) => a.is_valid(i).then(|| a.value(i)),
        }
    }
}

type Returns = fn(&[DataType], &[Option<&ScalarValue>]) -> Result<DataType>;
type Coerce = fn(&str, &[DataType]) -> Result<Vec<DataType>>;
type Body = fn(&Args, &DataType) -> Result<ArrayRef>;

/// One scalar function: its name, argument coercion, result type and body.
#[derive(Debug)]
pub(crate) struct Scalar {
    name: &'static str,
    /// The name it is registered under: `name`, or `try_name` for the NULL-on-error form.
    registered: String,
    /// Whether a row that fails gives NULL instead of failing the query (inside `try`).
    lenient: bool,
    aliases: Vec<String>,
    signature: Signature,
    coerce: Coerce,
    returns: Returns,
    body: Body,
}

impl Scalar {
    pub fn new(name: &'static str, coerce: Coerce, returns: Returns, body: Body) -> Scalar {
        Scalar {
            name,
            registered: name.to_string(),
            lenient: false,
            aliases: Vec::new(),
            signature: Signature::user_defined(Volatility::Immutable),
            coerce,
            returns,
            body,
        }
    }

    pub fn alias(mut self, alias: &str) -> Scalar {
        self.aliases.push(alias.to_string());
        self
    }

    /// The NULL-on-error form, `try_name` (aliases are not carried over).
    fn lenient(mut self) -> Scalar {
        self.registered = format!("{}{}", super::rewrite::TRY_PREFIX, self.name);
        self.lenient = true;
        self.aliases.clear();
        self
    }

    /// Runs the body over the batch; in the lenient form, a batch that fails is run again row by
    /// row and the failing rows give NULL.
    fn run(&self, args: Args, returns: &DataType) -> Result<ArrayRef> {
        match (self.body)(&args, returns) {
            Ok(result) => Ok(result),
            Err(_) if self.lenient => {
                let mut rows = Vec::with_capacity(args.rows);
                for row in 0..args.rows {
                    let one =
                        Args {
                            arrays: (0..args.len())
                                .map(|n| {
                                    if args.constant[n] { args.arrays[n].clone() } else { args.arrays[n].slice(row, 1) }
                                })
                                .collect(),
                            constant: args.constant.clone(),
                            rows: 1,
                        };
                    let result = (self.body)(&one, returns).and_then(|r| cast_to(&r, returns));
                    rows.push(result.unwrap_or_else(|_| arrow::array::new_null_array(returns, 1)));
                }
                let refs: Vec<&dyn Array> = rows.iter().map(|r| r.as_ref()).collect();
                Ok(arrow::compute::concat(&refs)?)
            }
            Err(e) => Err(e),
        }
    }
}

impl PartialEq for Scalar {
    fn eq(&self, other: &Self) -> bool {
        self.registered == other.registered
    }
}

impl Eq for Scalar {}

impl Hash for Scalar {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.registered.hash(state)
    }
}

impl ScalarUDFImpl for Scalar {
    fn name(&self) -> &str {
        &self.registered
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        (self.coerce)(self.name, arg_types)
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        (self.returns)(arg_types, &vec![None; arg_types.len()])
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let types: Vec<DataType> = args.arg_fields.iter().map(|f| f.data_type().clone()).collect();
        let returns = (self.returns)(&types, args.scalar_arguments)?;
        Ok(Arc::new(Field::new(self.name, returns, true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let all_constant = args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let rows = if all_constant { 1 } else { args.number_rows };
        let mut arrays = Vec::with_capacity(args.args.len());
        let mut constant = Vec::with_capacity(args.args.len());
        for value in &args.args {
            match value {
                ColumnarValue::Array(array) => {
                    arrays.push(array.clone());
                    constant.push(false);
                }
                ColumnarValue::Scalar(scalar) => {
                    arrays.push(scalar.to_array_of_size(1)?);
                    constant.push(true);
                }
            }
        }
        let result = self.run(Args { arrays, constant, rows }, args.return_field.data_type())?;
        if result.len() != rows {
            return exec_err!("{} produced {} rows for {rows}", self.name, result.len());
        }
        let result = if result.data_type() == args.return_field.data_type() {
            result
        } else {
            cast(&result, args.return_field.data_type())?
        };
        if all_constant {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&result, 0)?))
        } else {
            Ok(ColumnarValue::Array(result))
        }
    }
}

// Coercion helpers: each checks the argument count and kinds and names the function in errors.

/// Whether `t` is text, or coerces to it as DataFusion's string functions coerce: NULL, binary
/// (read as UTF-8) and dictionaries of those.
pub(crate) fn is_text(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Null
            | DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
    ) || matches!(t, DataType::Dictionary(_, v) if is_text(v))
}

/// Text stays in its string type (a view array is read as is); the rest becomes Utf8.
pub(crate) fn text_type(t: &DataType) -> DataType {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => t.clone(),
        _ => DataType::Utf8,
    }
}

/// Checks that `name` got between `min` and `max` arguments.
pub(crate) fn arity(name: &str, types: &[DataType], min: usize, max: usize) -> Result<()> {
    if types.len() < min || types.len() > max {
        let expected = if min == max { format!("{min}") } else { format!("{min} to {max}") };
        return plan_err!("{name} takes {expected} arguments, got {}", types.len());
    }
    Ok(())
}

/// Coerces every argument to text.
pub(crate) fn all_text(name: &str, types: &[DataType], min: usize, max: usize) -> Result<Vec<DataType>> {
    arity(name, types, min, max)?;
    types
        .iter()
        .enumerate()
        .map(|(i, t)| {
            if is_text(t) { Ok(text_type(t)) } else { plan_err!("{name}: argument {} must be varchar, got {t}", i + 1) }
        })
        .collect()
}

/// Whether `t` is an integer type.
pub(crate) fn is_integer(t: &DataType) -> bool {
    t.is_integer() || *t == DataType::Null
}

/// A result type that does not depend on the arguments.
macro_rules! returns {
    ($t:expr) => {
        |_: &[arrow::datatypes::DataType],
         _: &[Option<&datafusion::common::ScalarValue>]|
         -> datafusion::common::Result<arrow::datatypes::DataType> { Ok($t) }
    };
}
pub(crate) use returns;

/// Casts `array` to `to` when it is not already of that type.
pub(crate) fn cast_to(array: &ArrayRef, to: &DataType) -> Result<ArrayRef> {
    if array.data_type() == to { Ok(array.clone()) } else { Ok(cast(array, to)?) }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Runs SQL through a session with the Athena functions, for the unit tests of this module.

    use arrow::util::display::{ArrayFormatter, FormatOptions};
    use datafusion::execution::context::SQLOptions;
    use datafusion::prelude::SessionContext;

    /// The session every function test runs in: UTC, Athena's SQL installed.
    pub fn session() -> SessionContext {
        let state = datafusion::execution::session_state::SessionStateBuilder::new()
            .with_expr_planners(crate::engine::athena::expr_planners())
            .with_default_features()
            .build();
        let ctx = SessionContext::new_with_state(state);
        crate::engine::athena::install(&ctx);
        ctx
    }

    async fn run(ctx: &SessionContext, sql: &str) -> datafusion::error::Result<datafusion::dataframe::DataFrame> {
        crate::engine::athena::sql(ctx, sql, SQLOptions::new()).await
    }

    /// The single value `sql` returns, as display text ("NULL" for null).
    pub async fn value(sql: &str) -> String {
        match try_value(sql).await {
            Ok(v) => v,
            Err(e) => panic!("{sql}: {e}"),
        }
    }

    /// The single value, or the error's text.
    pub async fn try_value(sql: &str) -> Result<String, String> {
        let ctx = session();
        let frame = run(&ctx, sql).await.map_err(|e| e.to_string())?;
        let batches = frame.collect().await.map_err(|e| e.to_string())?;
        let batch = batches.iter().find(|b| b.num_rows() > 0).ok_or_else(|| "no rows".to_string())?;
        let options = FormatOptions::default().with_null("NULL");
        let formatter = ArrayFormatter::try_new(batch.column(0).as_ref(), &options).map_err(|e| e.to_string())?;
        Ok(formatter.value(0).to_string())
    }

    /// The type of the single value `sql` returns.
    pub async fn type_of(sql: &str) -> String {
        let ctx = session();
        let frame = run(&ctx, sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        frame.schema().field(0).data_type().to_string()
    }
}
