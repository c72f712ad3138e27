//! `cargo grade merge OUT DIR...`: the shards of a class, combined into one `--out`.
//!
//! Each DIR is the `--out` folder of a `cargo grade class` run. Their `run.json` files must
//! agree on the grader version, the stage and the catalogue entries graded; otherwise their
//! results would not compare, and the merge stops and says what differs. Each pair is read
//! back whole from its DIR's `.cache/` (its hash checked against `run.json`), so OUT gets
//! the same files a single run over the whole class writes. A pair found in two DIRs (two
//! shards that overlap) is reported, and the first DIR's result is kept.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::Result;

use super::record::{self, RunInfo, RunRecord};
use super::{ClassFormat, Graded, cache, files, finish, sort};
use crate::commands::UsageError;

/// `cargo grade merge OUT DIR...`
pub fn run(out: PathBuf, dirs: Vec<PathBuf>, format: ClassFormat) -> Result<ExitCode> {
    let records: Vec<RunRecord> = dirs
        .iter()
        .map(|dir| read_record(dir))
        .collect::<Result<_, _>>()?;
    let (first, first_dir) = (&records[0], &dirs[0]);
    for (record, dir) in records.iter().zip(&dirs).skip(1) {
        agree(first, first_dir, record, dir)?;
    }

    let mut seen: BTreeMap<(String, Option<String>), usize> = BTreeMap::new();
    let mut duplicates = Vec::new();
    let mut results: Vec<Graded> = Vec::new();
    for (i, (record, dir)) in records.iter().zip(&dirs).enumerate() {
        for entry in &record.results {
            let key = (entry.submission.clone(), entry.stage.clone());
            if let Some(&kept) = seen.get(&key) {
                duplicates.push(format!(
                    "{} is in both {} and {}: kept the one from {}.",
                    super::label(&entry.submission, entry.stage.as_deref()),
                    dirs[kept].display(),
                    dir.display(),
                    dirs[kept].display()
                ));
                continue;
            }
            let stem = entry.stage.as_deref().unwrap_or("unknown-stage");
            let stored = cache::read(dir, &entry.submission, stem)
                .ok()
                .filter(|g| g.hash == entry.hash && g.error == entry.error);
            let Some(mut graded) = stored else {
                return Err(UsageError(format!(
                    "{} lists {}, but its .cache/{}/{stem}.json is missing or from another run: \
                     was the folder changed after the run? Grade that shard again.",
                    dir.join("run.json").display(),
                    super::label(&entry.submission, entry.stage.as_deref()),
                    entry.submission
                ))
                .into());
            };
            graded.unchanged = entry.unchanged;
            seen.insert(key, i);
            results.push(graded);
        }
    }
    sort(&mut results);

    let out_dir = files::OutDir::open(&out)?;
    let mut submissions: Vec<&str> = records.iter().map(|r| r.submissions.as_str()).collect();
    submissions.dedup();
    let record = RunRecord::new(RunInfo {
        stage: first.stage.clone(),
        catalogue: first.catalogue.clone(),
        submissions: submissions.join(", "),
        shard: None,
        started_at: SystemTime::now(),
        jobs: records.iter().map(|r| r.jobs).max().unwrap_or(1),
        // The shards ran side by side: the class took as long as the slowest one.
        elapsed: Duration::from_millis(records.iter().map(|r| r.elapsed_ms).max().unwrap_or(0)),
        force: records.iter().any(|r| r.force),
        grader_build: first.grader_build.clone(),
        sandbox: {
            let mut ways: Vec<&str> = records.iter().map(|r| r.sandbox.as_str()).collect();
            ways.dedup();
            ways.join(" | ")
        },
        merged_from: dirs.iter().map(|d| d.display().to_string()).collect(),
        results: &results,
    });
    out_dir.write(&record, &results)?;
    for duplicate in &duplicates {
        eprintln!("warning: {duplicate}");
    }
    finish(format, &record, &results, &out);
    Ok(ExitCode::SUCCESS)
}

fn read_record(dir: &Path) -> Result<RunRecord, UsageError> {
    let path = dir.join("run.json");
    let text = std::fs::read_to_string(&path).map_err(|_| {
        UsageError(format!(
            "{} has no run.json: give the --out folders of `cargo grade class` runs.",
            dir.display()
        ))
    })?;
    let record: RunRecord = serde_json::from_str(&text).map_err(|e| {
        UsageError(format!(
            "{} is not a run record this grader can read ({e}).",
            path.display()
        ))
    })?;
    if record.format_version > record::FORMAT_VERSION {
        return Err(UsageError(format!(
            "{} was written by a newer grader (format {}): merge with that grader.",
            path.display(),
            record.format_version
        )));
    }
    Ok(record)
}

/// Whether two runs graded the same thing with the same grader.
fn agree(a: &RunRecord, a_dir: &Path, b: &RunRecord, b_dir: &Path) -> Result<(), UsageError> {
    let (a_dir, b_dir) = (a_dir.display(), b_dir.display());
    if a.grader_version != b.grader_version {
        return Err(UsageError(format!(
            "Cannot merge runs of different grader versions: {a_dir} was graded by {}, {b_dir} by \
             {}. Grade every shard with the same grader.",
            a.grader_version, b.grader_version
        )));
    }
    if a.stage != b.stage {
        return Err(UsageError(format!(
            "Cannot merge runs of different stages: {a_dir} graded `{}`, {b_dir} graded `{}`.",
            a.stage, b.stage
        )));
    }
    if a.catalogue != b.catalogue {
        return Err(UsageError(format!(
            "Cannot merge runs graded against different catalogues: the hints of `{}` differ \
             between {a_dir} and {b_dir}. Grade every shard from the same checkout of the course.",
            a.stage
        )));
    }
    Ok(())
}
