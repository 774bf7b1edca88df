//! The log functions every glaux session has: `fingerprint_mysql(sql)`,
//! `fingerprint_postgres(sql)` and `query_id(fingerprint)` (see [`super::fingerprint`]).

use std::sync::Arc;

use arrow::array::{ArrayRef, StringBuilder};
use arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::ScalarUDF;

use crate::engine::athena::functions::{Args, Scalar, all_text, returns};

use super::fingerprint;

/// The functions, for [`crate::engine::Engine::with_function`].
pub fn all() -> Vec<ScalarUDF> {
    [
        Scalar::new("fingerprint_mysql", one_text, returns!(DataType::Utf8), |a, _| map(a, fingerprint::mysql)),
        Scalar::new("fingerprint_postgres", one_text, returns!(DataType::Utf8), |a, _| map(a, fingerprint::postgres)),
        Scalar::new("query_id", one_text, returns!(DataType::Utf8), |a, _| map(a, fingerprint::query_id)),
    ]
    .into_iter()
    .map(ScalarUDF::new_from_impl)
    .collect()
}

fn one_text(name: &str, t: &[DataType]) -> Result<Vec<DataType>> {
    all_text(name, t, 1, 1)
}

/// `f` of every row; NULL stays NULL. A statement repeated on the next row (a log replayed, a
/// polling query) is computed once.
fn map(args: &Args, f: fn(&str) -> String) -> Result<ArrayRef> {
    let text = args.text(0)?;
    let mut out = StringBuilder::with_capacity(args.rows, args.rows * 32);
    let mut last: Option<(&str, String)> = None;
    text.for_each(|value| match value {
        Some(s) => {
            if last.as_ref().is_none_or(|(input, _)| *input != s) {
                last = Some((s, f(s)));
            }
            out.append_value(&last.as_ref().expect("just set").1);
        }
        None => out.append_null(),
    });
    Ok(Arc::new(out.finish()))
}
