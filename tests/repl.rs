//! The REPL under a real pseudo-terminal: history across sessions, Tab completion of a table and
//! a column, Ctrl-C cancelling a running query while the session lives on, errors that return
//! to the prompt, multi-line statements and meta commands.

use rexpect::session::{PtySession, spawn_command};

use crate::support::TestProject;

const PROMPT: &str = "glaux> ";

fn open(project: &TestProject) -> PtySession {
    let mut command = project.glaux();
    command.arg("sql");
    let mut session = spawn_command(command, Some(60_000)).expect("spawn glaux under a pty");
    session.exp_string(PROMPT).expect("first prompt");
    session
}

fn quit(mut session: PtySession) {
    session.send_line("\\q").unwrap();
    session.exp_eof().expect("the REPL exits on \\q");
}

fn loaded_project() -> TestProject {
    let project = TestProject::new();
    project.ok(&["run"]);
    project
}

#[test]
fn history_survives_sessions() {
    let project = loaded_project();
    let mut first = open(&project);
    first.send_line("SELECT 40 + 2 AS answer;").unwrap();
    first.exp_string("42").unwrap();
    first.exp_string(PROMPT).unwrap();
    quit(first);

    let history = std::fs::read_to_string(project.home().join("data/glaux/history")).unwrap();
    assert!(history.contains("SELECT 40 + 2 AS answer;"), "{history}");

    let mut second = open(&project);
    second.send("\x1b[A\x1b[A").unwrap(); // Up twice: past `\q` to the query
    second.flush().unwrap();
    second.exp_string("SELECT 40 + 2 AS answer;").unwrap();
    second.send("\r").unwrap();
    second.flush().unwrap();
    second.exp_string("42").unwrap();
    second.exp_string(PROMPT).unwrap();
    quit(second);
}

#[test]
fn tab_completes_a_table_and_a_column() {
    let project = loaded_project();
    let mut session = open(&project);
    session.send("SELECT region_na\t").unwrap();
    session.flush().unwrap();
    session.exp_string("region_name").unwrap();
    session.send(" FROM customer_data.regi\t").unwrap();
    session.flush().unwrap();
    session.exp_string("customer_data.regions").unwrap();
    session.send(" WHERE country = 'FR';\r").unwrap();
    session.flush().unwrap();
    session.exp_string("France").unwrap();
    session.exp_string("(1 row)").unwrap();
    session.exp_string(PROMPT).unwrap();
    quit(session);
}

#[test]
fn a_long_query_shows_progress_and_ctrl_c_cancels_it_not_the_session() {
    let project = TestProject::new();
    let mut session = open(&project);
    session.send_line("SELECT sum(value % 7) AS s FROM range(1000000000000);").unwrap();
    // After a second the running query shows its progress: elapsed time and rows read.
    session.exp_regex(r"\d+\.\ds \| [\d,]+ rows").unwrap();
    session.send_control('c').unwrap();
    session.exp_string("query cancelled").unwrap();
    session.exp_string(PROMPT).unwrap();
    session.send_line("SELECT 'still here' AS status;").unwrap();
    session.exp_string("still here").unwrap();
    session.exp_string(PROMPT).unwrap();
    quit(session);
}

#[test]
fn an_error_prints_and_the_next_query_answers() {
    let project = loaded_project();
    let mut session = open(&project);
    session.send_line("SELEC oops;").unwrap();
    session.exp_string("glaux: ").unwrap();
    session.exp_string(PROMPT).unwrap();
    session.send_line("SELECT * FROM customer_data.missing;").unwrap();
    session.exp_string("missing").unwrap();
    session.exp_string(PROMPT).unwrap();
    session.send_line("SELECT count(*) AS n").unwrap();
    session.send_line("  FROM customer_data.customer_base_raw").unwrap();
    session.send_line(";").unwrap();
    session.exp_string("| 360 |").unwrap();
    session.exp_string(PROMPT).unwrap();
    quit(session);
}

#[test]
fn meta_commands_describe_the_registry() {
    let project = loaded_project();
    let sql_file = project.write("q.sql", "SELECT 'from a file' AS origin;\n");
    let mut session = open(&project);
    session.send_line("\\l").unwrap();
    session.exp_string("customer_data").unwrap();
    session.exp_string(PROMPT).unwrap();
    session.send_line("\\dt customer_data").unwrap();
    session.exp_string("customer_base_raw").unwrap();
    session.exp_string(PROMPT).unwrap();
    session.send_line("\\d customer_data.customer_base_raw").unwrap();
    session.exp_string("Email as typed, unvalidated").unwrap();
    session.exp_string("ingest_date").unwrap();
    session.exp_string("Location: file://").unwrap();
    session.exp_string(PROMPT).unwrap();
    session.send_line("\\format csv").unwrap();
    session.exp_string(PROMPT).unwrap();
    session.send_line("\\timing on").unwrap();
    session.exp_string(PROMPT).unwrap();
    session.send_line("SELECT 1 AS one, 2 AS two;").unwrap();
    session.exp_string("one,two").unwrap();
    session.exp_string("Time: ").unwrap();
    session.exp_string(PROMPT).unwrap();
    session.send_line(&format!("\\i {}", sql_file.display())).unwrap();
    session.exp_string("from a file").unwrap();
    session.exp_string(PROMPT).unwrap();
    session.send_line("\\bogus").unwrap();
    session.exp_string("unknown command").unwrap();
    session.exp_string(PROMPT).unwrap();
    session.send_line("\\?").unwrap();
    session.exp_string("list databases").unwrap();
    session.exp_string(PROMPT).unwrap();
    quit(session);
}

#[test]
fn long_loads_draw_a_progress_bar_on_a_terminal_only() {
    let project = TestProject::new();
    project.ok(&["demo", "generate", "--customers", "60000", "--seed", "2", "--out", "big"]);
    let mut command = project.glaux();
    command.args(["ingest", "csv", "big/crm_export_2026-11-01.csv", "--table", "customer_data.customer_base_raw"]);
    let mut session = spawn_command(command, Some(120_000)).expect("spawn glaux under a pty");
    session.exp_string("loading customer_data.customer_base_raw").expect("a progress bar on the terminal");
    session.exp_string("1 file(s) loaded").unwrap();
    session.exp_eof().unwrap();

    let piped =
        project.run(&["ingest", "csv", "big/crm_export_2026-11-15.csv", "--table", "customer_data.customer_base_raw"]);
    assert!(piped.status.success());
    assert!(!String::from_utf8_lossy(&piped.stderr).contains("loading"), "no progress bar when piped");
}
