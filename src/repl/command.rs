//! Meta commands (`\?`, `\dt`, `\format csv`, …): one enum, parsed with `FromStr`, and one table
//! that both the parser's error messages and `\?` read from.

use std::path::PathBuf;
use std::str::FromStr;

use crate::engine::exec::OutputFormat;

/// A backslash command typed at the prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetaCommand {
    /// `\?`: list the meta commands.
    Help,
    /// `\q`: leave.
    Quit,
    /// `\l`: list databases.
    ListDatabases,
    /// `\dt [db]`: list tables, of one database or all.
    ListTables(Option<String>),
    /// `\d table`: describe a table.
    Describe(String),
    /// `\timing [on|off]`: toggle or set timing.
    Timing(Option<bool>),
    /// `\format table|csv|json|ndjson`: set the output format.
    Format(OutputFormat),
    /// `\i file`: run the SQL in a file.
    Include(PathBuf),
}

/// `(command, arguments, what it does)` for every meta command, in `\?` order.
pub const COMMANDS: &[(&str, &str, &str)] = &[
    ("\\?", "", "show this list"),
    ("\\q", "", "quit (Ctrl-D also quits)"),
    ("\\l", "", "list databases"),
    ("\\dt", "[DATABASE]", "list tables, of one database or all"),
    ("\\d", "DATABASE.TABLE", "describe a table: columns, types, comments, partition keys, location"),
    ("\\timing", "[on|off]", "show how long each statement takes"),
    ("\\format", "table|csv|json|ndjson", "set the output format"),
    ("\\i", "FILE", "run the SQL statements in FILE"),
];

/// The `\?` text.
pub fn help_text() -> String {
    let mut text = String::from("Meta commands:\n");
    for (name, args, what) in COMMANDS {
        text.push_str(&format!("  {:<32} {what}\n", format!("{name} {args}")));
    }
    text.push_str("SQL statements end with `;` and may span lines. Ctrl-C cancels a running query.\n");
    text
}

impl FromStr for MetaCommand {
    type Err = String;

    fn from_str(line: &str) -> Result<Self, Self::Err> {
        let line = line.trim().trim_end_matches(';').trim();
        let (name, arg) = match line.split_once(char::is_whitespace) {
            Some((name, arg)) => (name, Some(arg.trim()).filter(|a| !a.is_empty())),
            None => (line, None),
        };
        let usage = || {
            let (_, args, _) = COMMANDS.iter().find(|(n, _, _)| *n == name).expect("listed command");
            format!("usage: {name} {args}")
        };
        match (name, arg) {
            ("\\?" | "\\h" | "\\help", None) => Ok(MetaCommand::Help),
            ("\\q" | "\\quit", None) => Ok(MetaCommand::Quit),
            ("\\l", None) => Ok(MetaCommand::ListDatabases),
            ("\\dt", arg) => Ok(MetaCommand::ListTables(arg.map(str::to_string))),
            ("\\d", Some(table)) => Ok(MetaCommand::Describe(table.to_string())),
            ("\\d", None) => Err(usage()),
            ("\\timing", None) => Ok(MetaCommand::Timing(None)),
            ("\\timing", Some("on")) => Ok(MetaCommand::Timing(Some(true))),
            ("\\timing", Some("off")) => Ok(MetaCommand::Timing(Some(false))),
            ("\\timing", Some(_)) => Err(usage()),
            ("\\format", Some(format)) => format.parse().map(MetaCommand::Format),
            ("\\format", None) => Err(usage()),
            ("\\i", Some(file)) => Ok(MetaCommand::Include(PathBuf::from(file))),
            ("\\i", None) => Err(usage()),
            ("\\q" | "\\l" | "\\?", Some(_)) => Err(format!("{name} takes no argument")),
            _ => Err(format!("unknown command {name}; \\? lists the commands")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_command_parses() {
        let examples = ["\\?", "\\q", "\\l", "\\dt db", "\\d db.t", "\\timing", "\\format csv", "\\i x.sql"];
        for (example, (name, _, _)) in examples.iter().zip(COMMANDS) {
            assert!(example.starts_with(name));
            assert!(example.parse::<MetaCommand>().is_ok(), "{example}");
        }
        assert_eq!(COMMANDS.len(), examples.len());
    }

    #[test]
    fn arguments_and_mistakes() {
        assert_eq!("\\dt".parse(), Ok(MetaCommand::ListTables(None)));
        assert_eq!("\\dt sales ;".parse(), Ok(MetaCommand::ListTables(Some("sales".into()))));
        assert_eq!("\\timing off".parse(), Ok(MetaCommand::Timing(Some(false))));
        assert_eq!("\\format NDJSON".parse(), Ok(MetaCommand::Format(OutputFormat::Ndjson)));
        assert!("\\format xml".parse::<MetaCommand>().unwrap_err().contains("unknown format"));
        assert_eq!("\\d".parse::<MetaCommand>().unwrap_err(), "usage: \\d DATABASE.TABLE");
        assert!("\\zz".parse::<MetaCommand>().unwrap_err().contains("\\? lists"));
    }
}
