//! Runs a target on generated inputs for a number of inputs or a time, catching what goes
//! wrong: a panic, a broken property (a line lost, an error of more than one line), or a hang
//! (a watchdog aborts the process after writing the input out, since a stuck thread cannot be
//! stopped). Failing inputs are written to a crash directory to become regression tests.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use super::mutate::{Mutator, Rng};

/// What one input gave, for the counts of a run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Rows (or entries, statements, definitions) the input produced.
    pub rows: u64,
    /// Lines or records rejected with a reason.
    pub rejects: u64,
    /// Inputs refused as a whole with a clear error.
    pub errors: u64,
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, other: Tally) {
        self.rows += other.rows;
        self.rejects += other.rejects;
        self.errors += other.errors;
    }
}

/// What a target's inputs are made from.
#[derive(Debug, Clone)]
pub struct Corpus {
    /// The target's short name (`slow`, `csv`, `sql`, …).
    pub name: &'static str,
    /// Real inputs to mutate.
    pub seeds: Vec<Vec<u8>>,
    /// Keywords worth dropping into inputs.
    pub dictionary: &'static [&'static [u8]],
    /// Longest input worth trying.
    pub max_len: usize,
}

impl Corpus {
    /// Inputs up to 64 KiB.
    pub fn new(name: &'static str, seeds: Vec<Vec<u8>>, dictionary: &'static [&'static [u8]]) -> Corpus {
        Corpus { name, seeds, dictionary, max_len: 1 << 16 }
    }

    /// Inputs up to `max_len` bytes.
    pub fn max_len(self, max_len: usize) -> Corpus {
        Corpus { max_len, ..self }
    }
}

/// A parser of untrusted input under test.
pub trait Target {
    /// Its name, seeds and dictionary.
    fn corpus(&self) -> &Corpus;
    /// Runs one input; `Err` says which property it broke.
    fn run(&mut self, input: &[u8]) -> Result<Tally, String>;
}

/// How long to run.
#[derive(Debug, Clone, Copy)]
pub enum Budget {
    Inputs(u64),
    Time(Duration),
}

/// A failing input.
#[derive(Debug, Clone)]
pub struct Failure {
    /// `panic` or `property`.
    pub kind: &'static str,
    pub message: String,
    pub input: Vec<u8>,
    /// Where the input was written, when a crash directory was given.
    pub saved: Option<PathBuf>,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct Report {
    pub target: &'static str,
    pub inputs: u64,
    pub tally: Tally,
    pub failures: Vec<Failure>,
    pub elapsed: Duration,
    pub slowest: Duration,
}

thread_local! {
    /// Set while this thread runs a target: its panics are failures to report, not output.
    static FUZZING: Cell<bool> = const { Cell::new(false) };
}
static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);
static HOOK: Once = Once::new();

/// Keeps the message of a panic in a fuzzing thread for the report; any other thread's panic
/// goes to the hook that was there before (the test harness's).
fn install_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if FUZZING.with(Cell::get) {
                *LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()) = Some(glaux::panics::message(info));
            } else {
                previous(info);
            }
        }));
    });
}

/// Aborts the process when one input runs longer than `limit`, writing it out first.
struct Watchdog {
    started_ms: Arc<AtomicU64>,
    current: Arc<Mutex<Vec<u8>>>,
    done: Arc<AtomicBool>,
    epoch: Instant,
}

impl Watchdog {
    fn start(target: &'static str, limit: Duration, crashes: Option<PathBuf>) -> Watchdog {
        let watchdog = Watchdog {
            started_ms: Arc::new(AtomicU64::new(0)),
            current: Arc::new(Mutex::new(Vec::new())),
            done: Arc::new(AtomicBool::new(false)),
            epoch: Instant::now(),
        };
        let (started, current, done, epoch) =
            (watchdog.started_ms.clone(), watchdog.current.clone(), watchdog.done.clone(), watchdog.epoch);
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(200));
                let at = started.load(Ordering::Relaxed);
                if at == 0 {
                    continue;
                }
                let busy = epoch.elapsed().saturating_sub(Duration::from_millis(at));
                if busy > limit {
                    let input = current.lock().unwrap_or_else(|e| e.into_inner()).clone();
                    let saved = crashes.as_deref().and_then(|dir| save(dir, target, "hang", &input));
                    eprintln!(
                        "fuzz {target}: an input ran for more than {limit:?} (a hang); input saved as {}",
                        saved.map_or("(no crash directory)".to_string(), |p| p.display().to_string())
                    );
                    std::process::abort();
                }
            }
        });
        watchdog
    }

    fn begin(&self, input: &[u8]) {
        input.clone_into(&mut self.current.lock().unwrap_or_else(|e| e.into_inner()));
        // Never 0 while running: 0 means idle.
        self.started_ms.store(self.epoch.elapsed().as_millis() as u64 + 1, Ordering::Relaxed);
    }

    fn end(&self) {
        self.started_ms.store(0, Ordering::Relaxed);
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
    }
}

/// Runs `input` once, catching a panic.
pub fn run_one(target: &mut dyn Target, input: &[u8]) -> Result<Tally, Failure> {
    install_hook();
    FUZZING.with(|f| f.set(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| target.run(input)));
    FUZZING.with(|f| f.set(false));
    // A panic the engine contained (a task's panic turned into an error) is still a panic.
    let contained = LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()).take();
    match result {
        Ok(_) if contained.is_some() => {
            let message = format!("contained panic: {}", contained.unwrap_or_default());
            Err(Failure { kind: "panic", message, input: input.to_vec(), saved: None })
        }
        Ok(Ok(tally)) => Ok(tally),
        Ok(Err(message)) => Err(Failure { kind: "property", message, input: input.to_vec(), saved: None }),
        Err(_) => {
            let message = contained.unwrap_or_default();
            Err(Failure { kind: "panic", message, input: input.to_vec(), saved: None })
        }
    }
}

/// Runs `target` on inputs generated from `seed` within `budget`; the seeds themselves go
/// first. Distinct failures (by message) are kept, with their inputs saved under `crashes`.
pub fn run(target: &mut dyn Target, budget: Budget, seed: u64, hang: Duration, crashes: Option<&Path>) -> Report {
    let corpus = target.corpus().clone();
    let name = corpus.name;
    let seeds = &corpus.seeds;
    let mutator = Mutator::new(seeds, corpus.dictionary, corpus.max_len);
    let watchdog = Watchdog::start(name, hang, crashes.map(Path::to_path_buf));
    let mut rng = Rng::new(seed);
    let started = Instant::now();
    let mut report = Report {
        target: name,
        inputs: 0,
        tally: Tally::default(),
        failures: Vec::new(),
        elapsed: Duration::ZERO,
        slowest: Duration::ZERO,
    };
    loop {
        let more = match budget {
            Budget::Inputs(n) => report.inputs < n,
            Budget::Time(limit) => started.elapsed() < limit,
        };
        if !more {
            break;
        }
        let input = match seeds.get(report.inputs as usize) {
            Some(seed) => seed.clone(),
            None => mutator.input(&mut rng),
        };
        watchdog.begin(&input);
        let one = Instant::now();
        let result = run_one(target, &input);
        report.slowest = report.slowest.max(one.elapsed());
        watchdog.end();
        report.inputs += 1;
        match result {
            Ok(tally) => report.tally += tally,
            Err(mut failure) => {
                if !report.failures.iter().any(|f| f.message == failure.message) {
                    failure.saved = crashes.and_then(|dir| save(dir, name, failure.kind, &failure.input));
                    report.failures.push(failure);
                }
            }
        }
    }
    report.elapsed = started.elapsed();
    report
}

/// Writes a failing input to `dir/<target>-<kind>-<hash>`.
fn save(dir: &Path, target: &str, kind: &str, input: &[u8]) -> Option<PathBuf> {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    input.hash(&mut hasher);
    std::fs::create_dir_all(dir).ok()?;
    let path = dir.join(format!("{target}-{kind}-{:016x}", hasher.finish()));
    std::fs::write(&path, input).ok()?;
    Some(path)
}
