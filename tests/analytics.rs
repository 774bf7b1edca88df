//! Log analytics: fingerprints equal to pt-fingerprint and pgBadger's, digests equal to
//! pt-query-digest's and pgBadger's per query class, the digest jobs with percentiles checked
//! against exact ones over the raw rows, and the HTML report rendered by headless Chromium.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::aurora::{count, fixtures, log_dir, pgbadger_fixtures, pgbadger_json, real_files};
use crate::support::{TestProject, glaux_bin, stderr};

/// `glaux logs digest --format json` of `files`: query ID → (calls, total seconds, fingerprint).
fn digest(files: &[PathBuf], extra: &[&str]) -> BTreeMap<String, (u64, f64, String)> {
    let output = Command::new(glaux_bin())
        .args(["logs", "digest", "--format", "json", "--limit", "1000000"])
        .args(extra)
        .args(files)
        .output()
        .expect("run glaux logs digest");
    assert!(output.status.success(), "glaux logs digest failed: {}", stderr(&output));
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    json["top"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let class = (c["calls"].as_u64().unwrap(), c["total_s"].as_f64().unwrap(), c["fingerprint"].to_string());
            (c["query_id"].as_str().unwrap().to_string(), class)
        })
        .collect()
}

/// pt-query-digest's classes of a slow log: query ID (its checksum) → (calls, total seconds).
fn pt_classes(file: &Path) -> Option<BTreeMap<String, (u64, f64)>> {
    let output = Command::new("pt-query-digest")
        .args(["--type", "slowlog", "--output", "json", "--limit", "100%"])
        .arg(file)
        .output()
        .expect("pt-query-digest runs (Debian package percona-toolkit)");
    let json: Value = serde_json::from_slice(&output.stdout).ok()?;
    let classes = json["classes"].as_array()?;
    Some(
        classes
            .iter()
            .map(|c| {
                let total = c["metrics"]["Query_time"]["sum"].as_str().map_or(0.0, |s| s.parse().unwrap());
                (c["checksum"].as_str().unwrap().to_string(), (c["query_count"].as_u64().unwrap(), total))
            })
            .collect(),
    )
}

/// Asserts that glaux's classes are pt-query-digest's: the same query IDs, calls and totals.
fn assert_same_classes(name: &str, ours: &BTreeMap<String, (u64, f64, String)>, theirs: &BTreeMap<String, (u64, f64)>) {
    let (our_ids, their_ids): (Vec<_>, Vec<_>) = (ours.keys().collect(), theirs.keys().collect());
    assert_eq!(our_ids, their_ids, "{name}: query IDs");
    for (id, (calls, total)) in theirs {
        let (our_calls, our_total, fingerprint) = &ours[id];
        assert_eq!(our_calls, calls, "{name}: calls of {id} {fingerprint}");
        assert!((our_total - total).abs() < 1e-6, "{name}: total of {id} {fingerprint}: {our_total} vs {total}");
    }
}

fn slow_fixtures() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures().join("percona/slowlogs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    files
}

#[test]
fn slow_log_digests_equal_pt_query_digest_per_class() {
    let mut compared = 0;
    for file in slow_fixtures() {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let ours = digest(std::slice::from_ref(&file), &["--kind", "slow"]);
        let Some(theirs) = pt_classes(&file).filter(|c| !c.is_empty()) else {
            // pt-query-digest finds no event: a session log (every line a reject here) or an
            // empty file; slow017's one event has a garbage Query_time pt-query-digest drops and
            // glaux keeps with a NULL time.
            assert!(ours.is_empty() || name == "slow017.txt", "{name}: pt-query-digest found nothing, glaux {ours:?}");
            continue;
        };
        if name == "slow041.txt" {
            // The file starts with a `# administrator command: Quit;` line outside any entry:
            // pt-query-digest counts it as a call without a time, glaux rejects the line (it is
            // in aurora_logs.rejects after an ingest). The entry with a header agrees.
            let quit = "EDBC971AEC392917AA353644DE4C4CB4";
            assert_eq!(theirs[quit].0, 2);
            assert_eq!(ours[quit].0, 1);
            continue;
        }
        assert_same_classes(&name, &ours, &theirs);
        compared += 1;
    }
    assert!(compared >= 60, "only {compared} files compared");

    // The slow log of a real MariaDB server.
    let real = &real_files()[0].1;
    assert_same_classes("real MariaDB slow log", &digest(std::slice::from_ref(real), &[]), &pt_classes(real).unwrap());
}

#[test]
fn a_large_slow_log_is_digested_in_pieces_without_losing_an_entry() {
    // Over 64 MB, a slow log is cut at `# Time:` lines into one piece per core.
    let real = &real_files()[0].1;
    let one = std::fs::read(real).unwrap();
    let copies = (70 << 20) / one.len() + 1;
    let big = tempfile::NamedTempFile::with_suffix(".log").unwrap();
    std::fs::write(big.path(), one.repeat(copies)).unwrap();
    let whole = digest(std::slice::from_ref(real), &["--kind", "slow"]);
    let pieces = digest(&[big.path().to_path_buf()], &["--kind", "slow"]);
    assert_eq!(whole.keys().collect::<Vec<_>>(), pieces.keys().collect::<Vec<_>>());
    for (id, (calls, total, fingerprint)) in &whole {
        assert_eq!(pieces[id].0, calls * copies as u64, "{fingerprint}");
        assert!((pieces[id].1 - total * copies as f64).abs() < 1e-6 * copies as f64, "{fingerprint}");
    }
}

/// pgBadger's normalised queries: normalised text → (calls, total milliseconds).
fn pgbadger_classes(file: &Path, prefix: &str) -> BTreeMap<String, (u64, f64)> {
    let json = pgbadger_json(file, prefix);
    let mut classes = BTreeMap::new();
    for queries in json["normalyzed_info"].as_object().map(|o| o.values().collect::<Vec<_>>()).unwrap_or_default() {
        for (query, info) in queries.as_object().unwrap() {
            let entry: &mut (u64, f64) = classes.entry(query.clone()).or_default();
            entry.0 += info["count"].as_u64().unwrap_or(0);
            entry.1 += info["duration"]
                .as_f64()
                .or_else(|| info["duration"].as_str().and_then(|s| s.parse().ok()))
                .unwrap_or(0.0);
        }
    }
    classes
}

#[test]
fn postgres_digests_equal_pgbadger_per_normalised_query() {
    let (_light, mut cases) = pgbadger_fixtures();
    cases.push((real_files()[4].1.clone(), "%t:%r:%u@%d:[%p]:"));
    let mut classes = 0;
    for (file, prefix) in cases {
        let ours: BTreeMap<String, (u64, f64)> =
            digest(std::slice::from_ref(&file), &["--kind", "postgres", "--log-line-prefix", prefix])
                .into_values()
                .map(|(calls, total, fingerprint)| {
                    (serde_json::from_str::<String>(&fingerprint).unwrap(), (calls, total * 1000.0))
                })
                .collect();
        let theirs = pgbadger_classes(&file, prefix);
        let name = file.display();
        assert_eq!(ours.keys().collect::<Vec<_>>(), theirs.keys().collect::<Vec<_>>(), "{name}: normalised queries");
        for (query, (calls, ms)) in &theirs {
            assert_eq!(ours[query].0, *calls, "{name}: calls of {query}");
            assert!((ours[query].1 - ms).abs() < 1e-3, "{name}: duration of {query}: {} vs {ms}", ours[query].1);
        }
        classes += theirs.len();
    }
    assert!(classes >= 25, "only {classes} normalised queries compared");
}

/// pt-fingerprint's fingerprint of each statement: one process reading them all, except those
/// its file mode would read differently (comment lines, `;` + newline inside, not starting
/// with a word), which go one at a time through `--query`.
fn pt_fingerprints(statements: &[String]) -> Vec<String> {
    let batchable = |s: &String| {
        !s.starts_with('#')
            && !s.contains("\n#")
            && !s.contains(";\n")
            && !s.ends_with(';')
            && s.starts_with(|c: char| c.is_alphanumeric() || c == '_')
    };
    let batch: Vec<&String> = statements.iter().filter(|s| batchable(s)).collect();
    let mut child = Command::new("pt-fingerprint")
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("pt-fingerprint runs (Debian package percona-toolkit)");
    let mut input = child.stdin.take().unwrap();
    let text: String = batch.iter().map(|s| format!("{s};\n")).collect();
    let writer = std::thread::spawn(move || input.write_all(text.as_bytes()).unwrap());
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    let mut batched =
        String::from_utf8(output.stdout).unwrap().lines().map(str::to_string).collect::<Vec<_>>().into_iter();
    statements
        .iter()
        .map(|s| match batchable(s) {
            true => batched.next().expect("one fingerprint per statement"),
            false => {
                let out = Command::new("pt-fingerprint").args(["--query", s]).output().unwrap();
                String::from_utf8(out.stdout).unwrap().trim_end_matches('\n').to_string()
            }
        })
        .collect()
}

#[test]
fn fingerprints_equal_pt_fingerprint_for_every_statement() {
    let mut files: Vec<(String, PathBuf)> = slow_fixtures()
        .into_iter()
        .map(|f| (format!("slowquery/{}", f.file_name().unwrap().to_string_lossy()), f))
        .collect();
    files.push(("slowquery/mysql-slowquery.log".into(), real_files()[0].1.clone()));
    let pairs: Vec<(&str, &Path)> = files.iter().map(|(n, p)| (n.as_str(), p.as_path())).collect();
    let dir = log_dir(&pairs);
    let project = TestProject::new();
    project.ok(&["ingest", "aurora", "--dir", dir.path().to_str().unwrap(), "--instance", "corpus"]);
    let out = project.ok(&[
        "sql",
        "--format",
        "json",
        "-c",
        "SELECT DISTINCT sql_text, fingerprint_mysql(sql_text) AS f FROM aurora_logs.mysql_slow_log WHERE sql_text IS NOT NULL ORDER BY 1",
    ]);
    let rows: Vec<Value> = serde_json::from_str(&out).unwrap();
    let statements: Vec<String> = rows.iter().map(|r| r["sql_text"].as_str().unwrap().to_string()).collect();
    assert!(statements.len() > 2000, "{} statements", statements.len());
    let theirs = pt_fingerprints(&statements);
    let differ: Vec<_> =
        rows.iter().zip(&theirs).filter(|(r, t)| r["f"].as_str().unwrap() != t.as_str()).take(5).collect();
    assert!(differ.is_empty(), "fingerprints differ from pt-fingerprint: {differ:#?}");
    // query_id is pt-query-digest's checksum: the MD5 of the fingerprint in upper-case hex.
    assert_eq!(
        project.ok(&["sql", "--format", "csv", "-c", "SELECT query_id('select ?')"]).lines().nth(1).unwrap(),
        "1FE1379FE2A31B8D16219655761820A2"
    );
}

/// A project with the real servers' logs and Percona's corpus ingested, and every job run.
fn digested_project() -> TestProject {
    let real = real_files();
    let real: Vec<(&str, &Path)> = real.iter().map(|(n, p)| (*n, p.as_path())).collect();
    let corpus: Vec<(String, PathBuf)> = slow_fixtures()
        .into_iter()
        .map(|f| (format!("slowquery/{}", f.file_name().unwrap().to_string_lossy()), f))
        .collect();
    let corpus: Vec<(&str, &Path)> = corpus.iter().map(|(n, p)| (n.as_str(), p.as_path())).collect();
    let (real_dir, corpus_dir) = (log_dir(&real), log_dir(&corpus));
    let project = TestProject::new();
    project.ok(&["ingest", "aurora", "--dir", real_dir.path().to_str().unwrap(), "--instance", "db-1"]);
    project.ok(&["ingest", "aurora", "--dir", corpus_dir.path().to_str().unwrap(), "--instance", "corpus"]);
    project.ok(&["job", "run", "--all"]);
    project
}

#[test]
fn digest_jobs_agree_with_the_peers_and_percentiles_merge_exactly() {
    let project = digested_project();
    // Per query class, calls and total time equal pt-query-digest's on the real server's log.
    let theirs = pt_classes(&real_files()[0].1).unwrap();
    let out = project.ok(&[
        "sql",
        "--format",
        "json",
        "-c",
        "SELECT query_id, sum(calls) AS calls, sum(total_s) AS total FROM aurora_logs.mysql_query_digest
         WHERE instance = 'db-1' GROUP BY query_id",
    ]);
    let ours: BTreeMap<String, (u64, f64, String)> = serde_json::from_str::<Vec<Value>>(&out)
        .unwrap()
        .into_iter()
        .map(|r| {
            let id = r["query_id"].as_str().unwrap().to_string();
            (id, (r["calls"].as_u64().unwrap(), r["total"].as_f64().unwrap(), String::new()))
        })
        .collect();
    assert_same_classes("mysql_query_digest", &ours, &theirs);

    // pgBadger's count of queries is the digest's count of calls.
    let json = pgbadger_json(&real_files()[4].1, "%t:%r:%u@%d:[%p]:");
    let queries = json["overall_stat"]["queries_number"].as_u64().unwrap();
    assert_eq!(count(&project, "SELECT sum(calls) FROM aurora_logs.postgres_query_digest"), queries);
    assert_eq!(
        count(
            &project,
            "SELECT count(*) FROM aurora_logs.postgres_log
             WHERE duration_ms IS NOT NULL AND protocol_step IN ('simple', 'execute')"
        ),
        queries
    );

    // Percentiles merged over every day and instance are within 1 % of the exact order
    // statistic (rank ceil(p·n)) computed over the raw rows.
    for p in ["0.5", "0.95", "0.99"] {
        let sql = format!(
            "WITH merged AS (
                SELECT query_id, sketch_quantile(merge_sketches(latency_sketch), {p}) AS estimate, sum(calls) AS calls
                FROM aurora_logs.mysql_query_digest GROUP BY query_id),
             exact AS (
                SELECT query_id(fingerprint_mysql(sql_text)) AS query_id,
                    array_element(array_sort(array_agg(query_time_s)), CAST(greatest(ceil({p} * count(*)), 1) AS BIGINT)) AS exact
                FROM aurora_logs.mysql_slow_log WHERE query_time_s IS NOT NULL GROUP BY 1)
             SELECT count(*) AS classes,
                sum(CASE WHEN abs(estimate - exact) <= 0.01 * exact + 1e-12 THEN 1 ELSE 0 END) AS within,
                max(calls) AS most_calls
             FROM merged JOIN exact USING (query_id)"
        );
        let out = project.ok(&["sql", "--format", "json", "-c", &sql]);
        let row = &serde_json::from_str::<Vec<Value>>(&out).unwrap()[0];
        assert!(row["classes"].as_u64().unwrap() > 100, "{row}");
        assert_eq!(row["within"], row["classes"], "p{p}: {row}");
    }
    // The digest spans several days of the corpus, and one class several of them.
    assert!(count(&project, "SELECT count(DISTINCT log_date) FROM aurora_logs.mysql_query_digest") > 5);

    // The error summaries count every error-log entry and every PostgreSQL error.
    assert_eq!(
        count(&project, "SELECT sum(entries) FROM aurora_logs.mysql_error_summary"),
        count(&project, "SELECT count(*) FROM aurora_logs.mysql_error_log")
    );
    assert_eq!(
        count(&project, "SELECT sum(entries) FROM aurora_logs.postgres_error_summary WHERE severity = 'ERROR'"),
        count(&project, "SELECT count(*) FROM aurora_logs.postgres_log WHERE severity = 'ERROR'")
    );
    // A second run finds nothing new.
    let again = project.ok(&["job", "run", "--all"]);
    assert!(!again.contains("replace_partitions:"), "{again}");
}

#[test]
fn report_renders_in_chromium_with_data_and_no_network() {
    let project = digested_project();
    let json: Value = serde_json::from_str(&project.ok(&["logs", "report", "--format", "json"])).unwrap();
    let calls: u64 = json["overview"].as_array().unwrap().iter().map(|o| o["calls"].as_u64().unwrap()).sum();
    assert_eq!(
        calls,
        count(&project, "SELECT sum(calls) FROM aurora_logs.mysql_query_digest")
            + count(&project, "SELECT sum(calls) FROM aurora_logs.postgres_query_digest")
    );
    for section in ["timeline", "top_by_total", "top_by_calls", "top_by_p95", "by_database", "by_user", "by_host"] {
        assert!(!json[section].as_array().unwrap().is_empty(), "{section} is empty");
    }
    for section in ["errors_by_day", "error_classes", "activity", "activity_by_hour"] {
        assert!(!json[section].as_array().unwrap().is_empty(), "{section} is empty");
    }
    // One instance and a range narrow it.
    let one: Value = serde_json::from_str(&project.ok(&[
        "logs",
        "report",
        "--format",
        "json",
        "--instance",
        "db-1",
        "--from",
        "2000-01-01",
        "--to",
        "2100-01-01",
    ]))
    .unwrap();
    assert_eq!(one["overview"].as_array().unwrap().iter().map(|o| o["instances"].as_u64().unwrap()).max(), Some(1));
    let bad = project.run(&["logs", "report", "--instance", "../x"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));

    let html = project.path().join("report.html");
    let out = project.run(&["logs", "report", "--out", html.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(!page.contains("http://") && !page.contains("https://cdn"), "the page links outside itself");

    let screenshot = std::env::var_os("GLAUX_REPORT_SCREENSHOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| project.path().join("report.png"));
    let dom = chromium(&html, &screenshot);
    let attribute = |name: &str| {
        let at = dom.find(&format!("{name}=\"")).unwrap_or_else(|| panic!("no {name} in the rendered page"));
        let rest = &dom[at + name.len() + 2..];
        rest[..rest.find('"').unwrap()].replace("&quot;", "\"")
    };
    assert_eq!(attribute("data-ready"), "yes", "the page script did not finish");
    assert_eq!(attribute("data-problems"), "[]", "script errors or blocked loads");
    assert_eq!(attribute("data-resources"), "0", "the page fetched something");
    assert_eq!(attribute("data-empty-charts"), "0");
    let charts: usize = attribute("data-charts").parse().unwrap();
    assert!(charts >= 12, "{charts} charts drawn");
    assert!(std::fs::metadata(&screenshot).unwrap().len() > 50_000, "screenshot too small");

    // Without digest tables, the report says how to get them.
    let bare = TestProject::new();
    bare.without_jobs();
    let none = bare.run(&["logs", "report"]);
    assert_eq!(none.status.code(), Some(2), "{}", stderr(&none));
    assert!(stderr(&none).contains("no digest tables"), "{}", stderr(&none));
}

/// Renders `page` in headless Chromium: the DOM after its scripts ran, and a screenshot. Console
/// errors Chromium reports fail the test.
fn chromium(page: &Path, screenshot: &Path) -> String {
    let browser = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| Command::new(b).arg("--version").output().is_ok_and(|o| o.status.success()))
        .expect("Chromium is installed (Debian package chromium; tests/install-deps.sh installs it)");
    let profile = tempfile::tempdir().unwrap();
    let common = |command: &mut Command| {
        command
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars"])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(["--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000", "--window-size=1400,4200"]);
    };
    let url = format!("file://{}", page.display());
    let mut dump = Command::new(browser);
    common(&mut dump);
    let dumped = dump.arg("--dump-dom").arg(&url).output().unwrap();
    let log = String::from_utf8_lossy(&dumped.stderr);
    assert!(
        !log.lines().any(|l| l.contains("CONSOLE") && (l.contains("Error") || l.contains("ERROR"))),
        "console errors: {log}"
    );
    let mut shot = Command::new(browser);
    common(&mut shot);
    let taken = shot.arg(format!("--screenshot={}", screenshot.display())).arg(&url).output().unwrap();
    assert!(taken.status.success(), "chromium --screenshot failed: {}", String::from_utf8_lossy(&taken.stderr));
    String::from_utf8(dumped.stdout).unwrap()
}
