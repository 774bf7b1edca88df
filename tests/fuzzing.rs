//! The fuzz targets ([`crate::fuzz`]) in the suite: each runs a fixed number of inputs from a
//! fixed seed after replaying the saved failing inputs in `tests/fixtures/fuzz/<target>/`. The
//! bench command (`cargo bench --bench fuzz`) runs them for hours.

use std::time::Duration;

use crate::fuzz::mutate::{Mutator, Rng};
use crate::fuzz::runner::{Budget, run};
use crate::fuzz::targets;

#[test]
fn mutations_are_reproducible_from_the_seed() {
    let seeds = vec![b"# Time: 1\nSELECT 1;\n".to_vec(), b"a,b\n1,2\n".to_vec()];
    let dictionary: &[&[u8]] = &[b"# Query_time: "];
    let mutator = Mutator::new(&seeds, dictionary, 1 << 16);
    let run = |seed| {
        let mut rng = Rng::new(seed);
        (0..200).map(|_| mutator.input(&mut rng)).collect::<Vec<_>>()
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7), run(8));
    assert!(run(7).iter().any(|input| !seeds.contains(input)), "mutations change the seeds");
}

/// Inputs per target in the suite: enough to pass every mutation over every seed several
/// times; the bench command runs for hours.
fn budget(target: &str) -> u64 {
    match target {
        "csv" => 300,
        "sql" => 1500,
        "slow" | "postgres" => 1500,
        _ => 3000,
    }
}

fn campaign(names: &[&str]) {
    let mut failed = Vec::new();
    for name in names {
        let mut target = targets::target(name).expect("target");
        let report = run(&mut *target, Budget::Inputs(budget(name)), 0x61a7_0016, Duration::from_secs(120), None);
        assert!(report.inputs >= budget(name));
        for failure in report.failures {
            failed.push(format!(
                "{name}: {} {} on input {:?}",
                failure.kind,
                failure.message,
                String::from_utf8_lossy(&failure.input[..failure.input.len().min(300)])
            ));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn log_parsers_lose_no_line_on_mutated_logs() {
    campaign(&["error", "slow", "general", "audit", "postgres"]);
}

#[test]
fn csv_ingest_commits_or_rejects_every_record() {
    campaign(&["csv"]);
}

#[test]
fn definitions_load_or_fail_with_one_line_naming_the_file() {
    campaign(&["registry", "glue-type", "config", "job"]);
}

#[test]
fn athena_sql_rewrites_and_planning_never_panic() {
    campaign(&["sql", "fingerprint"]);
}
