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

/// (function, statement) → result, and the bytes they hold.
#[derive(Default)]
struct Remembered {
    results: HashMap<(usize, Box<str>), Box<str>>,
    bytes: usize,
}

/// `f` of every row; NULL stays NULL.
fn map(args: &Args, f: fn(&str) -> String) -> Result<ArrayRef> {
    let text = args.text(0)?;
    let mut out = StringBuilder::with_capacity(args.rows, args.rows * 32);
    let function = f as usize;
    REMEMBERED_RESULTS.with_borrow_mut(|remembered| {
        text.for_each(|value| match value {
            Some(s) => {
                // Looked up by (function, text) without allocating a key.
                let found = remembered.results.get(&(function, s) as &dyn Key);
                match found {
                    Some(result) => out.append_value(result),
                    None => {
                        let result = f(s);
                        out.append_value(&result);
                        if s.len() <= REMEMBERED_LONGEST {
                            if remembered.results.len() >= REMEMBERED || remembered.bytes >= REMEMBERED_BYTES {
                                *remembered = Remembered::default();
                            }
                            remembered.bytes += s.len() + result.len();
                            remembered.results.insert((function, s.into()), result.into());
                        }
                    }
                }
            }
            None => out.append_null(),
        })
    });
    Ok(Arc::new(out.finish()))
}

/// A (function, text) key that both the stored keys and borrowed lookups can be seen as.
trait Key {
    fn key(&self) -> (usize, &str);
}

impl Key for (usize, Box<str>) {
    fn key(&self) -> (usize, &str) {
        (self.0, &self.1)
    }
}

impl Key for (usize, &str) {
    fn key(&self) -> (usize, &str) {
        (self.0, self.1)
    }
}

impl<'a> std::borrow::Borrow<dyn Key + 'a> for (usize, Box<str>) {
    fn borrow(&self) -> &(dyn Key + 'a) {
        self
    }
}

impl PartialEq for dyn Key + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for dyn Key + '_ {}

impl std::hash::Hash for dyn Key + '_ {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.key().hash(state)
    }
}
