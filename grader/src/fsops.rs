//! The file-system steps every grading shares: copying a crate, hashing what it
//! holds, and locking a folder against another grader.
//!
//! `compile` copies a submission into its scratch workspace, and `class` copies course
//! crates before grading them and hashes sources to skip what did not change. One copy
//! rule and one hash serve both, so what a class run hashes is exactly what it builds.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Copies a crate's files, leaving out build output (`target/`), hidden folders
/// (`.git`, `.cargo`, editor state) and symlinks: the sources, and nothing a
/// submission could use to reach outside its folder or change how it is built.
pub fn copy_crate(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            if !skipped_dir(&name.to_string_lossy()) {
                copy_crate(&entry.path(), &to.join(&name))?;
            }
        } else if kind.is_file() {
            std::fs::copy(entry.path(), to.join(&name))?;
        }
    }
    Ok(())
}

/// Folders [`copy_crate`] leaves out, and that a hash of a crate's sources must skip too.
pub fn skipped_dir(name: &str) -> bool {
    name == "target" || name.starts_with('.')
}

/// FNV-1a, 64 bits: a small stable hash to name folders after paths and to tell
/// versions of a crate apart. No defence against inputs made to collide on purpose.
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf29ce484222325)
    }
}

impl Fnv {
    pub fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100000001b3);
        }
    }

    /// Writes a length-prefixed field, so that no two inputs run together.
    pub fn field(&mut self, bytes: &[u8]) {
        self.write(&(bytes.len() as u64).to_le_bytes());
        self.write(bytes);
    }

    pub fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

/// The FNV-1a hash of `bytes`, as 16 hex digits.
pub fn fnv_hex(bytes: &[u8]) -> String {
    let mut hash = Fnv::default();
    hash.write(bytes);
    hash.hex()
}

/// Takes an exclusive lock on the file `path` (created if needed), waiting for any
/// other grader that holds it; the lock lasts as long as the returned `File`.
pub async fn lock_file(path: PathBuf) -> Result<File> {
    let shown = path.display().to_string();
    tokio::task::spawn_blocking(move || {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        file.lock()?;
        Ok::<_, std::io::Error>(file)
    })
    .await?
    .with_context(|| format!("Failed to take the grader's lock {shown}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_the_reference_values() {
        assert_eq!(fnv_hex(b""), "cbf29ce484222325");
        assert_eq!(fnv_hex(b"a"), "af63dc4c8601ec8c");
    }

    #[test]
    fn fields_do_not_run_together() {
        let (mut ab_c, mut a_bc) = (Fnv::default(), Fnv::default());
        ab_c.field(b"ab");
        ab_c.field(b"c");
        a_bc.field(b"a");
        a_bc.field(b"bc");
        assert_ne!(ab_c.hex(), a_bc.hex());
    }
}
