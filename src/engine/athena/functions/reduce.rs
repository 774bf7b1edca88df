//! Trino's `reduce(array, initialState, (s, x) -> s', s -> r)`: folds each row's array into a
//! state with the first lambda, element by element, then maps the state with the second.
//!
//! The fold runs a step per element position over every row still that long, so a lambda
//! is evaluated once per position (vectorised across rows), not once per element.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, UInt32Array};
use arrow::compute::{cast, interleave, take, take_arrays};
use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, HigherOrderFunctionArgs, HigherOrderReturnFieldArgs, HigherOrderSignature, HigherOrderUDF,
    HigherOrderUDFImpl, LambdaParametersProgress, ValueOrLambda, Volatility,
};

/// The `reduce` function.
pub(super) fn reduce() -> Arc<HigherOrderUDF> {
    Arc::new(HigherOrderUDF::new_from_impl(Reduce::default()))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Reduce {
    signature: HigherOrderSignature,
}

impl Default for Reduce {
    fn default() -> Self {
        use ValueOrLambda::{Lambda, Value};
        Reduce {
            signature: HigherOrderSignature::exact(
                vec![Value(()), Value(()), Lambda(()), Lambda(())],
                Volatility::Immutable,
            ),
        }
    }
}

impl HigherOrderUDFImpl for Reduce {
    fn name(&self) -> &str {
        "reduce"
    }

    fn signature(&self) -> &HigherOrderSignature {
        &self.signature
    }

    fn coerce_value_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let [list, state] = arg_types else {
            return plan_err!("reduce takes (array, initial state, (s, x) -> s, s -> r)");
        };
        let list = match list {
            DataType::List(_) | DataType::LargeList(_) => list.clone(),
            DataType::FixedSizeList(f, _) => DataType::List(f.clone()),
            other => return plan_err!("reduce takes an array first, got {other}"),
        };
        Ok(vec![list, state.clone()])
    }

    fn lambda_parameters(
        &self,
        _step: usize,
        fields: &[ValueOrLambda<FieldRef, Option<FieldRef>>],
    ) -> Result<LambdaParametersProgress> {
        let [
            ValueOrLambda::Value(list),
            ValueOrLambda::Value(state),
            ValueOrLambda::Lambda(_),
            ValueOrLambda::Lambda(_),
        ] = fields
        else {
            return plan_err!("reduce takes (array, initial state, (s, x) -> s, s -> r)");
        };
        let element = match list.data_type() {
            DataType::List(f) | DataType::LargeList(f) => f.clone(),
            other => return plan_err!("reduce takes an array first, got {other}"),
        };
        let state = Arc::new(Field::new("s", state.data_type().clone(), true));
        Ok(LambdaParametersProgress::Complete(vec![vec![state.clone(), element], vec![state]]))
    }

    fn return_field_from_args(&self, args: HigherOrderReturnFieldArgs) -> Result<Arc<Field>> {
        match args.arg_fields {
            [_, _, _, ValueOrLambda::Lambda(output)] => Ok(Arc::new(Field::new("", output.data_type().clone(), true))),
            _ => plan_err!("reduce takes (array, initial state, (s, x) -> s, s -> r)"),
        }
    }

    fn invoke_with_args(&self, args: HigherOrderFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let [
            ValueOrLambda::Value(list),
            ValueOrLambda::Value(initial),
            ValueOrLambda::Lambda(step),
            ValueOrLambda::Lambda(output),
        ] = args.args.as_slice()
        else {
            return exec_err!("reduce takes (array, initial state, (s, x) -> s, s -> r)");
        };
        let list = list.to_array(rows)?;
        let list = cast(&list, &DataType::List(element_field(&list)?))?;
        let list = list.as_list::<i32>();
        let mut state = initial.to_array(rows)?;
        let state_type = state.data_type().clone();
        let offsets = list.value_offsets();
        let length = |row: usize| if list.is_null(row) { 0 } else { (offsets[row + 1] - offsets[row]) as usize };
        let longest = (0..rows).map(length).max().unwrap_or(0);
        for position in 0..longest {
            // The rows whose arrays reach this position, and their elements there.
            let live: Vec<u32> = (0..rows).filter(|&r| length(r) > position).map(|r| r as u32).collect();
            let live = UInt32Array::from(live);
            let at: UInt32Array = live.values().iter().map(|&r| offsets[r as usize] as u32 + position as u32).collect();
            let elements = take(list.values().as_ref(), &at, None)?;
            let states = take(state.as_ref(), &live, None)?;
            let stepped = step
                .evaluate(&[&|| Ok(states.clone()), &|| Ok(elements.clone())], |captures| {
                    Ok(take_arrays(captures, &live, None)?)
                })?
                .into_array(live.len())?;
            let stepped = cast(&stepped, &state_type)?;
            // Every row keeps its state unless it was live, which takes the new one.
            let mut picks: Vec<(usize, usize)> = (0..rows).map(|r| (0, r)).collect();
            for (i, &r) in live.values().iter().enumerate() {
                picks[r as usize] = (1, i);
            }
            state = interleave(&[state.as_ref(), stepped.as_ref()], &picks)?;
        }
        let result = output.evaluate(&[&|| Ok(state.clone())], |captures| Ok(captures.to_vec()))?.into_array(rows)?;
        // A NULL array reduces to NULL.
        let keep = arrow::array::BooleanArray::from((0..rows).map(|r| Some(!list.is_null(r))).collect::<Vec<_>>());
        Ok(ColumnarValue::Array(arrow::compute::nullif(&result, &arrow::compute::not(&keep)?)?))
    }
}

fn element_field(list: &ArrayRef) -> Result<FieldRef> {
    match list.data_type() {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => Ok(f.clone()),
        other => exec_err!("reduce takes an array first, got {other}"),
    }
}
