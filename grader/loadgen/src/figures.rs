//! The figures a bench measures, and how they are printed: a table with one column per
//! server, so a learner reads their server's figure beside the reference's, or JSON.

use serde::{Deserialize, Serialize};

/// Everything measured of one server.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Figures {
    /// Which server: "your server", "reference solution", "Node.js peer (…)".
    pub target: String,
    /// How many sockets the bench meant to hold at once.
    pub clients: usize,
    pub websocket: Option<Connect>,
    pub memory: Option<Memory>,
    pub acks: Option<Acks>,
    pub room: Option<Room>,
    pub logout: Option<Logout>,
    pub refusals: Option<Refusals>,
    pub polling: Option<Connect>,
    /// CPU time spent in each phase, by the server, the load generator and the database.
    pub cpu: Vec<PhaseCpu>,
    /// What went wrong, in sentences; a phase that could not run says why here.
    pub problems: Vec<String>,
}

/// A storm of handshakes.
#[derive(Debug, Serialize, Deserialize)]
pub struct Connect {
    pub attempted: usize,
    pub connected: usize,
    /// Sockets connected per second, from the first attempt to the last success.
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub refused: usize,
    pub failed: usize,
    /// Handshakes still unfinished when the phase's time was up.
    pub unfinished: usize,
    pub first_problem: Option<String>,
    /// Events the sockets received while the others connected (announcements).
    pub events_received: u64,
    pub seconds: f64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Memory {
    pub idle_bytes: u64,
    pub loaded_bytes: u64,
    pub sockets: usize,
    /// `(loaded - idle) / sockets`.
    pub per_socket_bytes: u64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Acks {
    /// `whoami`s answered with the user, in time.
    pub count: u64,
    /// `whoami`s answered with a refusal (a server's budget of events per socket).
    pub refused: u64,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub sockets: usize,
    pub seconds: f64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Room {
    pub sockets: usize,
    /// Each round: milliseconds until the last socket had the message (`None`: some
    /// never got it in time).
    pub rounds_ms: Vec<Option<f64>>,
    pub median_ms: Option<f64>,
    /// The fewest sockets that got a round's message.
    pub fewest_reached: usize,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Logout {
    pub sockets: usize,
    pub answer_ms: f64,
    /// Until the last socket of the session was disconnected.
    pub all_gone_ms: Option<f64>,
    pub gone: usize,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Refusals {
    pub refused: u64,
    /// Handshakes without a session that the server let in: a security bug.
    pub accepted: u64,
    pub failed: u64,
    pub per_second: f64,
    pub seconds: f64,
    pub first_problem: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct PhaseCpu {
    pub phase: String,
    /// Connections the kernel dropped during the phase because the server's accept
    /// queue was full (each costs its client a second before it tries again).
    pub listen_overflows: Option<u64>,
    pub wall_s: f64,
    pub server_s: Option<f64>,
    pub load_s: f64,
    pub database_s: Option<f64>,
}

/// The `q` quantile (0..=1) of `sorted` microseconds, in milliseconds.
pub fn quantile_ms(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64 / 1000.0
}

/// `12,345`
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn rate(per_second: f64) -> String {
    thousands(per_second.round() as u64)
}

fn ms(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0} ms")
    } else if value >= 10.0 {
        format!("{value:.1} ms")
    } else {
        format!("{value:.2} ms")
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

fn kib(bytes: u64) -> String {
    format!("{:.1} KiB", bytes as f64 / 1024.0)
}

/// Connections the kernel dropped in `phase` because the accept queue was full.
fn overflows(f: &Figures, phase: &str) -> Option<String> {
    let p = f.cpu.iter().find(|p| p.phase == phase)?;
    p.listen_overflows.map(thousands)
}

/// Rows of the table being built: a label and one cell per server.
struct Table<'a> {
    all: &'a [Figures],
    rows: Vec<(String, Vec<String>)>,
}

impl Table<'_> {
    /// A row whose cells `cell` fills, with a dash where a server has no figure.
    fn row(&mut self, label: &str, cell: impl Fn(&Figures) -> Option<String>) {
        let cells = self
            .all
            .iter()
            .map(|f| cell(f).unwrap_or_else(|| "—".into()))
            .collect();
        self.rows.push((label.to_string(), cells));
    }

    /// The rows of a connect phase.
    fn connect(&mut self, title: &str, pick: fn(&Figures) -> Option<&Connect>) {
        self.row(&format!("{title}: connections/s"), |f| {
            pick(f).map(|c| rate(c.per_second))
        });
        self.row("  connected", |f| {
            pick(f).map(|c| {
                format!(
                    "{} of {}",
                    thousands(c.connected as u64),
                    thousands(c.attempted as u64)
                )
            })
        });
        self.row("  handshake p50 / p99", |f| {
            pick(f)
                .filter(|c| c.connected > 0)
                .map(|c| format!("{} / {}", ms(c.p50_ms), ms(c.p99_ms)))
        });
    }
}

/// The table: a row per figure, a column per server.
pub fn render(all: &[Figures]) -> String {
    let n = all.first().map_or(0, |f| f.clients);
    let mut table = Table {
        all,
        rows: Vec::new(),
    };
    table.connect("WebSocket", |f| f.websocket.as_ref());
    table.row("  connections dropped, queue full", |f| {
        overflows(f, "WebSocket connect")
    });
    table.row("  events received meanwhile", |f| {
        f.websocket.as_ref().map(|c| thousands(c.events_received))
    });
    table.row("memory: idle", |f| {
        f.memory.as_ref().map(|m| mib(m.idle_bytes))
    });
    table.row("  with the sockets", |f| {
        f.memory.as_ref().map(|m| mib(m.loaded_bytes))
    });
    table.row("  per socket", |f| {
        f.memory.as_ref().map(|m| kib(m.per_socket_bytes))
    });
    table.row("whoami acks/s", |f| {
        f.acks.as_ref().map(|a| rate(a.per_second))
    });
    table.row("  refused as too many", |f| {
        f.acks.as_ref().map(|a| thousands(a.refused))
    });
    table.row("  ack p50 / p99", |f| {
        f.acks
            .as_ref()
            .filter(|a| a.count > 0)
            .map(|a| format!("{} / {}", ms(a.p50_ms), ms(a.p99_ms)))
    });
    table.row("event to user:{id}, all sockets", |f| {
        f.room.as_ref().map(|r| match r.median_ms {
            Some(m) if r.fewest_reached == r.sockets => format!("{} (median)", ms(m)),
            _ => format!("reached {} of {}", r.fewest_reached, r.sockets),
        })
    });
    table.row("logout: answer", |f| {
        f.logout.as_ref().map(|l| ms(l.answer_ms))
    });
    table.row("  all sockets disconnected", |f| {
        f.logout.as_ref().map(|l| match l.all_gone_ms {
            Some(t) => ms(t),
            None => format!("{} of {} only", l.gone, l.sockets),
        })
    });
    table.row("refused handshakes/s", |f| {
        f.refusals.as_ref().map(|r| rate(r.per_second))
    });
    table.row("  let in without a session", |f| {
        f.refusals.as_ref().map(|r| thousands(r.accepted))
    });
    table.connect("Polling", |f| f.polling.as_ref());
    table.row("  connections dropped, queue full", |f| {
        overflows(f, "polling connect")
    });
    let rows = table.rows;

    let label_width = rows
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0);
    let widths: Vec<usize> = (0..all.len())
        .map(|i| {
            rows.iter()
                .map(|(_, cells)| cells[i].chars().count())
                .chain(std::iter::once(all[i].target.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = format!(
        "{:label_width$}",
        format!("{} sockets", thousands(n as u64))
    );
    for (f, w) in all.iter().zip(&widths) {
        out.push_str(&format!("   {:>w$}", f.target));
    }
    out.push('\n');
    for (label, cells) in &rows {
        out.push_str(&format!("{label:label_width$}"));
        for (cell, w) in cells.iter().zip(&widths) {
            out.push_str(&format!("   {cell:>w$}"));
        }
        out.push('\n');
    }
    out
}

/// Where the CPU time went, phase by phase: the evidence of which side was the
/// bottleneck.
pub fn render_cpu(figures: &Figures) -> String {
    if figures.cpu.is_empty() {
        // It failed before its first phase: "What went wrong" says why.
        return String::new();
    }
    let mut out = format!("CPU seconds, {}:\n", figures.target);
    for p in &figures.cpu {
        let server = p.server_s.map_or("?".into(), |s| format!("{s:.2}"));
        let db = p
            .database_s
            .map_or(String::new(), |s| format!(", database {s:.2}"));
        out.push_str(&format!(
            "  {:<20} {:>6.2} s wall: server {server}, load generator {:.2}{db}\n",
            p.phase, p.wall_s, p.load_s
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_and_thousands() {
        let sorted: Vec<u32> = (1..=100).map(|ms| ms * 1000).collect();
        assert_eq!(quantile_ms(&sorted, 0.5), 50.0);
        assert_eq!(quantile_ms(&sorted, 0.99), 99.0);
        assert_eq!(quantile_ms(&[], 0.5), 0.0);
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(999), "999");
    }

    #[test]
    fn a_missing_figure_is_a_dash() {
        let figures = Figures {
            target: "your server".into(),
            clients: 10,
            acks: Some(Acks {
                count: 50,
                refused: 0,
                per_second: 1234.4,
                p50_ms: 1.5,
                p99_ms: 12.0,
                sockets: 10,
                seconds: 1.0,
            }),
            ..Figures::default()
        };
        let table = render(&[figures]);
        assert!(table.contains("whoami acks/s"), "{table}");
        assert!(table.contains("1,234"), "{table}");
        assert!(table.contains("1.50 ms / 12.0 ms"), "{table}");
        assert!(
            table
                .lines()
                .any(|l| l.starts_with("memory: idle") && l.ends_with('—')),
            "{table}"
        );
    }
}
