//! Naming submissions after their folders, uniquely and deterministically.
//!
//! Two folders of the same name (possible in a list file: `a/ada`, `b/ada`) cannot both
//! be `ada`: the first by full path keeps the name, the others get the first free `-2`,
//! `-3`… A suffix never takes the name of another folder, and since the folders are
//! sorted first, the names do not depend on the order the file system lists them in.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::submissions::Submission;

/// Names each folder after itself; a name taken already gets the first free `-2`, `-3`…
pub fn name_all(mut dirs: Vec<PathBuf>) -> Vec<Submission> {
    let base = |d: &Path| {
        d.file_name().map_or_else(
            || "submission".to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    };
    dirs.sort_by(|a, b| (base(a), a).cmp(&(base(b), b)));
    let mut taken: BTreeSet<String> = dirs.iter().map(|d| base(d)).collect();
    let mut named: BTreeSet<String> = BTreeSet::new();
    let mut out: Vec<Submission> = Vec::new();
    for dir in dirs {
        let mut name = base(&dir);
        if !named.insert(name.clone()) {
            let stem = name.clone();
            name = (2..)
                .map(|n| format!("{stem}-{n}"))
                .find(|candidate| !taken.contains(candidate))
                .expect("some suffix is free");
            taken.insert(name.clone());
            named.insert(name.clone());
        }
        out.push(Submission { name, dir });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_collide_deterministically() {
        let dirs = ["/b/ada", "/a/ada", "/c/ada-2", "/d/bob"].map(PathBuf::from);
        let names: Vec<(String, String)> = name_all(dirs.to_vec())
            .into_iter()
            .map(|s| (s.name, s.dir.display().to_string()))
            .collect();
        let expected = [
            ("ada", "/a/ada"),
            ("ada-2", "/c/ada-2"),
            ("ada-3", "/b/ada"),
            ("bob", "/d/bob"),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(n, d)| (n.to_string(), d.to_string()))
            .collect();
        assert_eq!(names, expected);
        // The order the folders come in does not matter.
        let mut reversed = dirs.to_vec();
        reversed.reverse();
        let again: Vec<String> = name_all(reversed).into_iter().map(|s| s.name).collect();
        assert_eq!(again, ["ada", "ada-2", "ada-3", "bob"]);
    }
}
