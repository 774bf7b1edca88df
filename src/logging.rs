//! Logging: `RUST_LOG` through tracing to stderr, with credentials redacted from every line.
//!
//! The AWS SDK prints the credentials it resolved in its debug and trace events (its
//! `Credentials` type hides the secret and the session token, not the access key ID), and any
//! library may print a value it was given. Each log line is therefore written through
//! [`redact`]: the access key ID field of the SDK's `Credentials`, and the values of the
//! credential variables of this process's environment, become `** redacted **`.

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;

const REDACTED: &str = "** redacted **";

/// The environment variables whose values are credentials.
const SECRET_VARIABLES: [&str; 3] = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"];

/// What is logged without `RUST_LOG`: warnings, except Ballista's client logging a failed
/// query's error, which glaux reports itself as its one line.
const DEFAULT_FILTER: &str = "warn,ballista_core::execution_plans::distributed_query=off";

/// Installs the subscriber: the `RUST_LOG` filter ([`DEFAULT_FILTER`] without it), stderr,
/// colour on a terminal only.
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| DEFAULT_FILTER.into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| Redacting(std::io::stderr()))
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// `line` with every credential replaced.
pub fn redact(line: &str) -> std::borrow::Cow<'_, str> {
    static PATTERN: OnceLock<regex::Regex> = OnceLock::new();
    static SECRETS: OnceLock<Vec<String>> = OnceLock::new();
    let pattern = PATTERN.get_or_init(|| regex::Regex::new(r#"access_key_id: "[^"]*""#).expect("a valid pattern"));
    let secrets = SECRETS.get_or_init(|| {
        // Short values would redact ordinary words; real keys are 16 characters and more.
        SECRET_VARIABLES.iter().filter_map(|name| std::env::var(name).ok()).filter(|v| v.len() >= 8).collect()
    });
    let mut text = pattern.replace_all(line, format!(r#"access_key_id: "{REDACTED}""#));
    for secret in secrets {
        if text.contains(secret.as_str()) {
            text = std::borrow::Cow::Owned(text.replace(secret.as_str(), REDACTED));
        }
    }
    text
}

/// A writer that redacts each write. The formatter writes an event as one `write_all` of the
/// whole line, so a credential is never split across writes.
struct Redacting<W: Write>(W);

impl<W: Write> Write for Redacting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(redact(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sdk_credentials_field_is_redacted() {
        let line = r#"Identity { data: Credentials { provider_name: "Env", access_key_id: "AKIAEXAMPLE", secret_access_key: "** redacted **" } }"#;
        let redacted = redact(line);
        assert!(!redacted.contains("AKIAEXAMPLE"), "{redacted}");
        assert!(redacted.contains(r#"access_key_id: "** redacted **""#), "{redacted}");
        assert_eq!(redact("nothing secret here"), "nothing secret here");
    }
}
