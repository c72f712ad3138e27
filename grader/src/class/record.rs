//! `run.json`: what a run graded, with which grader and catalogue, when, and how.
//!
//! It lists every pair with its verdict and content hash; the pairs' full results are in
//! `.cache/`. `cargo grade merge` reads both, and refuses runs whose grader version,
//! stage or catalogue entries differ, since their results would not compare.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::{Graded, Verdict, cache};
use crate::catalogue::Catalogue;

/// The `run.json` format this grader writes and reads.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    pub format_version: u32,
    pub grader_version: String,
    /// The grader's version and a hash of its binary: what the cache keys on.
    pub grader_build: String,
    /// How the submissions were isolated: the sandbox and its limits, or why none.
    #[serde(default)]
    pub sandbox: String,
    /// The stage graded, or `all`.
    pub stage: String,
    /// A fingerprint of each graded stage's catalogue entry, by stage id.
    pub catalogue: BTreeMap<String, String>,
    /// SUBMISSIONS as given on the command line.
    pub submissions: String,
    pub shard: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<String>,
    /// When the run started, in UTC (RFC 3339).
    pub started_at: String,
    pub jobs: usize,
    pub elapsed_ms: u64,
    pub force: bool,
    pub counts: Counts,
    pub results: Vec<Entry>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub submissions: usize,
    pub pairs: usize,
    pub passed: usize,
    pub failed: usize,
    pub errors: usize,
    /// Pairs graded in this run (the others were unchanged, or errors found before grading).
    pub graded: usize,
    pub unchanged: usize,
}

/// One pair, in short; its full result is `.cache/SUBMISSION/STAGE.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub submission: String,
    pub stage: Option<String>,
    pub status: Verdict,
    pub score: u32,
    pub max_score: u32,
    pub hash: Option<String>,
    pub unchanged: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What a record is made from.
pub struct RunInfo<'a> {
    pub stage: String,
    /// From [`fingerprints`].
    pub catalogue: BTreeMap<String, String>,
    pub submissions: String,
    pub shard: Option<String>,
    pub started_at: SystemTime,
    pub jobs: usize,
    pub elapsed: Duration,
    pub force: bool,
    pub grader_build: String,
    pub sandbox: String,
    pub merged_from: Vec<String>,
    pub results: &'a [Graded],
}

impl RunRecord {
    pub fn new(info: RunInfo<'_>) -> RunRecord {
        RunRecord {
            format_version: FORMAT_VERSION,
            grader_version: env!("CARGO_PKG_VERSION").to_string(),
            grader_build: info.grader_build,
            sandbox: info.sandbox,
            stage: info.stage,
            catalogue: info.catalogue,
            submissions: info.submissions,
            shard: info.shard,
            merged_from: info.merged_from,
            started_at: rfc3339(info.started_at),
            jobs: info.jobs,
            elapsed_ms: info.elapsed.as_millis() as u64,
            force: info.force,
            counts: counts(info.results),
            results: info.results.iter().map(entry).collect(),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("records serialize")
    }

    /// `5 submissions · 2 passed · 2 failed · 1 error. 4 graded, 0 unchanged …`
    pub fn counts_line(&self) -> String {
        let c = &self.counts;
        let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        let results = format!(
            "{} · {} passed · {} failed · {}",
            plural(c.submissions, "submission"),
            c.passed,
            c.failed,
            plural(c.errors, "error"),
        );
        format!(
            "{results}. {} graded, {} unchanged (not regraded), in {:.1} s with {}.",
            c.graded,
            c.unchanged,
            self.elapsed_ms as f64 / 1000.0,
            plural(self.jobs, "job"),
        )
    }
}

/// The fingerprint of each stage's catalogue entry graded by a run of `stage` (an id or
/// `all`).
pub fn fingerprints(catalogue: &Catalogue, stage: &str) -> BTreeMap<String, String> {
    catalogue
        .stages
        .iter()
        .filter(|s| stage == "all" || stage == s.id)
        .map(|s| (s.id.clone(), cache::stage_fingerprint(s)))
        .collect()
}

fn counts(results: &[Graded]) -> Counts {
    let names: BTreeSet<&str> = results.iter().map(|g| g.submission.as_str()).collect();
    let verdicts = |v| results.iter().filter(|g| g.verdict() == v).count();
    Counts {
        submissions: names.len(),
        pairs: results.len(),
        passed: verdicts(Verdict::Passed),
        failed: verdicts(Verdict::Failed),
        errors: verdicts(Verdict::Error),
        graded: results
            .iter()
            .filter(|g| !g.unchanged && g.hash.is_some())
            .count(),
        unchanged: results.iter().filter(|g| g.unchanged).count(),
    }
}

fn entry(graded: &Graded) -> Entry {
    Entry {
        submission: graded.submission.clone(),
        stage: graded.stage().map(String::from),
        status: graded.verdict(),
        score: graded.report.score(),
        max_score: graded.report.max_score(),
        hash: graded.hash.clone(),
        unchanged: graded.unchanged,
        error: graded.error.clone(),
    }
}

/// `2026-05-17T09:30:00Z`: a time in UTC, to the second.
pub fn rfc3339(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_times() {
        let at = |secs| rfc3339(UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_767_225_599), "2025-12-31T23:59:59Z");
    }
}
