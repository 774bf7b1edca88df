//! The log functions every glaux session has: `fingerprint_mysql(sql)`,
//! `fingerprint_postgres(sql)` and `query_id(fingerprint)` (see [`super::fingerprint`]).

use std::collections::HashMap;
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

/// Statements remembered per thread before the memory is cleared.
const REMEMBERED: usize = 1 << 16;
/// Bytes of statements and results remembered per thread before the memory is cleared.
const REMEMBERED_BYTES: usize = 32 << 20;
/// Statements longer than this are not remembered (long ones rarely repeat word for word).
const REMEMBERED_LONGEST: usize = 4 << 10;

thread_local! {
    /// The results of each function for the statements this thread saw last: logs repeat the
    /// same text over and over (prepared statements, `BEGIN`, `COMMIT`, health checks), and a
    /// fingerprint takes microseconds where a lookup takes tens of nanoseconds.
    static REMEMBERED_RESULTS: std::cell::RefCell<Remembered> = std::cell::RefCell::new(Remembered::default());
}

/// Per function (its address), statement → result, and the bytes they hold.
#[derive(Default)]
struct Remembered {
    results: HashMap<usize, HashMap<Box<str>, Box<str>>>,
    entries: usize,
    bytes: usize,
}

/// `f` of every row; NULL stays NULL.
fn map(args: &Args, f: fn(&str) -> String) -> Result<ArrayRef> {
    let text = args.text(0)?;
    let mut out = StringBuilder::with_capacity(args.rows, args.rows * 32);
    REMEMBERED_RESULTS.with_borrow_mut(|remembered| {
        if remembered.entries >= REMEMBERED || remembered.bytes >= REMEMBERED_BYTES {
            *remembered = Remembered::default();
        }
        let (entries, bytes) = (&mut remembered.entries, &mut remembered.bytes);
        let results = remembered.results.entry(f as usize).or_default();
        text.for_each(|value| match value {
            Some(s) => match results.get(s) {
                Some(result) => out.append_value(result),
                None => {
                    let result = f(s);
                    out.append_value(&result);
                    if s.len() <= REMEMBERED_LONGEST {
                        *entries += 1;
                        *bytes += s.len() + result.len();
                        results.insert(s.into(), result.into());
                    }
                }
            },
            None => out.append_null(),
        })
    });
    Ok(Arc::new(out.finish()))
}
