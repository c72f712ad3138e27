//! What grading produces: one outcome per hint, gathered in a stage report.
//!
//! Every phase (static checks, build, live probes) returns these values and prints
//! nothing; `report/` turns them into text, JSON, JUnit or TAP. Keeping the evidence
//! structured (what was sent, what came back, what was expected, what the server
//! printed) is what lets each format show it in its own way.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};

use crate::catalogue::{Hint, Stage};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Pass,
    Fail,
    /// Not evaluated, because something it depends on failed first (the build).
    NotRun,
}

/// The result of one hint, with what a learner needs to understand a failure.
///
/// It also reads back from its JSON (`cargo grade class` keeps reports to reuse them).
#[derive(Debug, Clone, Serialize)]
pub struct HintOutcome {
    pub id: String,
    pub kind: &'static str,
    pub text: String,
    pub help: String,
    pub points: u32,
    pub status: Status,
    /// One or two sentences: what went wrong (or why it was not run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Evidence::is_empty")]
    pub evidence: Evidence,
}

/// A [`HintOutcome`] as read back, before its kind becomes the `&'static str` that
/// [`Check::kind`](crate::catalogue::Check::kind) gives.
#[derive(Deserialize)]
struct StoredHint {
    id: String,
    kind: String,
    text: String,
    help: String,
    points: u32,
    status: Status,
    reason: Option<String>,
    #[serde(default)]
    evidence: Evidence,
}

// By hand: a derive would tie `'de` to the `'static` of `kind`.
impl<'de> Deserialize<'de> for HintOutcome {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<HintOutcome, D::Error> {
        let stored = StoredHint::deserialize(deserializer)?;
        let kind = ["dependency", "pattern", "live"]
            .into_iter()
            .find(|known| *known == stored.kind)
            .ok_or_else(|| D::Error::custom(format!("unknown hint kind `{}`", stored.kind)))?;
        Ok(HintOutcome {
            id: stored.id,
            kind,
            text: stored.text,
            help: stored.help,
            points: stored.points,
            status: stored.status,
            reason: stored.reason,
            evidence: stored.evidence,
        })
    }
}

/// What the grader saw while checking a hint.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Evidence {
    /// The conversation with the server, in order, already bounded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transcript: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// The last lines the server printed, when it was running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_output: Option<OutputTail>,
}

impl Evidence {
    pub fn is_empty(&self) -> bool {
        self.transcript.is_empty() && self.expected.is_none() && self.server_output.is_none()
    }
}

/// The end of what a server printed, bounded, with how much there was in all.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct OutputTail {
    pub lines: Vec<String>,
    pub total_lines: u64,
    pub total_bytes: u64,
}

impl HintOutcome {
    pub fn new(hint: &Hint, status: Status, reason: Option<String>, evidence: Evidence) -> Self {
        HintOutcome {
            id: hint.id.clone(),
            kind: hint.check.kind(),
            text: hint.text.clone(),
            help: hint.help.clone(),
            points: hint.points,
            status,
            reason,
            evidence,
        }
    }

    pub fn pass(hint: &Hint) -> Self {
        HintOutcome::new(hint, Status::Pass, None, Evidence::default())
    }

    pub fn fail(hint: &Hint, reason: impl Into<String>) -> Self {
        HintOutcome::new(hint, Status::Fail, Some(reason.into()), Evidence::default())
    }
}

/// How the build went. `errors` holds the compiler's own first messages.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BuildOutcome {
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub errors: String,
    /// The build was stopped at its time limit: the submission's fault only if it loops,
    /// so a class run reports it as an error rather than as code that does not compile.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub timed_out: bool,
}

/// Everything known after grading one stage checkout.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageReport {
    pub stage: String,
    pub title: String,
    /// The graded folder, relative to the course root when inside it.
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build: Option<BuildOutcome>,
    pub hints: Vec<HintOutcome>,
    pub elapsed_ms: u64,
}

impl StageReport {
    pub fn new(stage: &Stage, path: String) -> Self {
        StageReport {
            stage: stage.id.clone(),
            title: stage.title.clone(),
            path,
            build: None,
            hints: Vec::new(),
            elapsed_ms: 0,
        }
    }

    pub fn passed(&self) -> bool {
        self.hints.iter().all(|h| h.status == Status::Pass)
    }

    pub fn score(&self) -> u32 {
        self.hints
            .iter()
            .filter(|h| h.status == Status::Pass)
            .map(|h| h.points)
            .sum()
    }

    pub fn max_score(&self) -> u32 {
        self.hints.iter().map(|h| h.points).sum()
    }

    pub fn count(&self, status: Status) -> usize {
        self.hints.iter().filter(|h| h.status == status).count()
    }

    pub fn first_failing(&self) -> Option<&HintOutcome> {
        self.hints.iter().find(|h| h.status != Status::Pass)
    }
}
