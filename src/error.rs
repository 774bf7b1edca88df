//! Errors at the edge: what kind of failure an error is, the exit code each kind maps to, and
//! the one line that reports it.
//!
//! Every library error type says its own [`Category`] by implementing [`Categorize`]; an error
//! that wraps another asks the wrapped one. Converting a categorized error into [`Error`] (with
//! `?`) keeps the category, and context added on the way up keeps it too, so the exit code is
//! decided where the error was made, not by a list of types at the top. This module imports
//! nothing of glaux: every layer may use it.

use std::fmt;

/// Exit status for success.
pub const EXIT_OK: u8 = 0;
/// Exit status for a query, data, I/O or conflict error.
pub const EXIT_FAILURE: u8 = 1;
/// Exit status for a usage or configuration error.
pub const EXIT_USAGE: u8 = 2;

/// What kind of failure an error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// How glaux was called or configured: a flag, `glaux.toml`, a registry or job definition, a
    /// name. The user fixes the call or the file.
    Usage,
    /// The data or the query: bad SQL, an unknown table, a corrupt file, a failed job.
    Data,
    /// Reading or writing failed: the filesystem, the object store, a remote API.
    Io,
    /// Another writer got there first; re-running builds on its result.
    Conflict,
}

impl Category {
    /// The process exit code for this category: 2 for usage, 1 for everything else.
    pub fn exit_code(self) -> u8 {
        match self {
            Category::Usage => EXIT_USAGE,
            Category::Data | Category::Io | Category::Conflict => EXIT_FAILURE,
        }
    }
}

/// An error type that knows its category.
pub trait Categorize: std::error::Error + Send + Sync + 'static {
    /// What kind of failure this is.
    fn category(&self) -> Category;
}

/// An error on its way to the edge: the failure with its context, and its category.
pub struct Error {
    category: Category,
    inner: anyhow::Error,
}

/// A result whose error is an [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of `category`.
    pub fn new(category: Category, error: impl Into<anyhow::Error>) -> Error {
        Error { category, inner: error.into() }
    }

    /// A data error with `message`.
    pub fn msg(message: impl fmt::Display + fmt::Debug + Send + Sync + 'static) -> Error {
        Error { category: Category::Data, inner: anyhow::Error::msg(message) }
    }

    /// The category.
    pub fn category(&self) -> Category {
        self.category
    }

    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        self.category.exit_code()
    }

    /// The error wrapped in `context` (which is printed first), same category.
    pub fn context(self, context: impl fmt::Display + Send + Sync + 'static) -> Error {
        Error { category: self.category, inner: self.inner.context(context) }
    }

    /// The error and its causes, outermost first.
    pub fn chain(&self) -> anyhow::Chain<'_> {
        self.inner.chain()
    }

    /// The error and its causes on one line, each cause once: many errors already quote their
    /// source in their own message, so a cause whose text is already present is not repeated.
    pub fn line(&self) -> String {
        let mut line = String::new();
        for cause in self.chain() {
            let text = one_line(&cause.to_string());
            if !line.contains(&text) {
                if !line.is_empty() {
                    line.push_str(": ");
                }
                line.push_str(&text);
            }
        }
        line
    }

    /// Whether the error is only a closed output pipe (`glaux sql ... | head`), which is not a
    /// failure.
    pub fn is_broken_pipe(&self) -> bool {
        self.chain().any(|cause| {
            cause.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
        })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.line())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} error: {:?}", self.category, self.inner)
    }
}

impl<E: Categorize> From<E> for Error {
    fn from(error: E) -> Error {
        Error { category: error.category(), inner: anyhow::Error::new(error) }
    }
}

impl From<anyhow::Error> for Error {
    /// An error without a category of its own is a data error (exit code 1).
    fn from(inner: anyhow::Error) -> Error {
        Error { category: Category::Data, inner }
    }
}

/// Context for results on their way to the edge, keeping the error's category.
pub trait Context<T> {
    /// Wraps the error in `context`.
    fn context(self, context: impl fmt::Display + Send + Sync + 'static) -> Result<T>;
    /// Wraps the error in the context `f` makes, only when there is an error.
    fn with_context<C: fmt::Display + Send + Sync + 'static>(self, f: impl FnOnce() -> C) -> Result<T>;
}

impl<T, E: Into<Error>> Context<T> for std::result::Result<T, E> {
    fn context(self, context: impl fmt::Display + Send + Sync + 'static) -> Result<T> {
        self.map_err(|e| e.into().context(context))
    }

    fn with_context<C: fmt::Display + Send + Sync + 'static>(self, f: impl FnOnce() -> C) -> Result<T> {
        self.map_err(|e| e.into().context(f()))
    }
}

/// A mistake in how glaux was called that no more specific error type describes (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

impl Categorize for UsageError {
    fn category(&self) -> Category {
        Category::Usage
    }
}

/// An error message on one line: DataFusion and others sometimes add lines of detail.
pub fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The longest message [`shorten_quoted`] lets through, in characters.
const MESSAGE_MAX: usize = 1000;

/// `message` with every backquoted value in it cut as [`excerpt`] cuts one (a parser's message
/// quoting a huge bad field name, say). A message still longer than [`MESSAGE_MAX`] (a value
/// quoted otherwise, or holding backquotes itself) has every run of more than 200 non-blank
/// characters cut, and is then cut whole if it must be.
pub fn shorten_quoted(message: &str) -> std::borrow::Cow<'_, str> {
    let quoted = shorten_backquoted(message);
    if quoted.chars().nth(MESSAGE_MAX).is_none() {
        return quoted;
    }
    let words: Vec<std::borrow::Cow<'_, str>> = quoted
        .split(' ')
        .map(|word| match word.chars().nth(200) {
            Some(_) => std::borrow::Cow::Owned(excerpt(word).into_owned()),
            None => std::borrow::Cow::Borrowed(word),
        })
        .collect();
    let words = words.join(" ");
    std::borrow::Cow::Owned(cut(&words, MESSAGE_MAX).into_owned())
}

/// [`shorten_quoted`]'s first step: every backquoted value cut as [`excerpt`] cuts one.
fn shorten_backquoted(message: &str) -> std::borrow::Cow<'_, str> {
    let pieces: Vec<&str> = message.split('`').collect();
    // Odd pieces are inside backquotes (when they are closed).
    let long =
        pieces.iter().enumerate().any(|(i, p)| i % 2 == 1 && i + 1 < pieces.len() && p.chars().nth(80).is_some());
    if !long {
        return std::borrow::Cow::Borrowed(message);
    }
    let cut: Vec<std::borrow::Cow<'_, str>> = pieces
        .iter()
        .enumerate()
        .map(|(i, p)| if i % 2 == 1 && i + 1 < pieces.len() { excerpt(p) } else { std::borrow::Cow::Borrowed(*p) })
        .collect();
    std::borrow::Cow::Owned(cut.join("`"))
}

/// A value quoted in a message, cut to its first 80 characters (with the full length said) so
/// that a huge bad value still gives a readable one-line error.
pub fn excerpt(value: &str) -> std::borrow::Cow<'_, str> {
    cut(value, 80)
}

/// `text` cut to its first `max` characters, with its full length said.
pub fn cut(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => std::borrow::Cow::Borrowed(text),
        Some((end, _)) => std::borrow::Cow::Owned(format!("{}… ({} characters)", &text[..end], text.chars().count())),
    }
}

// Errors of the libraries glaux builds on, by what they mean when they reach the edge.

impl Categorize for std::io::Error {
    fn category(&self) -> Category {
        Category::Io
    }
}

impl Categorize for object_store::Error {
    fn category(&self) -> Category {
        Category::Io
    }
}

impl Categorize for serde_json::Error {
    fn category(&self) -> Category {
        Category::Data
    }
}

impl Categorize for datafusion::error::DataFusionError {
    fn category(&self) -> Category {
        Category::Data
    }
}

impl Categorize for arrow::error::ArrowError {
    fn category(&self) -> Category {
        Category::Data
    }
}

impl Categorize for parquet::errors::ParquetError {
    fn category(&self) -> Category {
        Category::Data
    }
}

impl Categorize for tokio::task::JoinError {
    fn category(&self) -> Category {
        Category::Data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_quoted_values_are_cut() {
        let long = "x".repeat(500);
        let message = format!("unknown field `{long}`, expected `Name`");
        let short = shorten_quoted(&message);
        assert!(
            short.len() < 150 && short.contains("(500 characters)") && short.ends_with("expected `Name`"),
            "{short}"
        );
        assert_eq!(shorten_quoted("plain `a` and `b`"), "plain `a` and `b`");
        // A value holding backquotes, or quoted in double quotes, is cut too.
        let odd = format!("unknown field `Descri{}`{}`, expected `Name`", "(".repeat(3000), "(".repeat(1000));
        let short = shorten_quoted(&odd);
        assert!(short.chars().count() <= 1000 && short.ends_with("expected `Name`"), "{short}");
        let string = format!("invalid type: string \"{}\", expected a map", "x".repeat(5000));
        let short = shorten_quoted(&string);
        assert!(
            short.len() < 200 && short.contains("(5003 characters)") && short.ends_with("expected a map"),
            "{short}"
        );
        let words = "ab ".repeat(2000);
        assert!(shorten_quoted(&words).chars().count() < 1030);
    }

    #[derive(Debug, thiserror::Error)]
    #[error("bad flag")]
    struct Flag;

    impl Categorize for Flag {
        fn category(&self) -> Category {
            Category::Usage
        }
    }

    fn fails() -> Result<()> {
        Err(Flag)?
    }

    #[test]
    fn a_category_survives_context_and_sets_the_exit_code() {
        let error = fails().context("reading glaux.toml").unwrap_err();
        assert_eq!(error.category(), Category::Usage);
        assert_eq!(error.exit_code(), EXIT_USAGE);
        assert_eq!(error.line(), "reading glaux.toml: bad flag");
        let io: Error = std::io::Error::new(std::io::ErrorKind::BrokenPipe, "closed").into();
        assert!(io.is_broken_pipe());
        assert_eq!(io.exit_code(), EXIT_FAILURE);
    }

    #[test]
    fn a_cause_already_quoted_is_not_repeated() {
        let inner = std::io::Error::other("disk full");
        let error = Error::new(Category::Io, anyhow::Error::new(inner).context("writing x: disk full"));
        assert_eq!(error.line(), "writing x: disk full");
    }
}
