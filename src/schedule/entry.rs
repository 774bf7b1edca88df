//! `[[schedule]]` entries and `[scheduler]` settings, checked: cron patterns in time zones, the
//! glaux command line each entry runs, timeouts, retries and hooks.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use clap::Parser;
use croner::Cron;

use crate::config::{ScheduleEntryConfig, SchedulerConfig};
use crate::error::{Categorize, Category};

/// The shortest lease: renewed when a third of it has passed, it leaves the holder another third,
/// less the clock margin, to retry a failed renewal before it must stop its run.
const MIN_LEASE: Duration = Duration::from_secs(6);
/// Fire times looked at, at most, when finding the latest one in a window.
const MAX_SCAN: usize = 100_000;

/// A `[[schedule]]` entry or `[scheduler]` setting glaux cannot use.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {place}: {field} = {:?}: {}", crate::error::excerpt(value), crate::error::cut(reason, 300))]
pub struct EntryError {
    /// `glaux.toml`, with its path.
    pub file: PathBuf,
    /// `[[schedule]] #2 "logs"` or `[scheduler]`.
    pub place: String,
    /// The field.
    pub field: &'static str,
    /// The value given.
    pub value: String,
    /// What is wrong and what to write instead.
    pub reason: String,
}

impl Categorize for EntryError {
    fn category(&self) -> Category {
        Category::Usage
    }
}

/// What to do with fire times that passed while a run went on or the scheduler was down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatchUp {
    /// Drop them; wait for the next fire time.
    Skip,
    /// Run once for all of them, as soon as possible.
    Once,
}

/// Commands run when an entry keeps failing and when it recovers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hooks {
    /// Run by `sh -c` after `failure_threshold` consecutive failures.
    pub on_failure: Option<String>,
    /// Run by `sh -c` once when a run succeeds after `on_failure` fired.
    pub on_recovery: Option<String>,
    /// Consecutive failures that fire `on_failure`.
    pub failure_threshold: u32,
}

/// One checked `[[schedule]]` entry.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Its name.
    pub name: String,
    /// The pattern as written.
    pub pattern: String,
    cron: Cron,
    /// The time zone the pattern is read in.
    pub timezone: Tz,
    /// The command line as written.
    pub run: String,
    /// The arguments after `glaux`.
    pub args: Vec<String>,
    /// The longest one attempt may take.
    pub timeout: Option<Duration>,
    /// Attempts after a failed one.
    pub retries: u32,
    /// Wait before the first retry, doubled for each further one.
    pub retry_delay: Duration,
    /// What to do with missed fire times.
    pub catch_up: CatchUp,
    /// Failure and recovery hooks.
    pub hooks: Hooks,
}

impl Entry {
    /// The first fire time after `time`.
    pub fn next_after(&self, time: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = time.with_timezone(&self.timezone);
        self.cron.find_next_occurrence(&local, false).ok().map(|t| t.with_timezone(&Utc))
    }

    /// The next `n` fire times after `time`.
    pub fn next_n(&self, time: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        let mut times = Vec::with_capacity(n);
        let mut at = time;
        while times.len() < n {
            let Some(next) = self.next_after(at) else { break };
            times.push(next);
            at = next;
        }
        times
    }

    /// The latest fire time in `(after, until]`, if any.
    pub fn latest_in(&self, after: DateTime<Utc>, until: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = until.with_timezone(&self.timezone);
        let latest = self.cron.find_previous_occurrence(&local, true).ok()?.with_timezone(&Utc);
        if latest > after {
            return Some(latest);
        }
        // find_previous_occurrence searches a bounded span; confirm going forward when it found
        // nothing recent.
        let mut at = after;
        let mut found = None;
        for _ in 0..MAX_SCAN {
            match self.next_after(at) {
                Some(next) if next <= until => {
                    found = Some(next);
                    at = next;
                }
                _ => break,
            }
        }
        found
    }
}

/// The checked `[scheduler]` settings and `[[schedule]]` entries.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The entries, in file order.
    pub entries: Vec<Entry>,
    /// Tick: heartbeat and metrics interval.
    pub heartbeat: Duration,
    /// Lease duration.
    pub lease: Duration,
    /// How long a run may go on after a stop signal.
    pub shutdown_grace: Duration,
    /// The settings as written (metrics and lag).
    pub settings: SchedulerConfig,
    /// Lag threshold, when lag alerts are on.
    pub lag_threshold: Option<chrono::Duration>,
}

impl Schedule {
    /// Checks the settings and entries of `file` (for messages).
    pub fn check(
        file: &Path,
        settings: &SchedulerConfig,
        entries: &[ScheduleEntryConfig],
    ) -> Result<Schedule, EntryError> {
        let scheduler = |field, value: &str, reason: String| EntryError {
            file: file.to_path_buf(),
            place: "[scheduler]".into(),
            field,
            value: value.to_string(),
            reason,
        };
        let duration = |field, value: &Option<String>, default: &str| -> Result<Duration, EntryError> {
            let text = value.as_deref().unwrap_or(default);
            positive(text).map_err(|reason| scheduler(field, text, reason))
        };
        let heartbeat = duration("heartbeat", &settings.heartbeat, "60s")?;
        let lease = duration("lease", &settings.lease, "60s")?;
        if lease < MIN_LEASE {
            let reason = format!(
                "use at least {}s: it is renewed every third of it and must outlast the renewal by the {}s clock margin",
                MIN_LEASE.as_secs(),
                super::lease::CLOCK_MARGIN.num_seconds()
            );
            return Err(scheduler("lease", settings.lease.as_deref().unwrap_or_default(), reason));
        }
        let shutdown_grace = duration("shutdown_grace", &settings.shutdown_grace, "5m")?;
        if let Some(prometheus) = &settings.prometheus
            && prometheus.listen.parse::<std::net::SocketAddr>().is_err()
        {
            return Err(scheduler(
                "prometheus.listen",
                &prometheus.listen,
                "use HOST:PORT, such as 127.0.0.1:9464".into(),
            ));
        }
        if let Some(cloudwatch) = &settings.cloudwatch
            && cloudwatch.namespace.as_deref().is_some_and(|n| n.is_empty() || n.starts_with("AWS/") || n.len() > 255)
        {
            let namespace = cloudwatch.namespace.clone().unwrap_or_default();
            return Err(scheduler(
                "cloudwatch.namespace",
                &namespace,
                "use 1 to 255 characters, not starting with AWS/".into(),
            ));
        }
        let lag_threshold = match &settings.lag {
            Some(lag) => Some(
                crate::config::parse_duration(&lag.threshold)
                    .map_err(|reason| scheduler("lag.threshold", &lag.threshold, reason.into()))?,
            ),
            None => None,
        };
        let mut names = BTreeSet::new();
        let mut checked = Vec::with_capacity(entries.len());
        for (index, entry) in entries.iter().enumerate() {
            let entry = check_entry(file, index, entry, settings)?;
            if !names.insert(entry.name.clone()) {
                return Err(EntryError {
                    file: file.to_path_buf(),
                    place: format!("[[schedule]] #{}", index + 1),
                    field: "name",
                    value: entry.name,
                    reason: "another entry has this name; names must be unique".into(),
                });
            }
            checked.push(entry);
        }
        Ok(Schedule { entries: checked, heartbeat, lease, shutdown_grace, settings: settings.clone(), lag_threshold })
    }

    /// The entry called `name`.
    pub fn entry(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.name == name)
    }
}

fn check_entry(
    file: &Path,
    index: usize,
    config: &ScheduleEntryConfig,
    defaults: &SchedulerConfig,
) -> Result<Entry, EntryError> {
    let place = if config.name.is_empty() {
        format!("[[schedule]] #{}", index + 1)
    } else {
        format!("[[schedule]] #{} {:?}", index + 1, config.name)
    };
    let fail = |field, value: &str, reason: String| EntryError {
        file: file.to_path_buf(),
        place: place.clone(),
        field,
        value: value.to_string(),
        reason,
    };
    let name_ok = !config.name.is_empty()
        && config.name.len() <= 64
        && config.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !name_ok {
        return Err(fail("name", &config.name, "use 1 to 64 letters, digits, `_` or `-`".into()));
    }
    let cron = croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Optional)
        .build()
        .parse(&config.cron)
        .map_err(|e| {
            fail("cron", &config.cron, format!("{e}; write five fields (minute first) or six (second first)"))
        })?;
    let timezone = match &config.timezone {
        None => Tz::UTC,
        Some(name) => name.parse::<Tz>().map_err(|_| {
            fail("timezone", name, "not an IANA time zone; use a name such as Europe/Berlin or UTC".into())
        })?,
    };
    let args = split_command(&config.run).map_err(|reason| fail("run", &config.run, reason))?;
    check_command(&args).map_err(|reason| fail("run", &config.run, reason))?;
    let timeout = match &config.timeout {
        Some(text) => Some(positive(text).map_err(|reason| fail("timeout", text, reason))?),
        None => None,
    };
    let retry_delay = match &config.retry_delay {
        Some(text) => positive(text).map_err(|reason| fail("retry_delay", text, reason))?,
        None => Duration::from_secs(30),
    };
    let retries = config.retries.unwrap_or(0);
    if retries > 20 {
        return Err(fail("retries", &retries.to_string(), "use at most 20".into()));
    }
    let catch_up = match config.catch_up.as_deref().unwrap_or("skip") {
        "skip" => CatchUp::Skip,
        "once" => CatchUp::Once,
        other => return Err(fail("catch_up", other, "use \"skip\" or \"once\"".into())),
    };
    let failure_threshold = config.failure_threshold.or(defaults.failure_threshold).unwrap_or(1);
    if failure_threshold == 0 {
        return Err(fail("failure_threshold", "0", "use 1 or more".into()));
    }
    let hooks = Hooks {
        on_failure: config.on_failure.clone().or_else(|| defaults.on_failure.clone()),
        on_recovery: config.on_recovery.clone().or_else(|| defaults.on_recovery.clone()),
        failure_threshold,
    };
    Ok(Entry {
        name: config.name.clone(),
        pattern: config.cron.clone(),
        cron,
        timezone,
        run: config.run.clone(),
        args,
        timeout,
        retries,
        retry_delay,
        catch_up,
        hooks,
    })
}

/// A duration of at least one second, such as `30s`, `50m` or `2h`.
fn positive(text: &str) -> Result<Duration, String> {
    let duration = crate::config::parse_duration(text).map_err(str::to_string)?;
    match duration.to_std() {
        Ok(d) if d >= Duration::from_secs(1) => Ok(d),
        _ => Err("use at least 1s".into()),
    }
}

/// Splits a command line into words as a POSIX shell would for plain words and quotes (no
/// variables, globs or operators: the command runs without a shell).
pub fn split_command(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("unclosed single quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c) => word.push(c),
                            None => return Err("unclosed double quote".into()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("unclosed double quote".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => word.push(c),
                    None => return Err("a trailing backslash escapes nothing".into()),
                }
            }
            '|' | '&' | ';' | '<' | '>' | '$' | '`' => {
                return Err(format!("`{c}` is shell syntax; write a glaux command line (it runs without a shell)"));
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// Checks that `args` is a glaux command line the scheduler can run.
fn check_command(args: &[String]) -> Result<(), String> {
    let first = args.first().ok_or("write a glaux command, such as `ingest aurora` or `job run --all`")?;
    if first == "glaux" {
        return Err("leave out `glaux`: write the arguments, such as `ingest aurora`".into());
    }
    let cli = crate::cli::Cli::try_parse_from(std::iter::once("glaux").chain(args.iter().map(String::as_str)))
        .map_err(|e| {
            let text = e.to_string();
            text.lines().find(|l| !l.trim().is_empty()).unwrap_or("not a glaux command line").trim().to_string()
        })?;
    if cli.project.is_some() || cli.warehouse.is_some() {
        return Err("the scheduler's --project and --warehouse apply to its entries; remove them here".into());
    }
    use crate::cli::Command;
    match cli.command {
        None => Err("name a command; the REPL cannot be scheduled".into()),
        Some(Command::Schedule(_)) => Err("a scheduler cannot schedule itself".into()),
        Some(Command::Sql(args)) if args.commands.is_empty() && args.files.is_empty() => {
            Err("give `sql` its statements with -c or -f; the REPL cannot be scheduled".into())
        }
        Some(Command::Init(_)) => Err("`init` creates a project; it is not scheduled work".into()),
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn entry(cron: &str, timezone: Option<&str>) -> ScheduleEntryConfig {
        ScheduleEntryConfig {
            name: "logs".into(),
            cron: cron.into(),
            run: "ingest aurora".into(),
            timezone: timezone.map(str::to_string),
            ..ScheduleEntryConfig::default()
        }
    }

    fn check(entries: &[ScheduleEntryConfig]) -> Result<Schedule, EntryError> {
        Schedule::check(Path::new("glaux.toml"), &SchedulerConfig::default(), entries)
    }

    #[test]
    fn patterns_with_and_without_seconds_fire_in_their_time_zone() {
        let schedule = check(&[entry("0 5 * * * *", Some("Europe/Berlin"))]).unwrap();
        let e = &schedule.entries[0];
        let start = Utc.with_ymd_and_hms(2026, 12, 1, 10, 7, 0).unwrap();
        assert_eq!(
            e.next_n(start, 2),
            vec![
                Utc.with_ymd_and_hms(2026, 12, 1, 11, 5, 0).unwrap(),
                Utc.with_ymd_and_hms(2026, 12, 1, 12, 5, 0).unwrap()
            ]
        );
        // 02:30 every day in Berlin: on the spring-forward day 02:30 does not exist.
        let schedule = check(&[entry("30 2 * * *", Some("Europe/Berlin"))]).unwrap();
        let e = &schedule.entries[0];
        let before = Utc.with_ymd_and_hms(2027, 3, 27, 12, 0, 0).unwrap();
        let fires = e.next_n(before, 2);
        assert_eq!(fires.len(), 2);
        assert!(fires[0] > before && fires[1] > fires[0], "{fires:?}");
        assert_eq!(fires[1], Utc.with_ymd_and_hms(2027, 3, 29, 0, 30, 0).unwrap(), "{fires:?}");
        // Autumn: 02:30 happens twice in local time; the entry fires once that day.
        let before = Utc.with_ymd_and_hms(2027, 10, 30, 12, 0, 0).unwrap();
        let fires = e.next_n(before, 2);
        assert_eq!(fires[1] - fires[0], chrono::Duration::hours(25), "{fires:?}");
    }

    #[test]
    fn latest_fire_in_a_window() {
        let schedule = check(&[entry("*/10 * * * * *", None)]).unwrap();
        let e = &schedule.entries[0];
        let t = Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap();
        assert_eq!(e.latest_in(t, t + chrono::Duration::seconds(35)), Some(t + chrono::Duration::seconds(30)));
        assert_eq!(e.latest_in(t, t + chrono::Duration::seconds(9)), None);
        assert_eq!(e.latest_in(t - chrono::Duration::days(400), t), Some(t));
    }

    #[test]
    fn bad_entries_name_file_entry_and_field() {
        let cases = [
            (entry("61 * * * *", None), "cron"),
            (entry("* * * * *", Some("Mars/Olympus")), "timezone"),
            (ScheduleEntryConfig { run: "ingest aurora | tee x".into(), ..entry("* * * * *", None) }, "run"),
            (ScheduleEntryConfig { run: "job frobnicate".into(), ..entry("* * * * *", None) }, "run"),
            (ScheduleEntryConfig { run: "schedule".into(), ..entry("* * * * *", None) }, "run"),
            (ScheduleEntryConfig { run: "sql".into(), ..entry("* * * * *", None) }, "run"),
            (ScheduleEntryConfig { timeout: Some("50".into()), ..entry("* * * * *", None) }, "timeout"),
            (ScheduleEntryConfig { catch_up: Some("all".into()), ..entry("* * * * *", None) }, "catch_up"),
            (ScheduleEntryConfig { name: "../x".into(), ..entry("* * * * *", None) }, "name"),
        ];
        for (config, field) in cases {
            let err = check(&[config]).unwrap_err();
            assert_eq!(err.field, field, "{err}");
            let text = err.to_string();
            assert!(text.starts_with("glaux.toml: [[schedule]] #1"), "{text}");
        }
        let twice = check(&[entry("* * * * *", None), entry("0 * * * *", None)]).unwrap_err();
        assert!(twice.to_string().contains("#2") && twice.to_string().contains("unique"), "{twice}");
    }

    #[test]
    fn command_lines_split_like_a_shell_without_one() {
        assert_eq!(split_command("sql -c 'SELECT 1, \"a\"'").unwrap(), ["sql", "-c", "SELECT 1, \"a\""]);
        assert_eq!(split_command("job run  --all").unwrap(), ["job", "run", "--all"]);
        assert!(split_command("sql -c 'x").is_err());
        assert!(split_command("run; rm -rf /").is_err());
    }
}
