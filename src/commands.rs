//! What each subcommand does: typed options in, printed output and a result out.

use std::io::{IsTerminal, Read, Write};
use std::path::Path;

use anyhow::Context;

use crate::catalog::Registry;
use crate::cli::{
    CatalogCommand, Cli, Command, DemoCommand, IngestCommand, JobCommand, LogsCommand, SqlArgs, SummaryFormat,
};
use crate::config::Overrides;
use crate::engine::EngineOptions;
use crate::engine::exec::{PrintOptions, exec_and_print, print_batch};
use crate::project::{self, Project};
use crate::repl;

/// A mistake in how glaux was called (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Runs the command the arguments name.
pub async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    let overrides = Overrides { project: cli.project, warehouse: cli.warehouse };
    let command = match cli.command {
        Some(Command::Init(args)) => {
            project::init(&args.dir)?;
            eprintln!(
                "created a glaux project in {}; try `glaux --project {} run`",
                args.dir.display(),
                args.dir.display()
            );
            return Ok(());
        }
        Some(Command::Demo(DemoCommand::Generate { customers, seed, out })) => {
            let project = overrides.project.clone().unwrap_or_else(|| ".".into());
            let out = out.unwrap_or_else(|| crate::demo::default_out(&project));
            let report = crate::demo::generate(&crate::demo::GenerateOptions { customers, seed, out })
                .context("cannot write the demo exports")?;
            for (file, rows) in report.files.iter().zip(&report.rows) {
                println!("{}: {rows} rows", file.display());
            }
            return Ok(());
        }
        Some(Command::Logs(LogsCommand::Parse { files, kind, log_line_prefix, format })) => {
            let mut stdout = std::io::stdout();
            return crate::aurora::inspect::parse_files(
                &files,
                kind.as_deref(),
                log_line_prefix.as_deref(),
                format,
                &mut stdout,
            );
        }
        other => other,
    };
    let project = match &command {
        Some(Command::Catalog(CatalogCommand::Validate)) => Project::open_without_registry(&overrides)?,
        _ => Project::open(&overrides)?,
    };
    let mut stdout = std::io::BufWriter::new(std::io::stdout());
    match command {
        None => sql(&project, SqlArgs::default(), &mut stdout).await,
        Some(Command::Sql(args)) => sql(&project, args, &mut stdout).await,
        Some(Command::Catalog(command)) => catalog(&project, command, &mut stdout).await,
        Some(Command::Ingest(IngestCommand::Csv { paths, table, date, force })) => {
            let def = project.table(&table)?;
            let inputs = crate::ingest::source::resolve(&paths, "csv", &project.settings.warehouse).await?;
            let (run_id, report) = project::ingest(&project, def, &inputs, date, force).await?;
            writeln!(stdout, "{}", project::describe_load(&def.qualified_name(), &report))?;
            if report.rows_rejected > 0 {
                eprintln!(
                    "{} row(s) rejected; see them with: glaux sql -c \"SELECT * FROM system.ingest_rejects WHERE run_id = '{run_id}'\"",
                    report.rows_rejected
                );
            }
            Ok(())
        }
        Some(Command::Ingest(IngestCommand::Aurora {
            source,
            since,
            dir,
            instance,
            kinds,
            log_line_prefix,
            format,
        })) => {
            let request = crate::aurora::run::Request { source, since, dir, instance, kinds, log_line_prefix };
            let (run_id, report) = crate::aurora::run::run(&project, &request).await?;
            match format {
                SummaryFormat::Text => writeln!(stdout, "{}", crate::aurora::run::describe(&report))?,
                SummaryFormat::Json => writeln!(stdout, "{}", serde_json::to_string(&report)?)?,
            }
            if report.rejects > 0 {
                eprintln!(
                    "{} line(s) rejected; see them with: glaux sql -c \"SELECT * FROM aurora_logs.rejects WHERE run_id = '{run_id}'\"",
                    report.rejects
                );
            }
            Ok(())
        }
        Some(Command::Job(command)) => job(&project, command, &mut stdout).await,
        Some(Command::Run(args)) => project::run_pipeline(&project, args.format, args.full, &mut stdout).await,
        Some(Command::Init(_) | Command::Demo(_) | Command::Logs(_)) => {
            unreachable!("handled before the project is opened")
        }
    }?;
    stdout.flush()?;
    Ok(())
}

/// `glaux sql`: -c and -f in order, else the REPL on a terminal, else standard input.
async fn sql(project: &Project, args: SqlArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let ctx = project.session(&EngineOptions { memory_limit: args.memory_limit, ..EngineOptions::default() })?;
    let options = PrintOptions { format: args.format, timing: args.timing };
    if args.commands.is_empty() && args.files.is_empty() {
        if std::io::stdin().is_terminal() {
            return repl::run(&ctx, project, options).await;
        }
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).context("cannot read SQL from standard input")?;
        exec_and_print(&ctx, &text, options, out).await?;
        return Ok(());
    }
    for command in &args.commands {
        exec_and_print(&ctx, command, options, out).await?;
    }
    for file in &args.files {
        let text = read_sql_file(file)?;
        exec_and_print(&ctx, &text, options, out).await.with_context(|| format!("in {}", file.display()))?;
    }
    Ok(())
}

/// Reads a SQL file named by the user; a missing file is a usage error.
pub fn read_sql_file(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| UsageError(format!("cannot read SQL file {}: {e}", path.display())).into())
}

async fn catalog(project: &Project, command: CatalogCommand, out: &mut dyn Write) -> anyhow::Result<()> {
    match command {
        CatalogCommand::List { format } => {
            let batch = project::table_listing(project).await?;
            print_batch(batch, format, out).await?;
        }
        CatalogCommand::Show { table } => {
            let def = project.table(&table)?;
            serde_json::to_writer_pretty(&mut *out, &def.input)?;
            writeln!(out)?;
            match project.log(def).latest().await? {
                Some(state) => eprintln!(
                    "{}: version {} committed {} by {}; {} partition(s), {} rows, {} bytes at {}",
                    def.qualified_name(),
                    state.version,
                    state.committed_at.to_rfc3339(),
                    state.operation,
                    state.partitions.len(),
                    state.partitions.values().map(|p| p.rows()).sum::<u64>(),
                    state.partitions.values().map(|p| p.bytes()).sum::<u64>(),
                    project.warehouse.absolute_url(&def.location),
                ),
                None => eprintln!("{}: no data committed yet", def.qualified_name()),
            }
        }
        CatalogCommand::Push { tables, dry_run, prune } => {
            let defs: Vec<&crate::catalog::table::TableDef> = match tables.is_empty() {
                true => project.registry.tables().map(|t| t.as_ref()).collect(),
                false => tables.iter().map(|t| project.table(t).map(|d| d.as_ref())).collect::<anyhow::Result<_>>()?,
            };
            let client = crate::glue::connect().await;
            let plan = crate::glue::plan_push(&client, project, &defs, prune).await?;
            write!(out, "{plan}")?;
            if plan.is_empty() {
                writeln!(out, "Glue already matches the registry; nothing to change")?;
            } else if dry_run {
                writeln!(out, "dry run: {} change(s) planned, none applied", plan.actions.len())?;
            } else {
                let report = crate::glue::apply(&client, &plan).await?;
                writeln!(out, "{report}")?;
            }
        }
        CatalogCommand::Pull { databases } => {
            let client = crate::glue::connect().await;
            let report = crate::glue::pull::pull(&client, project, &databases).await?;
            for table in &report.imported {
                writeln!(out, "imported {table}")?;
            }
            for (object, reason) in &report.skipped {
                writeln!(out, "skipped {object}: {reason}")?;
            }
            writeln!(out, "{} table(s) imported, {} object(s) skipped", report.imported.len(), report.skipped.len())?;
        }
        CatalogCommand::Validate => {
            let (registry, errors) = Registry::load_all(&project.settings.catalog_dir(), project.warehouse.url());
            for error in &errors {
                eprintln!("glaux: {error}");
                if let crate::catalog::CatalogError::Definition { problems, .. } = error {
                    for problem in problems.iter().skip(1) {
                        eprintln!("glaux:   also {problem}");
                    }
                }
            }
            let good = registry.tables().count();
            writeln!(out, "{good} table definition(s) valid, {} invalid", errors.len())?;
            if !errors.is_empty() {
                out.flush()?;
                return Err(UsageError(format!("{} definition file(s) have problems", errors.len())).into());
            }
        }
    }
    Ok(())
}

async fn job(project: &Project, command: JobCommand, out: &mut dyn Write) -> anyhow::Result<()> {
    match command {
        JobCommand::List { format } => {
            let jobs = project.jobs()?;
            print_batch(crate::jobs::listing(&jobs)?, format, out).await?;
        }
        JobCommand::Run { names, all, full, memory_limit } => {
            let jobs = project.jobs()?;
            let chosen: Vec<&crate::jobs::Job> = match all {
                true => crate::jobs::order(&jobs)?,
                false => names
                    .iter()
                    .map(|name| {
                        jobs.iter().find(|j| &j.name == name).ok_or_else(|| {
                            let known: Vec<&str> = jobs.iter().map(|j| j.name.as_str()).collect();
                            UsageError(format!("no job named {name} in sql/; the jobs are: {}", known.join(", ")))
                        })
                    })
                    .collect::<Result<_, _>>()?,
            };
            let options = crate::jobs::run::RunOptions {
                full,
                engine: EngineOptions { memory_limit, ..EngineOptions::default() },
            };
            for job in chosen {
                let report = crate::jobs::run::run(project, job, &options).await?;
                writeln!(out, "{}", report.describe())?;
                out.flush()?;
            }
        }
        JobCommand::History { name, limit, format } => {
            let ctx = project.session(&EngineOptions::default())?;
            let filter = match name {
                Some(name) => format!("WHERE name = '{}'", name.replace('\'', "''")),
                None => String::new(),
            };
            let sql = format!(
                "SELECT run_id, kind, name, started_at, duration_s, status, rows_in, rows_out, rows_rejected, \
                 bytes_written, commits, error FROM system.job_runs {filter} ORDER BY started_at DESC LIMIT {limit}"
            );
            let frame = ctx.sql(&sql).await?;
            let schema = std::sync::Arc::new(frame.schema().as_arrow().clone());
            let batches = frame.collect().await?;
            print_batch(arrow::compute::concat_batches(&schema, &batches)?, format, out).await?;
        }
    }
    Ok(())
}
