//! What each subcommand does: the typed arguments of [`crate::cli`] turned into the options of
//! the layers below, the work handed to the pipeline or the domain, and the result printed.
//! Results go to standard output, progress and advice to standard error.

use std::io::{IsTerminal, Read, Write};
use std::path::Path;

use crate::catalog::CatalogError;
use crate::catalog::table::TableDef;
use crate::cli::{
    CatalogCommand, Cli, ClusterCommand, Command, DemoCommand, IngestCommand, JobCommand, LogsCommand, RunArgs,
    ScheduleCommand, SqlArgs, SummaryFormat,
};
use crate::config::Overrides;
use crate::engine::EngineOptions;
use crate::engine::exec::{PrintOptions, exec_and_print, print_batch};
use crate::error::{Context, Result, UsageError};
use crate::jobs::Job;
use crate::jobs::execute::JobOptions;
use crate::logs::LogKind;
use crate::logs::digest::{DigestError, digest_files};
use crate::logs::inspect::{InspectError, summarise_files};
use crate::logs::parse::postgres::{Prefix, RDS_PREFIX};
use crate::logs::request::Request;
use crate::pipeline;
use crate::project::Project;

/// The reason a job report gives for a run recomputed in full on request.
const FULL_FLAG: &str = "--full";

/// Runs the command the arguments name.
pub async fn dispatch(cli: Cli) -> Result<()> {
    let overrides = Overrides { project: cli.project, warehouse: cli.warehouse, cluster: cli.cluster };
    // Commands that need no project, or only a part of it.
    let command = match cli.command {
        Some(Command::Init(args)) => return init(&args.dir),
        Some(Command::Demo(command)) => return demo(&overrides, command),
        Some(Command::Logs(LogsCommand::Report { instances, since, from, to, out, format })) => {
            let project = Project::open(&overrides)?;
            let range = crate::logs::report::Range::resolve(since.as_deref(), from, to)
                .map_err(|e| UsageError(format!("--since: {e}")))?;
            return logs_report(&project, &instances, range, out, format).await;
        }
        Some(Command::Logs(command)) => return logs(command).await,
        Some(Command::Cluster(command)) => return cluster(&overrides, command).await,
        Some(Command::Catalog(CatalogCommand::Validate)) => {
            return validate(&Project::open_without_registry(&overrides)?);
        }
        other => other,
    };
    let project = Project::open(&overrides)?;
    let mut stdout = std::io::BufWriter::new(std::io::stdout());
    match command {
        None => sql(&project, SqlArgs::default(), &mut stdout).await,
        Some(Command::Sql(args)) => sql(&project, args, &mut stdout).await,
        Some(Command::Catalog(command)) => catalog(&project, command, &mut stdout).await,
        Some(Command::Ingest(command)) => ingest(&project, command, &mut stdout).await,
        Some(Command::Job(command)) => job(&project, command, &mut stdout).await,
        Some(Command::Run(args)) => run_project(&project, args, &mut stdout).await,
        Some(Command::Schedule(args)) => schedule(project, &overrides, args.command, &mut stdout).await,
        Some(Command::Vacuum(args)) => vacuum(&project, args, &mut stdout).await,
        Some(Command::Archive(args)) => archive(&project, args, &mut stdout).await,
        Some(Command::Restore(args)) => restore(&project, args, &mut stdout).await,
        Some(Command::Lifecycle(command)) => lifecycle(&project, command, &mut stdout).await,
        Some(Command::Iam(crate::cli::IamCommand::Policy { profile, account, region })) => {
            let target = crate::iam::Target {
                account: account.unwrap_or_else(|| "*".to_string()),
                region: region
                    .or_else(|| project.settings.warehouse.region.clone())
                    .unwrap_or_else(|| "us-east-1".to_string()),
            };
            let policy = crate::iam::policy(&project.settings, &project.catalog.registry, profile, &target)
                .map_err(|e| crate::Error::new(crate::error::Category::Usage, anyhow::anyhow!(e)))?;
            serde_json::to_writer_pretty(&mut stdout, &policy)?;
            writeln!(stdout)?;
            Ok(())
        }
        Some(Command::Init(_) | Command::Demo(_) | Command::Logs(_) | Command::Cluster(_)) => {
            unreachable!("handled before the project is opened")
        }
    }?;
    stdout.flush()?;
    Ok(())
}

/// `glaux init`.
fn init(dir: &Path) -> Result<()> {
    crate::scaffold::init(dir)?;
    eprintln!("created a glaux project in {}; try `glaux --project {} run`", dir.display(), dir.display());
    Ok(())
}

/// `glaux cluster scheduler` and `glaux cluster executor`: in the foreground until killed.
#[cfg(feature = "cluster")]
async fn cluster(overrides: &Overrides, command: ClusterCommand) -> Result<()> {
    use crate::engine::cluster;
    // The project (or the directory it starts in) gives the S3 endpoint settings, never
    // credentials: those come from the AWS chain when a bucket is first read.
    let cwd = std::env::current_dir().context("cannot determine the current directory")?;
    let settings = crate::config::Settings::resolve(overrides, &|name| std::env::var(name).ok(), &cwd)?;
    let stores = crate::engine::object_stores(&settings.warehouse);
    let functions = crate::logs::functions::all();
    match command {
        ClusterCommand::Scheduler { bind, executor_timeout } => {
            eprintln!("glaux cluster scheduler listening on df://{bind}");
            cluster::scheduler(bind, executor_timeout, functions, stores).await.context("the scheduler stopped")?;
        }
        ClusterCommand::Executor { scheduler, bind, grpc_port, concurrent_tasks, work_dir, heartbeat } => {
            let scheduler = crate::config::ClusterAddress::parse(&scheduler)
                .map_err(|reason| UsageError(format!("--scheduler {scheduler}: {reason}")))?;
            let temporary = match &work_dir {
                Some(_) => None,
                None => Some(tempfile::tempdir().context("cannot create the executor's work directory")?),
            };
            let work_dir = work_dir.unwrap_or_else(|| temporary.as_ref().expect("created above").path().to_path_buf());
            let options = cluster::ExecutorOptions {
                scheduler,
                bind,
                grpc_port,
                concurrent_tasks: concurrent_tasks.unwrap_or(0),
                work_dir,
                heartbeat_seconds: heartbeat,
            };
            eprintln!("glaux cluster executor on {bind}, registering with {}", options.scheduler);
            cluster::executor(options, functions, stores).await.context("the executor stopped")?;
        }
    }
    Ok(())
}

/// Without the `cluster` feature, `glaux cluster` says how to get it.
#[cfg(not(feature = "cluster"))]
async fn cluster(_overrides: &Overrides, _command: ClusterCommand) -> Result<()> {
    Err(UsageError(
        "this glaux was built without the `cluster` feature; build it with `cargo build --release --features cluster`"
            .into(),
    )
    .into())
}

/// `glaux demo generate`.
fn demo(overrides: &Overrides, command: DemoCommand) -> Result<()> {
    let DemoCommand::Generate { customers, seed, out } = command;
    let project = overrides.project.clone().unwrap_or_else(|| ".".into());
    let out = out.unwrap_or_else(|| crate::demo::default_out(&project));
    let report = crate::demo::generate(&crate::demo::GenerateOptions { customers, seed, out })
        .context("cannot write the demo exports")?;
    for (file, rows) in report.files.iter().zip(&report.rows) {
        println!("{}: {rows} rows", file.display());
    }
    Ok(())
}

/// `glaux logs parse` and `glaux logs digest`.
async fn logs(command: LogsCommand) -> Result<()> {
    let unknown_kind = |e: InspectError| match e {
        InspectError::UnknownKind { path } => {
            UsageError(format!("{}: log kind not recognised from its name or first lines; pass --kind", path.display()))
                .into()
        }
        other => crate::error::Error::from(other),
    };
    let (logs, format) = match command {
        LogsCommand::Parse { logs, format } => (logs, format),
        LogsCommand::Digest { logs, limit, format } => {
            let prefix = prefix(logs.log_line_prefix.as_deref())?;
            let kind = logs.kind.map(LogKind::from);
            let digest = digest_files(&logs.files, kind, &prefix, limit).await.map_err(|e| match e {
                DigestError::Inspect(e) => unknown_kind(e),
                DigestError::Kinds(message) => UsageError(message).into(),
                other => crate::error::Error::from(other),
            })?;
            let mut out = std::io::stdout().lock();
            match format {
                SummaryFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&digest)?)?,
                SummaryFormat::Text => write!(out, "{}", digest.profile())?,
            }
            return Ok(());
        }
        LogsCommand::Report { .. } => unreachable!("the report opens the project first"),
    };
    let prefix = prefix(logs.log_line_prefix.as_deref())?;
    let summaries = summarise_files(&logs.files, logs.kind.map(LogKind::from), &prefix).map_err(unknown_kind)?;
    let mut out = std::io::stdout().lock();
    match format {
        SummaryFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&summaries)?)?,
        SummaryFormat::Text => {
            for line in summaries.iter().flat_map(|s| s.describe()) {
                writeln!(out, "{line}")?;
            }
        }
    }
    Ok(())
}

/// `glaux logs report`: the report from the digest tables, as HTML in a file or JSON.
async fn logs_report(
    project: &Project,
    instances: &[String],
    range: crate::logs::report::Range,
    out: Option<std::path::PathBuf>,
    format: crate::cli::ReportFormat,
) -> Result<()> {
    for instance in instances {
        crate::logs::source::check_instance(instance).map_err(|e| UsageError(format!("--instance: {e}")))?;
    }
    let ctx = project.session(&EngineOptions::default())?;
    let started = std::time::Instant::now();
    let report = crate::logs::report::build(&ctx, &project.catalog.registry, instances, range).await?;
    let text = match format {
        crate::cli::ReportFormat::Json => serde_json::to_string_pretty(&report)? + "\n",
        crate::cli::ReportFormat::Html => crate::logs::report::html(&report),
    };
    let out = out.or_else(|| (format == crate::cli::ReportFormat::Html).then(|| "glaux-report.html".into()));
    match out {
        Some(path) => {
            std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
            let path = std::fs::canonicalize(&path).unwrap_or(path);
            eprintln!(
                "wrote {} in {:.2} s; open file://{}",
                path.display(),
                started.elapsed().as_secs_f64(),
                path.display()
            );
        }
        None => std::io::stdout().lock().write_all(text.as_bytes())?,
    }
    Ok(())
}

/// The PostgreSQL `log_line_prefix` given by `--log-line-prefix`, RDS's by default.
fn prefix(given: Option<&str>) -> Result<Prefix> {
    let text = given.unwrap_or(RDS_PREFIX);
    Ok(Prefix::compile(text).map_err(|e| UsageError(format!("--log-line-prefix: {e}")))?)
}

/// `glaux sql`: -c and -f in order, else the REPL on a terminal, else standard input.
async fn sql(project: &Project, args: SqlArgs, out: &mut dyn Write) -> Result<()> {
    let ctx = project.session(&EngineOptions { memory_limit: args.memory_limit, ..EngineOptions::default() })?;
    let options = PrintOptions { format: args.format, timing: args.timing, progress: false };
    let statements = crate::pipeline::statements(project);
    if args.commands.is_empty() && args.files.is_empty() {
        if std::io::stdin().is_terminal() {
            return crate::repl::interact(&ctx, project, &statements, options).await;
        }
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).context("cannot read SQL from standard input")?;
        exec_and_print(&ctx, &text, options, &statements, out).await?;
        return Ok(());
    }
    for command in &args.commands {
        exec_and_print(&ctx, command, options, &statements, out).await?;
    }
    for file in &args.files {
        let text = read_sql_file(file)?;
        exec_and_print(&ctx, &text, options, &statements, out)
            .await
            .with_context(|| format!("in {}", file.display()))?;
    }
    Ok(())
}

/// Reads a SQL file named by the user; a missing file is a usage error.
pub fn read_sql_file(path: &Path) -> Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| UsageError(format!("cannot read SQL file {}: {e}", path.display())).into())
}

/// `glaux ingest csv` and `glaux ingest aurora`.
async fn ingest(project: &Project, command: IngestCommand, out: &mut dyn Write) -> Result<()> {
    match command {
        IngestCommand::Csv { paths, table, date, force } => {
            let def = project.catalog.table(&table)?;
            let inputs = crate::ingest::source::resolve(&paths, "csv", &project.settings.warehouse).await?;
            let (run_id, report) = pipeline::load_csv(project, def, &inputs, date, force).await?;
            writeln!(out, "{}", pipeline::describe_load(&def.qualified_name(), &report))?;
            if report.rows_rejected > 0 {
                eprintln!(
                    "{} row(s) rejected; see them with: glaux sql -c \"SELECT * FROM system.ingest_rejects WHERE run_id = '{run_id}'\"",
                    report.rows_rejected
                );
            }
        }
        IngestCommand::Aurora { source, since, dir, instance, kinds, log_line_prefix, format } => {
            let dir = match (dir, instance) {
                (Some(dir), Some(instance)) => Some((dir, instance)),
                (Some(_), None) => {
                    return Err(UsageError(
                        "--dir needs --instance NAME: the instance its logs are filed under".into(),
                    )
                    .into());
                }
                (None, _) => None,
            };
            if dir.is_none() && source.is_none() && project.settings.log_sources.is_empty() {
                let advice = "no log sources: add [[aurora.sources]] to glaux.toml, or pass --dir PATH --instance NAME";
                return Err(UsageError(advice.into()).into());
            }
            let kinds = kinds.into_iter().map(LogKind::from).collect();
            let request = Request { source, since, dir, kinds, log_line_prefix };
            let (run_id, report) = pipeline::ingest_logs(project, &request).await?;
            match format {
                SummaryFormat::Text => writeln!(out, "{}", pipeline::describe_logs(&report))?,
                SummaryFormat::Json => writeln!(out, "{}", serde_json::to_string(&report)?)?,
            }
            if report.rejects > 0 {
                eprintln!(
                    "{} line(s) rejected; see them with: glaux sql -c \"SELECT * FROM aurora_logs.rejects WHERE run_id = '{run_id}'\"",
                    report.rejects
                );
            }
        }
    }
    Ok(())
}

/// `glaux run`.
async fn run_project(project: &Project, args: RunArgs, out: &mut dyn Write) -> Result<()> {
    let full = args.full.then(|| FULL_FLAG.to_string());
    let summary = pipeline::run_project(project, full, &|line| eprintln!("{line}")).await?;
    print_batch(summary, args.format, out).await?;
    Ok(())
}

/// `glaux catalog validate`: every definition file checked, every problem reported.
fn validate(project: &Project) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let (registry, errors) =
        crate::catalog::Registry::load_all(&project.settings.catalog_dir(), project.catalog.warehouse.url());
    for error in &errors {
        eprintln!("glaux: {error}");
        if let CatalogError::Definition { problems, .. } = error {
            for problem in problems.iter().skip(1) {
                eprintln!("glaux:   also {problem}");
            }
        }
    }
    let good = registry.tables().count();
    writeln!(out, "{good} table definition(s) valid, {} invalid", errors.len())?;
    out.flush()?;
    match errors.is_empty() {
        true => Ok(()),
        false => Err(UsageError(format!("{} definition file(s) have problems", errors.len())).into()),
    }
}

/// The tables and views `catalog push` sends: those named, or all of them.
fn pushed<'a>(
    catalog: &'a crate::catalog::Catalog,
    names: &[String],
) -> Result<(Vec<&'a TableDef>, Vec<&'a crate::catalog::view::ViewDef>)> {
    if names.is_empty() {
        return Ok((
            catalog.registry.tables().map(|t| t.as_ref()).collect(),
            catalog.registry.views().map(|v| v.as_ref()).collect(),
        ));
    }
    let (mut tables, mut views) = (Vec::new(), Vec::new());
    for name in names {
        let (database, table) = crate::catalog::names::parse_qualified(name)?;
        match catalog.registry.view(&database, &table) {
            Some(view) => views.push(view.as_ref()),
            None => tables.push(catalog.table(name)?.as_ref()),
        }
    }
    Ok((tables, views))
}

async fn catalog(project: &Project, command: CatalogCommand, out: &mut dyn Write) -> Result<()> {
    match command {
        CatalogCommand::List { format } => {
            let batch = project.catalog.summary().await?;
            print_batch(batch, format, out).await?;
        }
        CatalogCommand::Show { table } => {
            let def = project.catalog.table(&table)?;
            serde_json::to_writer_pretty(&mut *out, &def.input)?;
            writeln!(out)?;
            eprintln!("{}", describe_state(project, def).await?);
        }
        CatalogCommand::History { table, format } => {
            let def = project.catalog.table(&table)?;
            let history = crate::catalog::history(&project.catalog.warehouse, def).await?;
            print_batch(history, format, out).await?;
        }
        CatalogCommand::Push { tables, dry_run, prune } => {
            let catalog = &project.catalog;
            let (defs, views) = pushed(catalog, &tables)?;
            let client = crate::glue::connect().await;
            let plan = crate::glue::plan_push(&client, catalog, &defs, &views, prune).await?;
            write!(out, "{plan}")?;
            if !plan.kept.is_empty() {
                writeln!(out, "{} table(s) kept in Glue; --prune deletes them", plan.kept.len())?;
            }
            if plan.is_empty() {
                writeln!(out, "Glue already matches the registry; nothing to change")?;
            } else if dry_run {
                writeln!(out, "dry run: {} change(s) planned, none applied", plan.actions.len())?;
            } else {
                let report = crate::glue::apply(&client, &catalog.warehouse, &plan).await?;
                writeln!(out, "{report}")?;
            }
        }
        CatalogCommand::Pull { databases } => {
            let client = crate::glue::connect().await;
            let report = crate::glue::pull::pull(&client, &project.catalog, &databases).await?;
            for table in &report.imported {
                writeln!(out, "imported {table}")?;
            }
            for (object, reason) in &report.skipped {
                writeln!(out, "skipped {object}: {reason}")?;
            }
            writeln!(out, "{} table(s) imported, {} object(s) skipped", report.imported.len(), report.skipped.len())?;
        }
        CatalogCommand::Validate => unreachable!("handled before the registry is loaded"),
    }
    Ok(())
}

/// One line on a table's newest commit, for `glaux catalog show`.
async fn describe_state(project: &Project, def: &TableDef) -> Result<String> {
    let name = def.qualified_name();
    Ok(match project.catalog.log(def).head().await? {
        Some(state) => format!(
            "{name}: version {} committed {} by {}; {} partition(s), {} rows, {} bytes at {}",
            state.version,
            state.committed_at.to_rfc3339(),
            state.operation,
            state.partition_count(),
            state.rows(),
            state.bytes(),
            project.catalog.warehouse.absolute_url(&def.location),
        ),
        None => format!("{name}: no data committed yet"),
    })
}

async fn job(project: &Project, command: JobCommand, out: &mut dyn Write) -> Result<()> {
    match command {
        JobCommand::List { format } => {
            let jobs = project.jobs()?;
            print_batch(crate::jobs::listing(&jobs)?, format, out).await?;
        }
        JobCommand::Run { names, all, full, memory_limit } => {
            let jobs = project.jobs()?;
            let chosen = match all {
                true => crate::jobs::order(&jobs)?,
                false => names.iter().map(|name| find_job(&jobs, name)).collect::<Result<_>>()?,
            };
            let options = JobOptions {
                full: full.then(|| FULL_FLAG.to_string()),
                engine: EngineOptions { memory_limit, ..EngineOptions::default() },
            };
            for job in chosen {
                let report = pipeline::run_job(project, job, &options).await?;
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

/// `glaux archive`.
async fn archive(project: &Project, args: crate::cli::ArchiveArgs, out: &mut dyn Write) -> Result<()> {
    use crate::lifecycle::archive::{ArchiveOptions, Encryption};
    let def = project.catalog.table(&args.table)?.clone();
    let settings = &project.settings.warehouse;
    let s3 = s3_client(project).await;
    let options = ArchiveOptions {
        older_than: args.older_than,
        storage_class: args.storage_class,
        dry_run: args.dry_run,
        now: chrono::Utc::now(),
        encryption: Encryption::of(settings),
    };
    let hook = crate::pipeline::commit_hook(project);
    let report =
        crate::lifecycle::archive::archive(&project.catalog, &def, s3.as_ref(), &options, hook.as_ref()).await?;
    print_batch(archive_batch(&report)?, args.format, out).await?;
    if args.dry_run {
        eprintln!("dry run: nothing was archived");
    } else if report.partitions.is_empty() {
        eprintln!("no partition of {} is older than {}; nothing archived", report.table, args.older_than);
    }
    Ok(())
}

/// The SDK client of an S3 warehouse, `None` for a local one.
async fn s3_client(project: &Project) -> Option<aws_sdk_s3::Client> {
    match project.catalog.warehouse.is_local() {
        true => None,
        false => Some(crate::warehouse::s3::sdk_client(&project.settings.warehouse).await),
    }
}

/// `glaux restore`.
async fn restore(project: &Project, args: crate::cli::RestoreArgs, out: &mut dyn Write) -> Result<()> {
    use crate::catalog::restores::to_batch;
    let s3 = s3_client(project).await;
    let wh = &project.catalog.warehouse;
    if let Some(crate::cli::RestoreCommand::Status { format }) = args.command {
        let (restores, _) = crate::lifecycle::restore::check(wh, s3.as_ref(), chrono::Utc::now()).await?;
        notify_ready(project, &restores).await;
        print_batch(to_batch(&restores)?, format, out).await?;
        return Ok(());
    }
    let (Some(table), Some(from), Some(to)) = (args.table, args.from, args.to) else {
        unreachable!("clap requires the table, --from and --to without a subcommand")
    };
    let def = project.catalog.table(&table)?.clone();
    let options = crate::lifecycle::restore::RestoreOptions {
        from,
        to,
        expires: args.expires,
        notify: args.notify.is_some(),
        now: chrono::Utc::now(),
    };
    let request = crate::lifecycle::restore::request(&project.catalog, &def, s3.as_ref(), &options).await?;
    if let Some(command) = &args.notify {
        let file = notify_file(project, &request.restore_id);
        let written = std::fs::create_dir_all(file.parent().expect("a notify file has a directory"))
            .and_then(|()| std::fs::write(&file, command));
        written.with_context(|| format!("cannot keep the notify command in {}", file.display()))?;
    }
    let (restores, _) = crate::lifecycle::restore::check(wh, s3.as_ref(), chrono::Utc::now()).await?;
    notify_ready(project, &restores).await;
    let this: Vec<_> = restores.into_iter().filter(|r| r.request.restore_id == request.restore_id).collect();
    print_batch(to_batch(&this)?, args.format, out).await?;
    let restored = format!("{}{}", def.qualified_name(), crate::catalog::restores::RESTORED_SUFFIX);
    match this.first().map(|r| r.state()) {
        Some("ready") => eprintln!("readable now as {restored}"),
        _ => eprintln!("S3 is restoring the copies; `glaux restore status` records when {restored} is readable"),
    }
    Ok(())
}

/// Where the project keeps the notify command of a restore it asked for: in the project, not
/// the warehouse, so that only the project's own commands ever run.
fn notify_file(project: &Project, restore_id: &str) -> std::path::PathBuf {
    project.settings.project.join(".glaux").join("restores").join(format!("{restore_id}.notify"))
}

/// Runs, once, the notify command this project keeps for each readable restore, with the
/// restore's details in environment variables; a failing command is reported, not fatal.
async fn notify_ready(project: &Project, restores: &[crate::catalog::restores::Restore]) {
    for restore in restores.iter().filter(|r| r.state() == "ready") {
        let r = &restore.request;
        let file = notify_file(project, &r.restore_id);
        let Ok(command) = std::fs::read_to_string(&file) else { continue };
        // Removed first: a command that hangs or fails is not run again by the next check.
        if let Err(error) = std::fs::remove_file(&file) {
            eprintln!("glaux: cannot remove {} ({error}); its command is not run", file.display());
            continue;
        }
        let status = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(&command)
            .env("GLAUX_RESTORE_ID", &r.restore_id)
            .env("GLAUX_TABLE", &r.table)
            .env("GLAUX_RESTORED_TABLE", format!("{}{}", r.table, crate::catalog::restores::RESTORED_SUFFIX))
            .env("GLAUX_FROM", r.from.to_string())
            .env("GLAUX_TO", r.to.to_string())
            .env("GLAUX_ROWS", r.rows().to_string())
            .env("GLAUX_BYTES", r.bytes().to_string())
            .env("GLAUX_EXPIRES_AT", r.expires_at.to_rfc3339())
            .stdin(std::process::Stdio::null())
            .status()
            .await;
        match status {
            Ok(status) if status.success() => {}
            Ok(status) => eprintln!("glaux: the notify command of restore {} failed: {status}", r.restore_id),
            Err(error) => eprintln!("glaux: the notify command of restore {} failed: {error}", r.restore_id),
        }
    }
}

/// The one row of `glaux archive`.
fn archive_batch(report: &crate::lifecycle::archive::ArchiveReport) -> Result<arrow::array::RecordBatch> {
    use arrow::array::{ArrayRef, StringArray, UInt64Array};
    use arrow::datatypes::{DataType, Field, Schema};
    let text = |v: Option<String>| -> ArrayRef { std::sync::Arc::new(StringArray::from(vec![v])) };
    let number = |v: u64| -> ArrayRef { std::sync::Arc::new(UInt64Array::from(vec![v])) };
    let columns = vec![
        text(Some(report.table.clone())),
        number(report.partitions.len() as u64),
        number(report.files),
        number(report.rows),
        number(report.bytes),
        text(Some(report.storage_class.clone())),
        text(report.archive_id.clone()),
    ];
    let fields = vec![
        Field::new("table", DataType::Utf8, false),
        Field::new("partitions", DataType::UInt64, false),
        Field::new("files", DataType::UInt64, false),
        Field::new("rows", DataType::UInt64, false),
        Field::new("bytes", DataType::UInt64, false),
        Field::new("storage_class", DataType::Utf8, false),
        Field::new("archive_id", DataType::Utf8, true),
    ];
    Ok(arrow::array::RecordBatch::try_new(std::sync::Arc::new(Schema::new(fields)), columns)?)
}

/// `[retention]` of `glaux.toml`, checked against the registry.
fn retention_overrides(
    project: &Project,
) -> Result<std::collections::BTreeMap<String, crate::catalog::table::Retention>> {
    let mut retention = std::collections::BTreeMap::new();
    for (table, text) in &project.settings.retention {
        let bad = |reason: String| {
            let file = project.settings.project.join(crate::config::CONFIG_FILE);
            crate::Error::new(
                crate::error::Category::Usage,
                anyhow::anyhow!("{}: [retention] {table:?} = {text:?}: {reason}", file.display()),
            )
        };
        let def = project.catalog.table(table).map_err(|e| bad(e.to_string()))?;
        let parsed = crate::catalog::table::Retention::parse(text, &def.partition_keys).map_err(bad)?;
        retention.insert(def.qualified_name(), parsed);
    }
    Ok(retention)
}

/// `glaux lifecycle plan|apply`.
async fn lifecycle(project: &Project, command: crate::cli::LifecycleCommand, out: &mut dyn Write) -> Result<()> {
    use crate::lifecycle::rules;
    let retention = retention_overrides(project)?;
    // Refuses a local warehouse before any AWS call.
    rules::wanted(&project.catalog, &retention)?;
    let client = crate::warehouse::s3::sdk_client(&project.settings.warehouse).await;
    let plan = rules::plan(&project.catalog, &client, &retention).await?;
    match command {
        crate::cli::LifecycleCommand::Plan { format } => {
            let current: Vec<rules::Rule> = plan.current.iter().map(rules::describe).collect();
            let wanted: Vec<rules::Rule> = plan.wanted.iter().map(rules::describe).collect();
            let mut rows: Vec<(rules::Rule, &str)> = Vec::new();
            for rule in &current {
                let change = match (rule.owned, wanted.contains(rule)) {
                    (false, _) => "kept (not glaux's)",
                    (true, true) => "unchanged",
                    (true, false) => "replaced or removed",
                };
                rows.push((rule.clone(), change));
            }
            for rule in wanted.iter().filter(|w| !current.contains(w)) {
                rows.push((rule.clone(), "added"));
            }
            print_batch(rules_batch(&rows)?, format, out).await?;
            if plan.is_current() {
                eprintln!("bucket {}: glaux's rules are in place; nothing to change", plan.bucket);
            } else {
                eprintln!("bucket {}: `glaux lifecycle apply` makes these changes", plan.bucket);
            }
        }
        crate::cli::LifecycleCommand::Apply => {
            if plan.is_current() {
                writeln!(out, "bucket {}: glaux's rules are in place; nothing to change", plan.bucket)?;
            } else {
                rules::apply(&plan, &client).await?;
                let kept = plan.current.iter().filter(|r| !rules::describe(r).owned).count();
                writeln!(
                    out,
                    "bucket {}: {} glaux rule(s) set, {kept} other rule(s) kept",
                    plan.bucket,
                    plan.wanted.len()
                )?;
            }
        }
    }
    Ok(())
}

fn rules_batch(rows: &[(crate::lifecycle::rules::Rule, &str)]) -> Result<arrow::array::RecordBatch> {
    use arrow::array::{ArrayRef, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    let text = |f: &dyn Fn(&(crate::lifecycle::rules::Rule, &str)) -> String| -> ArrayRef {
        std::sync::Arc::new(StringArray::from(rows.iter().map(f).collect::<Vec<_>>()))
    };
    let columns = vec![
        text(&|(r, _)| r.id.clone()),
        text(&|(r, _)| r.prefix.clone()),
        text(&|(r, _)| r.action.clone()),
        text(&|(r, _)| if r.owned { "glaux" } else { "other" }.to_string()),
        text(&|(_, change)| change.to_string()),
    ];
    let fields: Vec<Field> =
        ["rule", "prefix", "action", "owner", "change"].iter().map(|n| Field::new(*n, DataType::Utf8, false)).collect();
    Ok(arrow::array::RecordBatch::try_new(std::sync::Arc::new(Schema::new(fields)), columns)?)
}

/// `glaux vacuum`.
async fn vacuum(project: &Project, args: crate::cli::VacuumArgs, out: &mut dyn Write) -> Result<()> {
    let tables = args.tables.iter().map(|t| project.catalog.table(t).cloned()).collect::<Result<Vec<_>, _>>()?;
    let retention = retention_overrides(project)?;
    let options = crate::lifecycle::VacuumOptions {
        retain: args.retain,
        grace: args.grace,
        dry_run: args.dry_run,
        now: chrono::Utc::now(),
        retention,
        landed_retention: project.settings.landed_retention,
    };
    if !args.dry_run {
        // Restores that became readable or lapsed are recorded first.
        let s3 = s3_client(project).await;
        let (restores, _) =
            crate::lifecycle::restore::check(&project.catalog.warehouse, s3.as_ref(), options.now).await?;
        notify_ready(project, &restores).await;
    }
    let hook = crate::pipeline::commit_hook(project);
    let reports = crate::lifecycle::vacuum(&project.catalog, &tables, &options, hook.as_ref()).await?;
    print_batch(vacuum_batch(&reports, args.dry_run)?, args.format, out).await?;
    if args.dry_run {
        eprintln!("dry run: nothing was removed");
    }
    Ok(())
}

/// One row per vacuumed table.
fn vacuum_batch(reports: &[crate::lifecycle::TableVacuum], dry_run: bool) -> Result<arrow::array::RecordBatch> {
    use arrow::array::{ArrayRef, StringArray, UInt64Array};
    use arrow::datatypes::{DataType, Field, Schema};
    let number = |f: &dyn Fn(&crate::lifecycle::TableVacuum) -> Option<u64>| -> ArrayRef {
        std::sync::Arc::new(UInt64Array::from(reports.iter().map(f).collect::<Vec<_>>()))
    };
    let removed = if dry_run { "to_remove" } else { "removed" };
    let dropped = if dry_run { "partitions_to_drop" } else { "partitions_dropped" };
    let columns: Vec<ArrayRef> = vec![
        std::sync::Arc::new(StringArray::from(reports.iter().map(|r| r.table.clone()).collect::<Vec<_>>())),
        number(&|r| Some(r.partitions_dropped.len() as u64)),
        number(&|r| Some(r.versions_removed)),
        number(&|r| Some(r.versions_kept)),
        number(&|r| r.oldest_kept),
        number(&|r| Some(r.manifests_removed)),
        number(&|r| Some(r.files_removed)),
        number(&|r| Some(r.bytes_removed)),
        number(&|r| Some(r.files_kept)),
        number(&|r| Some(r.young_kept)),
    ];
    let fields = vec![
        Field::new("table", DataType::Utf8, false),
        Field::new(dropped, DataType::UInt64, false),
        Field::new(format!("versions_{removed}"), DataType::UInt64, false),
        Field::new("versions_kept", DataType::UInt64, false),
        Field::new("oldest_version_kept", DataType::UInt64, true),
        Field::new(format!("manifests_{removed}"), DataType::UInt64, false),
        Field::new(format!("files_{removed}"), DataType::UInt64, false),
        Field::new(format!("bytes_{removed}"), DataType::UInt64, false),
        Field::new("files_kept", DataType::UInt64, false),
        Field::new("young_files_kept", DataType::UInt64, false),
    ];
    Ok(arrow::array::RecordBatch::try_new(std::sync::Arc::new(Schema::new(fields)), columns)?)
}

/// `glaux schedule ...`.
async fn schedule(
    project: Project,
    overrides: &Overrides,
    command: Option<ScheduleCommand>,
    out: &mut dyn Write,
) -> Result<()> {
    let exe = std::env::current_exe().context("cannot find the glaux binary to run the entries with")?;
    let mut base_args = vec!["--project".to_string(), project.settings.project.display().to_string()];
    if overrides.warehouse.is_some() {
        base_args.extend(["--warehouse".to_string(), project.settings.warehouse.location.clone()]);
    }
    let launcher = crate::schedule::runner::Launcher { exe, base_args };
    match command {
        None => crate::schedule::serve(project, launcher).await?,
        Some(ScheduleCommand::List { count, format }) => {
            let schedule = crate::schedule::load(&project)?;
            if schedule.entries.is_empty() {
                eprintln!("no [[schedule]] entries in glaux.toml; the README shows how to add one");
            }
            print_batch(crate::schedule::listing(&schedule, chrono::Utc::now(), count)?, format, out).await?;
        }
        Some(ScheduleCommand::Status { runs, format }) => {
            let schedule = crate::schedule::load(&project)?;
            print_batch(crate::schedule::status(&project, &schedule, runs).await?, format, out).await?;
            if format == crate::engine::exec::OutputFormat::Table {
                let beats = crate::heartbeats::list(&project.catalog.warehouse).await?;
                if !beats.is_empty() {
                    writeln!(out, "\nschedulers:")?;
                    print_batch(crate::heartbeats::to_batch(&beats, chrono::Utc::now())?, format, out).await?;
                }
            }
        }
        Some(ScheduleCommand::Run { name }) => {
            let summary = crate::schedule::run_now(&project, &name, launcher).await?;
            writeln!(
                out,
                "{name}: succeeded in {:.1}s ({} attempt{}), run {}",
                (summary.ended_at - summary.started_at).num_milliseconds() as f64 / 1000.0,
                summary.attempts,
                if summary.attempts == 1 { "" } else { "s" },
                summary.run_id
            )?;
        }
    }
    Ok(())
}

/// The job named `name`; an unknown name is a usage error listing the jobs.
fn find_job<'a>(jobs: &'a [Job], name: &str) -> Result<&'a Job> {
    jobs.iter().find(|j| j.name == name).ok_or_else(|| {
        let known: Vec<&str> = jobs.iter().map(|j| j.name.as_str()).collect();
        UsageError(format!("no job named {name} in sql/; the jobs are: {}", known.join(", "))).into()
    })
}
