//! Panic containment: a panic below glaux (a dependency choking on a corrupt file) fails the
//! statement that triggered it with a one-line error, and the session or process carries on.
//!
//! [`contain`] runs a future, catching a panic. While any contained future runs, the panic
//! hook keeps the panic's message for [`contain`] to return instead of printing Rust's
//! multi-line report; outside contained code the hook prints one `glaux:` line.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::FutureExt;

static CONTAINED: AtomicUsize = AtomicUsize::new(0);
static LAST_MESSAGE: Mutex<Option<String>> = Mutex::new(None);

/// Installs the hook; call once at start-up.
pub fn install_hook() {
    std::panic::set_hook(Box::new(|info| {
        let message = crate::error::one_line(&message(info));
        if CONTAINED.load(Ordering::SeqCst) > 0 {
            *LAST_MESSAGE.lock().unwrap_or_else(|e| e.into_inner()) = Some(message);
        } else {
            eprintln!("glaux: internal error: {message}");
        }
    }));
}

/// A panic's message and where it happened (`boom at src/x.rs:3`).
pub fn message(info: &std::panic::PanicHookInfo<'_>) -> String {
    let payload = info
        .payload()
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| info.payload().downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string());
    let location = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
    format!("{payload}{location}")
}

/// Runs `future`; a panic inside it becomes `Err(message)`.
pub async fn contain<F: Future>(future: F) -> Result<F::Output, String> {
    CONTAINED.fetch_add(1, Ordering::SeqCst);
    let result = AssertUnwindSafe(future).catch_unwind().await;
    CONTAINED.fetch_sub(1, Ordering::SeqCst);
    result.map_err(|_| {
        LAST_MESSAGE.lock().unwrap_or_else(|e| e.into_inner()).take().unwrap_or_else(|| "unknown panic".to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_becomes_its_message() {
        install_hook();
        assert_eq!(contain(async { 7 }).await, Ok(7));
        let err = contain(async { panic!("boom {}", 1) }).await.unwrap_err();
        assert!(err.starts_with("boom 1 at src/panics.rs:"), "{err}");
    }
}
