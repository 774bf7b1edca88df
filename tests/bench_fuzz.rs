//! `cargo bench --bench fuzz -- [--seconds N] [--seed N] [--crashes DIR] [TARGET…]`: runs each
//! fuzz target (all by default) for N seconds (60 by default) and prints what each did: inputs,
//! inputs per second, rows, rejects and whole-input errors produced, the slowest input, and
//! failures (saved under DIR, `fuzz-crashes/` by default; copy one into
//! `tests/fixtures/fuzz/<target>/` to make it a regression test).

#[path = "fuzz/mod.rs"]
mod fuzz;

use std::path::PathBuf;
use std::time::Duration;

use fuzz::runner::{Budget, run};

const USAGE: &str =
    "usage: cargo bench --bench fuzz -- [--seconds N] [--seed N] [--crashes DIR] [--hang SECONDS] [TARGET...]";

fn main() {
    let mut seconds = 60u64;
    let mut seed =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64);
    let mut crashes = PathBuf::from("fuzz-crashes");
    let mut hang = 30u64;
    let mut names = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next().unwrap_or_else(|| {
                eprintln!("{name} needs a value\n{USAGE}");
                std::process::exit(2)
            })
        };
        let number = |name: &str, text: String| {
            text.parse::<u64>().unwrap_or_else(|_| {
                eprintln!("{name} `{text}` is not a whole number\n{USAGE}");
                std::process::exit(2)
            })
        };
        match arg.as_str() {
            "--seconds" => seconds = number("--seconds", value("--seconds")),
            "--seed" => seed = number("--seed", value("--seed")),
            "--hang" => hang = number("--hang", value("--hang")),
            "--crashes" => crashes = PathBuf::from(value("--crashes")),
            "--bench" => {}
            "--help" | "-h" => {
                println!("{USAGE}\ntargets: {}", fuzz::targets::names().join(", "));
                return;
            }
            name if fuzz::targets::target(name).is_some() => names.push(name.to_string()),
            other => {
                eprintln!(
                    "unknown target or option `{other}`; targets: {}\n{USAGE}",
                    fuzz::targets::names().join(", ")
                );
                std::process::exit(2)
            }
        }
    }
    if names.is_empty() {
        names = fuzz::targets::names().into_iter().map(String::from).collect();
    }
    println!("seed {seed}, {seconds} s per target, failures saved in {}", crashes.display());
    println!(
        "{:<10} {:>10} {:>9} {:>11} {:>10} {:>8} {:>10} {:>8}",
        "target", "inputs", "inputs/s", "rows", "rejects", "errors", "slowest", "failures"
    );
    let mut failed = 0;
    for name in &names {
        let mut target = fuzz::targets::target(name).expect("known target");
        let report = run(
            &mut *target,
            Budget::Time(Duration::from_secs(seconds)),
            seed,
            Duration::from_secs(hang),
            Some(&crashes),
        );
        println!(
            "{:<10} {:>10} {:>9.0} {:>11} {:>10} {:>8} {:>8.1}ms {:>8}",
            name,
            report.inputs,
            report.inputs as f64 / report.elapsed.as_secs_f64(),
            report.tally.rows,
            report.tally.rejects,
            report.tally.errors,
            report.slowest.as_secs_f64() * 1000.0,
            report.failures.len()
        );
        for failure in &report.failures {
            failed += 1;
            let saved = failure.saved.as_ref().map_or("not saved".to_string(), |p| p.display().to_string());
            println!("  {} {}: {} ({saved})", name, failure.kind, glaux::error::one_line(&failure.message));
        }
    }
    if failed > 0 {
        std::process::exit(1);
    }
}
