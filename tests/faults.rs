//! Fault campaigns: every command that commits killed with SIGKILL at random moments, and
//! writers racing on one warehouse. After a kill every table holds exactly what it held before
//! the command or what a clean run leaves (each table commits atomically on its own); re-running the command then leaves exactly what the
//! clean run left.
//!
//! Trials per command default to a handful (the suite's share); `GLAUX_FAULT_TRIALS=N` runs N
//! per command, for the campaigns reported in issue notes. The random moments come from a seed
//! printed on failure and settable with `GLAUX_FAULT_SEED`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{TestProject, glaux_bin, isolate, stderr};

/// Trials per command: `GLAUX_FAULT_TRIALS`, or `default`.
fn trials(default: usize) -> usize {
    std::env::var("GLAUX_FAULT_TRIALS").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A small seeded generator for the kill moments.
struct Moments(u64);

impl Moments {
    fn new() -> Moments {
        let seed = std::env::var("GLAUX_FAULT_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
        });
        eprintln!("fault campaign seed {seed} (GLAUX_FAULT_SEED)");
        Moments(seed)
    }

    /// A moment in `0..limit`.
    fn within(&mut self, limit: Duration) -> Duration {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let fraction = (self.0 >> 11) as f64 / (1u64 << 53) as f64;
        limit.mul_f64(fraction)
    }
}

/// A project directory and its home, copied as a whole for each trial.
struct Place {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Place {
    fn project(&self) -> PathBuf {
        self.root.join("project")
    }

    fn glaux(&self, args: &[&str]) -> Command {
        let mut command = Command::new(glaux_bin());
        command.current_dir(self.project()).args(args).stdin(Stdio::null());
        isolate(&mut command, &self.root.join("home"));
        command
    }

    fn ok(&self, args: &[&str]) -> String {
        let output = self.glaux(args).output().expect("run glaux");
        assert!(output.status.success(), "glaux {args:?} failed: {}", stderr(&output));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// A copy of this place (project, warehouse and home).
    fn copy(&self) -> Place {
        Place::copy_of(&self.root)
    }

    /// A copy of the directory `root` holding `project/` and `home/`.
    fn copy_of(root: &Path) -> Place {
        let dir = tempfile::tempdir().expect("temp dir");
        let status = Command::new("cp").arg("-a").arg(root.join(".")).arg(dir.path()).status().expect("cp");
        assert!(status.success());
        Place { root: dir.path().to_path_buf(), _dir: dir }
    }

    /// Every row of every table of the registry, one JSON object per row, sorted: equal digests
    /// mean equal tables, whatever their files and row order.
    fn digest(&self) -> BTreeMap<String, Vec<String>> {
        let mut sql = String::new();
        for table in tables(&self.project()) {
            sql.push_str(&format!("SELECT '{table}' AS _table, * FROM {table};\n"));
        }
        let file = self.root.join("digest.sql");
        std::fs::write(&file, sql).unwrap();
        let out = self.ok(&["sql", "--format", "ndjson", "-f", file.to_str().unwrap()]);
        let mut digest: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for line in out.lines().filter(|l| !l.trim().is_empty()) {
            let row: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            let table = row["_table"].as_str().unwrap().to_string();
            digest.entry(table).or_default().push(line.to_string());
        }
        for rows in digest.values_mut() {
            rows.sort();
        }
        digest
    }
}

/// The tables (not views) the project's registry defines, as `database.table`.
fn tables(project: &Path) -> Vec<String> {
    let mut names = Vec::new();
    for db in std::fs::read_dir(project.join("catalog")).unwrap().flatten() {
        for file in std::fs::read_dir(db.path()).unwrap().flatten() {
            let text = std::fs::read_to_string(file.path()).unwrap();
            if !text.contains("VIRTUAL_VIEW") {
                let table = file.path().file_stem().unwrap().to_string_lossy().to_string();
                names.push(format!("{}.{table}", db.file_name().to_string_lossy()));
            }
        }
    }
    names.sort();
    names
}

/// What differs between two digests, briefly.
fn difference(a: &BTreeMap<String, Vec<String>>, b: &BTreeMap<String, Vec<String>>) -> String {
    let mut lines = Vec::new();
    for table in a.keys().chain(b.keys()).collect::<std::collections::BTreeSet<_>>() {
        let (x, y) = (a.get(table).map_or(0, Vec::len), b.get(table).map_or(0, Vec::len));
        if a.get(table) != b.get(table) {
            lines.push(format!("{table}: {x} rows, expected {y}"));
        }
    }
    lines.join("; ")
}

/// Kills `glaux ARGS` in `place` after `delay`; whether it was still running then.
fn kill_after(place: &Place, args: &[&str], delay: Duration) -> bool {
    let mut child = place.glaux(args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let deadline = Instant::now() + delay;
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let running = child.try_wait().unwrap().is_none();
    let _ = child.kill(); // SIGKILL
    child.wait().unwrap();
    running
}

/// The commands of the campaign, in the order a project runs them: each one's clean result is
/// the state the next one starts from.
const STAGES: &[&[&str]] = &[
    &[
        "ingest",
        "csv",
        "data/customer_data/customer_base_raw/crm_export_2026-11-01.csv",
        "--table",
        "customer_data.customer_base_raw",
        "--date",
        "2026-11-01",
    ],
    &["ingest", "csv", "data/customer_data/regions/regions.csv", "--table", "customer_data.regions"],
    &["ingest", "aurora"],
    &["job", "run", "customer_data_cleansing"],
    &[
        "ingest",
        "csv",
        "data/customer_data/customer_base_raw/crm_export_2026-11-15.csv",
        "--table",
        "customer_data.customer_base_raw",
        "--date",
        "2026-11-15",
    ],
    &["job", "run", "--all"],
    &["vacuum", "--retain", "0s", "--grace", "0s"],
];

#[test]
fn kill_9_at_random_moments_of_every_committing_command_leaves_before_or_after() {
    let per_stage = trials(5);
    let mut moments = Moments::new();
    let project = TestProject::new();
    let mut state = Place::copy_of(project.dir.path());
    let mut outcomes: BTreeMap<&str, usize> = BTreeMap::new();
    for stage in STAGES {
        let name = stage[..2].join(" ");
        let before = state.digest();
        let clean = state.copy();
        let started = Instant::now();
        clean.ok(stage);
        let took = started.elapsed();
        let after = clean.digest();
        // Vacuum changes files, never contents; every other command must change something for
        // its trials to tell before from after.
        assert!(stage[0] == "vacuum" || before != after, "{name}: the clean run changed nothing");
        for trial in 0..per_stage {
            let place = state.copy();
            let delay = moments.within(took);
            let was_running = kill_after(&place, stage, delay);
            let mid = place.digest();
            // Each table is committed atomically on its own (a command writing several tables,
            // such as `ingest aurora`, commits them one after another).
            let mut states = std::collections::BTreeSet::new();
            for table in tables(&place.project()) {
                let (now, was, will) = (mid.get(&table), before.get(&table), after.get(&table));
                states.insert(match (now == was, now == will) {
                    (true, true) => continue,
                    (true, false) => "before",
                    (false, true) => "after",
                    _ => panic!(
                        "{name}, trial {trial}, killed after {delay:?} of {took:?}: {table} is neither as before nor as \
                         after ({} rows; {} before, {} after)",
                        now.map_or(0, Vec::len),
                        was.map_or(0, Vec::len),
                        will.map_or(0, Vec::len)
                    ),
                });
            }
            let outcome = match (states.contains("before"), states.contains("after")) {
                (true, true) => "some tables after",
                (false, true) => "after",
                _ => "before",
            };
            *outcomes.entry(if was_running { outcome } else { "finished first" }).or_default() += 1;
            place.ok(stage);
            let last = place.digest();
            assert!(last == after, "{name}, trial {trial}: the re-run left {}", difference(&last, &after));
        }
        state = clean;
    }
    eprintln!("kill -9 outcomes over {} trials: {outcomes:?}", per_stage * STAGES.len());
    assert!(outcomes.get("before").is_some_and(|n| *n > 0), "no kill landed before a commit: {outcomes:?}");
}
