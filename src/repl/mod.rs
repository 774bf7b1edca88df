//! The interactive SQL shell.
//!
//! A rustyline editor reads statements (multi-line until `;`) and meta commands; statements go
//! through the same [`exec_and_print`] as every other SQL in glaux. The session survives its
//! mistakes: an error prints and the prompt returns, and Ctrl-C while a query runs cancels that
//! query (its future is dropped, which stops DataFusion's tasks) rather than the shell. History
//! is kept in the user's data directory (`$XDG_DATA_HOME/glaux/history` on Linux) and written
//! after every entry, so it survives a killed session.

pub mod command;
pub mod helper;

use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{BooleanArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::prelude::SessionContext;
use rustyline::Editor;
use rustyline::config::{CompletionType, Config};
use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;

use crate::engine::exec::{PrintOptions, StatementHandler, exec_and_print, print_batch};
use crate::error::{Categorize, Category, Error, Result};
use crate::project::Project;
use command::{MetaCommand, help_text};
use helper::ReplHelper;

/// The prompt.
const PROMPT: &str = "glaux> ";

impl Categorize for ReadlineError {
    fn category(&self) -> Category {
        Category::Io
    }
}

/// Runs the shell until `\q` or Ctrl-D.
pub async fn interact(
    ctx: &SessionContext,
    project: &Project,
    statements: &dyn StatementHandler,
    mut options: PrintOptions,
) -> Result<()> {
    options.progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let config = Config::builder()
        .auto_add_history(false)
        .history_ignore_space(true)
        .max_history_size(10_000)?
        .completion_type(CompletionType::List)
        .build();
    // Install glaux's SIGINT handler now: tokio installs it on first use, and a Ctrl-C that
    // arrived between Enter and the first query's wait would otherwise kill the shell.
    let _sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let mut editor: Editor<ReplHelper, FileHistory> = Editor::with_config(config)?;
    editor.set_helper(Some(ReplHelper::new(&project.catalog.registry)));
    let history = history_path();
    if let Some(path) = history.as_ref().filter(|p| p.exists())
        && let Err(e) = editor.load_history(path)
    {
        tracing::warn!(path = %path.display(), error = %e, "could not load the REPL history");
    }
    eprintln!(
        "glaux {}: SQL over {}. \\? for help, \\q to quit.",
        env!("CARGO_PKG_VERSION"),
        project.catalog.warehouse.url()
    );
    loop {
        let line = match editor.readline(PROMPT) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e.into()),
        };
        let input = line.trim();
        if input.is_empty() {
            continue;
        }
        editor.add_history_entry(input)?;
        if let Some(path) = &history
            && let Err(e) = editor.append_history(path)
        {
            tracing::warn!(path = %path.display(), error = %e, "could not save the REPL history");
        }
        if !input.starts_with('\\') {
            execute_cancellable(ctx, input, options, statements).await;
            continue;
        }
        match input.parse::<MetaCommand>() {
            Ok(MetaCommand::Quit) => break,
            Ok(command) => {
                if let Err(e) = execute_meta(ctx, project, statements, command, &mut options).await {
                    eprintln!("glaux: {}", e.line());
                }
            }
            Err(message) => eprintln!("glaux: {message}"),
        }
    }
    Ok(())
}

/// Runs SQL, printing errors; Ctrl-C cancels it and returns to the prompt.
async fn execute_cancellable(
    ctx: &SessionContext,
    sql: &str,
    options: PrintOptions,
    statements: &dyn StatementHandler,
) {
    let mut out = std::io::stdout();
    tokio::select! {
        result = exec_and_print(ctx, sql, options, statements, &mut out) => {
            if let Err(e) = result {
                eprintln!("glaux: {}", Error::from(e).line());
            }
        }
        _ = tokio::signal::ctrl_c() => eprintln!("query cancelled"),
    }
}

async fn execute_meta(
    ctx: &SessionContext,
    project: &Project,
    statements: &dyn StatementHandler,
    command: MetaCommand,
    options: &mut PrintOptions,
) -> Result<()> {
    let mut out = std::io::stdout();
    match command {
        MetaCommand::Help => print!("{}", help_text()),
        MetaCommand::Quit => {}
        MetaCommand::ListDatabases => {
            let names = project.catalog.registry.databases();
            let schema = Schema::new(vec![Field::new("database", DataType::Utf8, false)]);
            let batch = RecordBatch::try_new(Arc::new(schema), vec![Arc::new(StringArray::from(names))])?;
            print_batch(batch, options.format, &mut out).await?;
        }
        MetaCommand::ListTables(database) => {
            let tables: Vec<_> = project
                .catalog
                .registry
                .tables()
                .filter(|t| database.as_ref().is_none_or(|db| &t.database == db))
                .collect();
            let column = |f: fn(&crate::catalog::table::TableDef) -> String| {
                Arc::new(StringArray::from(tables.iter().map(|t| f(t)).collect::<Vec<_>>()))
            };
            let schema = Schema::new(vec![
                Field::new("database", DataType::Utf8, false),
                Field::new("table", DataType::Utf8, false),
                Field::new("description", DataType::Utf8, false),
            ]);
            let batch = RecordBatch::try_new(
                Arc::new(schema),
                vec![
                    column(|t| t.database.clone()),
                    column(|t| t.name().to_string()),
                    column(|t| t.input.description.clone().unwrap_or_default()),
                ],
            )?;
            print_batch(batch, options.format, &mut out).await?;
        }
        MetaCommand::Describe(name) => describe(project, &name, *options).await?,
        MetaCommand::Timing(setting) => {
            options.timing = setting.unwrap_or(!options.timing);
            println!("Timing is {}.", if options.timing { "on" } else { "off" });
        }
        MetaCommand::Format(format) => {
            options.format = format;
            println!("Output format is {format:?}.");
        }
        MetaCommand::Include(path) => {
            let sql = crate::commands::read_sql_file(&path)?;
            execute_cancellable(ctx, &sql, *options, statements).await;
        }
    }
    Ok(())
}

/// `\d`: columns with types, comments and partition flag, then description and location.
async fn describe(project: &Project, name: &str, options: PrintOptions) -> Result<()> {
    let def = project.catalog.table(name)?;
    let columns: Vec<_> = def.all_columns().collect();
    let schema = Schema::new(vec![
        Field::new("column", DataType::Utf8, false),
        Field::new("type", DataType::Utf8, false),
        Field::new("partition_key", DataType::Boolean, false),
        Field::new("comment", DataType::Utf8, true),
    ]);
    let batch = RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(StringArray::from(columns.iter().map(|(c, _)| c.name.clone()).collect::<Vec<_>>())),
            Arc::new(StringArray::from(columns.iter().map(|(c, _)| c.data_type.clone()).collect::<Vec<_>>())),
            Arc::new(BooleanArray::from(columns.iter().map(|(_, p)| *p).collect::<Vec<_>>())),
            Arc::new(StringArray::from(columns.iter().map(|(c, _)| c.comment.clone()).collect::<Vec<_>>())),
        ],
    )?;
    let mut out = std::io::stdout();
    print_batch(batch, options.format, &mut out).await?;
    if let Some(description) = &def.input.description {
        println!("Description: {description}");
    }
    println!("Location: {}", project.catalog.warehouse.absolute_url(&def.location));
    Ok(())
}

/// `$XDG_DATA_HOME/glaux/history` (or the platform's data directory), created if needed.
fn history_path() -> Option<PathBuf> {
    let dir = dirs::data_dir()?.join("glaux");
    if let Err(e) = std::fs::create_dir_all(&dir) {
        tracing::warn!(dir = %dir.display(), error = %e, "no REPL history: cannot create its directory");
        return None;
    }
    Some(dir.join("history"))
}
