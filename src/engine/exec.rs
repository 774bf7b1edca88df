//! The one execution path: parse, plan, run and print SQL.
//!
//! REPL lines, `-c`, `-f`, standard input and jobs all go through [`exec_and_print`], so a
//! statement behaves the same wherever it comes from. Table output is collected and drawn once;
//! CSV, JSON and NDJSON stream batch by batch, so a large result never sits in memory.

use std::io::Write;
use std::time::{Duration, Instant};

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, RecordBatchOptions, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use arrow::util::pretty::{pretty_format_batches_with_options, pretty_format_batches_with_schema};
use datafusion::error::DataFusionError;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement;
use futures::StreamExt;

use crate::error::{Categorize, Category};

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    /// An aligned table for people.
    #[default]
    Table,
    /// CSV with a header row.
    Csv,
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    Ndjson,
}

impl std::str::FromStr for OutputFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        <OutputFormat as clap::ValueEnum>::from_str(s, true)
            .map_err(|_| format!("unknown format `{s}`; use table, csv, json or ndjson"))
    }
}

/// Printing choices.
#[derive(Debug, Clone, Copy, Default)]
pub struct PrintOptions {
    /// Result format.
    pub format: OutputFormat,
    /// Print elapsed time after each statement.
    pub timing: bool,
    /// Show a progress line on standard error while a query runs over a second (a terminal
    /// only: the REPL sets it).
    pub progress: bool,
}

/// A statement that failed, or output that could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// DataFusion rejected or failed the query.
    #[error("{0}")]
    Query(#[from] DataFusionError),
    /// Formatting the result failed.
    #[error("cannot format the result: {0}")]
    Format(#[from] arrow::error::ArrowError),
    /// Writing the result failed (a closed pipe among others).
    #[error("cannot write the result: {0}")]
    Output(#[from] std::io::Error),
    /// Code below glaux panicked (for example a reader on a corrupt file); the statement fails,
    /// the session carries on.
    #[error("internal error while running `{statement}`: {message}; an input it reads may be corrupt")]
    Panicked {
        /// the statement, abbreviated
        statement: String,
        /// the panic's message
        message: String,
    },
}

impl Categorize for ExecError {
    fn category(&self) -> Category {
        match self {
            ExecError::Output(_) => Category::Io,
            ExecError::Query(_) | ExecError::Format(_) | ExecError::Panicked { .. } => Category::Data,
        }
    }
}

/// Statements a layer above the engine runs itself (the registry's DDL and DML), tried before
/// DataFusion plans a statement.
#[async_trait::async_trait]
pub trait StatementHandler: Send + Sync {
    /// Runs `statement` and returns its result if it is one this handler owns; `None` leaves it
    /// to DataFusion.
    async fn run(&self, ctx: &SessionContext, statement: &Statement) -> Result<Option<RecordBatch>, DataFusionError>;
}

/// No statements of its own: everything goes to DataFusion.
#[derive(Debug, Clone, Copy, Default)]
pub struct DataFusionOnly;

#[async_trait::async_trait]
impl StatementHandler for DataFusionOnly {
    async fn run(&self, _ctx: &SessionContext, _statement: &Statement) -> Result<Option<RecordBatch>, DataFusionError> {
        Ok(None)
    }
}

/// What one call ran.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExecSummary {
    /// Statements run.
    pub statements: usize,
    /// Rows printed by the last statement.
    pub rows: usize,
}

/// Runs every statement in `sql` in order, printing each result to `out`. Stops at the first
/// failing statement. `handler` runs the statements it owns; DataFusion plans the rest.
pub async fn exec_and_print(
    ctx: &SessionContext,
    sql: &str,
    options: PrintOptions,
    handler: &dyn StatementHandler,
    out: &mut dyn Write,
) -> Result<ExecSummary, ExecError> {
    let recursion_limit = ctx.state().config().options().sql_parser.recursion_limit.get();
    let statements = super::athena::parse(sql, recursion_limit)?;
    let mut summary = ExecSummary::default();
    for statement in statements {
        let started = Instant::now();
        let text = abbreviate(&statement.to_string());
        let run = async {
            if let Some(batch) = handler.run(ctx, &statement).await? {
                let schema = batch.schema();
                let stream = RecordBatchStreamAdapter::new(schema.clone(), futures::stream::iter([Ok(batch)]));
                return print_stream(Box::pin(stream), schema, options.format, &mut *out).await;
            }
            let plan = ctx.state().statement_to_plan(statement).await?;
            let frame = ctx.execute_logical_plan(plan).await?;
            let schema: SchemaRef = frame.schema().inner().clone();
            let task = frame.task_ctx();
            let plan = frame.create_physical_plan().await?;
            let _progress = options.progress.then(|| super::progress::ProgressLine::start(plan.clone()));
            let stream = datafusion::physical_plan::execute_stream(plan, Arc::new(task))?;
            print_stream(stream, schema, options.format, &mut *out).await
        };
        summary.rows =
            crate::panics::contain(run).await.map_err(|message| ExecError::Panicked { statement: text, message })??;
        summary.statements += 1;
        if options.timing {
            writeln!(out, "Time: {}", format_elapsed(started.elapsed()))?;
        }
    }
    out.flush()?;
    Ok(summary)
}

/// Prints one batch built by glaux itself (listings, summaries) in the chosen format.
pub async fn print_batch(batch: RecordBatch, format: OutputFormat, out: &mut dyn Write) -> Result<usize, ExecError> {
    let schema = batch.schema();
    let stream = RecordBatchStreamAdapter::new(schema.clone(), futures::stream::iter([Ok(batch)]));
    let rows = print_stream(Box::pin(stream), schema, format, out).await?;
    out.flush()?;
    Ok(rows)
}

async fn print_stream(
    mut stream: datafusion::physical_plan::SendableRecordBatchStream,
    schema: SchemaRef,
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<usize, ExecError> {
    let mut rows = 0;
    if schema.fields().is_empty() {
        // A statement with no result (CREATE, DROP): nothing to print in any format.
        while let Some(batch) = stream.next().await {
            batch?;
        }
        return Ok(0);
    }
    match format {
        OutputFormat::Table => {
            let mut batches = Vec::new();
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                rows += batch.num_rows();
                batches.push(batch);
            }
            print_table(&schema, &batches, rows, out)?;
        }
        OutputFormat::Csv => {
            let mut writer = arrow::csv::WriterBuilder::new().with_header(true).build(&mut *out);
            let mut wrote_any = false;
            while let Some(batch) = stream.next().await {
                let batch = nested_as_text(&batch?)?;
                rows += batch.num_rows();
                writer.write(&batch)?;
                wrote_any = true;
            }
            if !wrote_any {
                writer.write(&nested_as_text(&RecordBatch::new_empty(schema))?)?;
            }
        }
        OutputFormat::Json => {
            let builder = arrow::json::WriterBuilder::new().with_explicit_nulls(true);
            let mut writer = builder.build::<_, arrow::json::writer::JsonArray>(&mut *out);
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                rows += batch.num_rows();
                writer.write(&batch)?;
            }
            writer.finish()?;
            drop(writer);
            writeln!(out)?;
        }
        OutputFormat::Ndjson => {
            let builder = arrow::json::WriterBuilder::new().with_explicit_nulls(true);
            let mut writer = builder.build::<_, arrow::json::writer::LineDelimited>(&mut *out);
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                rows += batch.num_rows();
                writer.write(&batch)?;
            }
            writer.finish()?;
        }
    }
    Ok(rows)
}

/// `batches` as JSON objects, one per row, written as `--format json` writes them (NULLs as
/// null), for code that reads a result by column name.
pub fn json_rows(batches: &[RecordBatch]) -> Result<Vec<serde_json::Value>, ExecError> {
    let builder = arrow::json::WriterBuilder::new().with_explicit_nulls(true);
    let mut writer = builder.build::<_, arrow::json::writer::JsonArray>(Vec::new());
    for batch in batches {
        writer.write(batch)?;
    }
    writer.finish()?;
    let bytes = writer.into_inner();
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&bytes)
        .map_err(|e| ExecError::Format(arrow::error::ArrowError::JsonError(e.to_string())))?;
    Ok(rows)
}

/// CSV has no nested values: lists, maps and structs are written as their display text
/// (`[1, 2, 3]`, `{k1: 0.5}`), as DuckDB does.
fn nested_as_text(batch: &RecordBatch) -> Result<RecordBatch, ExecError> {
    if !batch.schema().fields().iter().any(|f| f.data_type().is_nested()) {
        return Ok(batch.clone());
    }
    let options = FormatOptions::default();
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if field.data_type().is_nested() {
            let formatter = ArrayFormatter::try_new(column.as_ref(), &options)?;
            let text: StringArray =
                (0..column.len()).map(|i| column.is_valid(i).then(|| formatter.value(i).to_string())).collect();
            fields.push(Field::new(field.name(), DataType::Utf8, true));
            columns.push(Arc::new(text));
        } else {
            fields.push(field.as_ref().clone());
            columns.push(column.clone());
        }
    }
    let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    Ok(RecordBatch::try_new_with_options(Arc::new(Schema::new(fields)), columns, &options)?)
}

fn print_table(schema: &SchemaRef, batches: &[RecordBatch], rows: usize, out: &mut dyn Write) -> Result<(), ExecError> {
    if schema.fields().is_empty() {
        return Ok(());
    }
    if rows == 0 {
        writeln!(out, "{}", pretty_format_batches_with_schema(schema.clone(), &[])?)?;
    } else {
        let options = FormatOptions::default().with_display_error(true).with_null("NULL");
        writeln!(out, "{}", pretty_format_batches_with_options(batches, &options)?)?;
    }
    writeln!(out, "({rows} row{})", if rows == 1 { "" } else { "s" })?;
    Ok(())
}

/// A statement shortened for an error message.
fn abbreviate(statement: &str) -> String {
    let one_line = crate::error::one_line(statement);
    match one_line.char_indices().nth(120) {
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
        None => one_line,
    }
}

/// `0.012s`, `1.234s`, `2m 03.4s`.
pub fn format_elapsed(elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    if secs < 60.0 { format!("{secs:.3}s") } else { format!("{}m {:04.1}s", (secs / 60.0) as u64, secs % 60.0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn run(sql: &str, format: OutputFormat) -> String {
        let ctx = SessionContext::new();
        let mut out = Vec::new();
        exec_and_print(&ctx, sql, PrintOptions { format, timing: false, progress: false }, &DataFusionOnly, &mut out)
            .await
            .unwrap();
        String::from_utf8(out).unwrap()
    }

    #[tokio::test]
    async fn every_format_prints_rows_and_nulls() {
        let sql = "SELECT 1 AS a, NULL AS b UNION ALL SELECT 2, 'x' ORDER BY a";
        assert!(run(sql, OutputFormat::Table).await.contains("| 1 | NULL |"));
        assert_eq!(run(sql, OutputFormat::Csv).await, "a,b\n1,\n2,x\n");
        assert_eq!(run(sql, OutputFormat::Json).await, "[{\"a\":1,\"b\":null},{\"a\":2,\"b\":\"x\"}]\n");
        assert_eq!(run(sql, OutputFormat::Ndjson).await, "{\"a\":1,\"b\":null}\n{\"a\":2,\"b\":\"x\"}\n");
    }

    #[tokio::test]
    async fn csv_writes_nested_values_as_text() {
        let sql = "SELECT make_array(1, 2) AS l, named_struct('a', 1) AS s, 3 AS n";
        assert_eq!(run(sql, OutputFormat::Csv).await, "l,s,n\n\"[1, 2]\",{a: 1},3\n");
    }

    #[tokio::test]
    async fn empty_results_keep_their_shape() {
        let sql = "SELECT 1 AS a WHERE false";
        assert!(run(sql, OutputFormat::Table).await.contains("(0 rows)"));
        assert_eq!(run(sql, OutputFormat::Csv).await, "a\n");
        assert_eq!(run(sql, OutputFormat::Json).await, "[]\n");
        assert_eq!(run(sql, OutputFormat::Ndjson).await, "");
    }

    #[tokio::test]
    async fn statements_run_in_order_and_stop_at_an_error() {
        let ctx = SessionContext::new();
        let mut out = Vec::new();
        let options = PrintOptions { format: OutputFormat::Csv, timing: false, progress: false };
        let err = exec_and_print(&ctx, "SELECT 1 AS a; SELECT nope; SELECT 3 AS c", options, &DataFusionOnly, &mut out)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
        assert_eq!(String::from_utf8(out).unwrap(), "a\n1\n");
    }
}
