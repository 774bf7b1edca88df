//! Progress bars for long runs: drawn on stderr when it is a terminal, silent otherwise, so
//! piped and scheduled runs print only their results.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// A bar over `total` bytes of input.
pub fn bytes(total: u64, message: impl Into<String>) -> ProgressBar {
    let bar = visible(ProgressBar::new(total));
    bar.set_style(
        ProgressStyle::with_template("{msg} [{wide_bar}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(message.into());
    bar
}

/// A spinner counting rows written.
pub fn rows(message: impl Into<String>) -> ProgressBar {
    let bar = visible(ProgressBar::no_length());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} {human_pos} rows {per_sec} {elapsed}").expect("valid template"),
    );
    bar.set_message(message.into());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

fn visible(bar: ProgressBar) -> ProgressBar {
    match std::io::stderr().is_terminal() {
        true => bar,
        false => ProgressBar::hidden(),
    }
}
