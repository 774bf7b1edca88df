//! What this process used: CPU time and peak memory, as the kernel counts them.
//!
//! The run history records both for every run ([`crate::history::record`]). CPU time is the
//! process's user plus system time (`getrusage`); peak memory is the resident set's high-water
//! mark (`VmHWM`), which Linux lets a process reset (`/proc/self/clear_refs`), so a run's peak is
//! its own even when the process ran something before it. Elsewhere it is the process's peak.

/// CPU seconds (user + system) this process has used so far.
pub fn cpu_seconds() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a complete rusage into the pointer it is given.
    let usage = unsafe {
        if libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) != 0 {
            return 0.0;
        }
        usage.assume_init()
    };
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// CPU seconds and peak resident bytes of a child that [`libc::wait4`] reaped.
pub fn of_child(usage: &libc::rusage) -> (f64, u64) {
    (seconds(usage.ru_utime) + seconds(usage.ru_stime), max_rss_bytes(usage))
}

fn seconds(time: libc::timeval) -> f64 {
    time.tv_sec as f64 + time.tv_usec as f64 / 1e6
}

fn max_rss_bytes(usage: &libc::rusage) -> u64 {
    // Linux reports kilobytes.
    (usage.ru_maxrss.max(0) as u64) * 1024
}

/// Starts a new peak-memory measurement (Linux); returns whether the peak was reset.
pub fn reset_peak_memory() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// The highest resident memory of this process since the last [`reset_peak_memory`], in bytes.
pub fn peak_memory() -> u64 {
    let from_status = std::fs::read_to_string("/proc/self/status").ok().and_then(|status| {
        let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
        let kb: u64 = line.trim_start_matches("VmHWM:").trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kb * 1024)
    });
    from_status.unwrap_or_else(|| {
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: as in cpu_seconds.
        unsafe {
            if libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) != 0 {
                return 0;
            }
            max_rss_bytes(&usage.assume_init())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_grows_and_peak_memory_follows_allocation() {
        let before = cpu_seconds();
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(cpu_seconds() > before);
        reset_peak_memory();
        let block = vec![1u8; 64 << 20];
        std::hint::black_box(&block);
        assert!(peak_memory() >= 64 << 20, "{}", peak_memory());
    }
}
