//! The open-files limit: every socket is a file descriptor, in the server and in the
//! load generator alike, and 5,000 sockets do not fit the common default of 1,024.
//!
//! The grader raises its own limit before it starts anything; the server and the load
//! generator inherit it.

use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// Descriptors a process needs besides its sockets (files, pipes, the database).
const SPARE_FILES: u64 = 256;

/// What became of the open-files limit.
#[derive(Debug, Clone)]
pub struct FileLimit {
    /// The soft limit now in force (the servers inherit it).
    pub soft: u64,
    /// What the bench did or could not do, in a sentence for the report.
    pub note: String,
}

impl FileLimit {
    /// How many sockets one process can hold under this limit.
    pub fn sockets(&self) -> u64 {
        self.soft.saturating_sub(SPARE_FILES)
    }
}

/// Raises this process's soft limit on open files so that `sockets` fit, up to the hard
/// limit; as root, the hard limit too. The servers the bench starts inherit the result.
pub fn raise_file_limit(sockets: u64) -> FileLimit {
    let want = sockets + SPARE_FILES;
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return FileLimit {
            soft: 1024,
            note: "the open-files limit could not be read; assumed 1024".into(),
        };
    };
    if soft >= want {
        return FileLimit {
            soft,
            note: format!("open files: {soft} allowed, enough"),
        };
    }
    // Raising the hard limit needs privilege (root, or CAP_SYS_RESOURCE); try it first.
    if hard < want && setrlimit(Resource::RLIMIT_NOFILE, want, want).is_ok() {
        return FileLimit {
            soft: want,
            note: format!(
                "open files: limit raised from {soft} to {want} (hard limit {hard} raised too)"
            ),
        };
    }
    let new_soft = want.min(hard);
    match setrlimit(Resource::RLIMIT_NOFILE, new_soft, hard) {
        Ok(()) if new_soft >= want => FileLimit {
            soft: new_soft,
            note: format!("open files: limit raised from {soft} to {new_soft}"),
        },
        Ok(()) => FileLimit {
            soft: new_soft,
            note: format!(
                "open files: the hard limit is {hard} and cannot be raised without root \
                 (`ulimit -Hn`; /etc/security/limits.conf); the soft limit was raised from \
                 {soft} to {new_soft}"
            ),
        },
        Err(e) => FileLimit {
            soft,
            note: format!("open files: could not raise the limit of {soft} ({e})"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_fits_a_few_sockets() {
        let limit = raise_file_limit(64);
        assert!(limit.sockets() >= 64, "{limit:?}");
    }
}
