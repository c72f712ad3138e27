//! What the load generator reads from the kernel about a process: its memory, its CPU
//! time, whether it still runs; and how often the kernel dropped a connection because a
//! listening socket's queue was full.
//!
//! Everything comes from `/proc`, so the figures are the kernel's own accounting, the
//! same whatever language the server is written in.

use std::time::Duration;

/// A process's resident memory in bytes (`VmRSS` in `/proc/PID/status`).
pub fn resident_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// How many connections the kernel has dropped since it started because the listening
/// socket's accept queue was full (`ListenOverflows` in `/proc/net/netstat`). A client
/// whose connection is dropped so tries again after a second. The counter is the whole
/// machine's; during a bench, the bench is what makes connections.
pub fn listen_overflows() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/netstat").ok()?;
    let mut lines = text.lines();
    while let (Some(names), Some(values)) = (lines.next(), lines.next()) {
        if !names.starts_with("TcpExt:") {
            continue;
        }
        let at = names
            .split_whitespace()
            .position(|n| n == "ListenOverflows")?;
        return values.split_whitespace().nth(at)?.parse().ok();
    }
    None
}

/// Whether process `pid` is still running (not gone, not a zombie waiting to be reaped).
pub fn is_running(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().next());
    !matches!(state, None | Some("Z" | "X"))
}

/// CPU time (user + system, all threads) a process has used so far, from
/// `/proc/PID/stat`. The kernel counts it in `USER_HZ` ticks, which Linux fixes at 100
/// per second in its user-space interface.
pub fn process_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: skip past it.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_own_memory_and_cpu() {
        let pid = std::process::id();
        assert!(resident_bytes(pid).unwrap() > 1 << 20);
        // Burn a little CPU so that at least one tick is counted.
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < Duration::from_millis(50) {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        assert!(x != 1);
        assert!(process_cpu(pid).unwrap() > Duration::ZERO);
        assert!(resident_bytes(u32::MAX).is_none());
        assert!(is_running(pid));
        assert!(listen_overflows().is_some());
        assert!(!is_running(u32::MAX));
    }
}
