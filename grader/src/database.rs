//! The MongoDB that stages 09–13 keep their sessions and users in.
//!
//! When `MONGO_URI` is set, the grader uses that server. Otherwise it starts the
//! course's stand-in, nx-27017 (a MongoDB wire-protocol server on SQLite, installed by
//! `scripts/install-mongo` into `.tools/mongo/`), on a free loopback port, in memory,
//! once per grader run and only when a stage needs it. The stand-in runs in a process
//! group of its own, registered like every other child: it is killed when the grader
//! exits, on Ctrl-C too, and never outlives the run.
//!
//! Each graded server gets a database of its own (`grader_<pid>_<n>`, in the path of
//! the `MONGO_URI` it is given), so servers graded at the same time, in one run or in
//! two, never see each other's sessions; the database is dropped when its hint is done.
//! Probes read it directly, through the same driver the stages use.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use mongodb::bson::doc;
use tokio::sync::OnceCell;

use crate::process::{self, Group};
use crate::server::free_port;

/// The variable that points stages, tests and the grader at a MongoDB.
pub const MONGO_URI_VAR: &str = "MONGO_URI";
/// Names another nx-27017 executable than the one under `.tools/mongo/`.
const NX_VAR: &str = "NX_27017";
/// How long the stand-in gets to listen, and a query to answer.
const START_TIMEOUT: Duration = Duration::from_secs(15);
const PING_TIMEOUT: Duration = Duration::from_secs(10);

/// One MongoDB for the whole run.
pub struct Mongo {
    /// `mongodb://host:port/` with a `{db}` where a database name goes.
    template: UriTemplate,
    client: mongodb::Client,
    /// The stand-in, when this `Mongo` started one: killed when dropped or stopped.
    stand_in: Mutex<Option<StandIn>>,
    /// Says where the database came from, for reports and errors.
    pub origin: String,
    /// The stand-in's process id, when this `Mongo` started one (`cargo grade bench`
    /// reads its CPU time).
    pub pid: Option<u32>,
}

static SHARED: OnceCell<Mongo> = OnceCell::const_new();

/// The stand-in's process (group) and scratch folder.
struct StandIn {
    _child: tokio::process::Child,
    _group: Group,
    _scratch: tempdir::Scratch,
}

/// Stops the run's stand-in, if it started one, and removes its files. `main` calls it
/// on the way out (a static is never dropped); Ctrl-C kills it with every other child
/// group.
pub fn stop() {
    if let Some(mongo) = SHARED.get() {
        mongo.stop_stand_in();
    }
}
static NEXT_DB: AtomicU32 = AtomicU32::new(0);

/// The run's MongoDB, started on first use. `root` is the course, where the stand-in is
/// installed; `progress` hears about an install or a start.
pub async fn shared(root: &Path, progress: &(dyn Fn(&str) + Sync)) -> Result<&'static Mongo> {
    SHARED
        .get_or_try_init(|| Mongo::start(root, progress))
        .await
}

impl Mongo {
    /// A MongoDB of its own for the caller (tests): `MONGO_URI`'s, or a stand-in that
    /// stops when the returned value is dropped.
    pub async fn start(root: &Path, progress: &(dyn Fn(&str) + Sync)) -> Result<Mongo> {
        match std::env::var(MONGO_URI_VAR) {
            Ok(uri) if !uri.trim().is_empty() => Mongo::external(uri.trim()).await,
            _ => Mongo::stand_in(root, progress).await,
        }
    }

    fn stop_stand_in(&self) {
        drop(
            self.stand_in
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take(),
        );
    }

    async fn external(uri: &str) -> Result<Mongo> {
        let template = UriTemplate::parse(uri)?;
        let client = connect(&template.with_db("admin"))
            .await
            .with_context(|| format!("{MONGO_URI_VAR} is {uri}, and no MongoDB answered there"))?;
        Ok(Mongo {
            template,
            client,
            stand_in: Mutex::new(None),
            origin: format!("the MongoDB at {MONGO_URI_VAR}"),
            pid: None,
        })
    }

    async fn stand_in(root: &Path, progress: &(dyn Fn(&str) + Sync)) -> Result<Mongo> {
        let port = free_port().context("finding a free port for the MongoDB stand-in")?;
        Mongo::stand_in_on(root, port, progress).await
    }

    async fn stand_in_on(
        root: &Path,
        port: u16,
        progress: &(dyn Fn(&str) + Sync),
    ) -> Result<Mongo> {
        let exe = install(root, progress).await?;
        let scratch = tempdir::Scratch::new()?;
        let mut cmd = tokio::process::Command::new(&exe);
        cmd.args(["--db", "memory", "--host", "127.0.0.1", "-p"])
            .arg(port.to_string())
            .arg("--log-file")
            .arg(scratch.path().join("nx-27017.log"))
            .arg("--pid-file")
            .arg(scratch.path().join("nx-27017.pid"))
            .current_dir(scratch.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let (mut child, group) = process::spawn(&mut cmd)
            .with_context(|| format!("starting the MongoDB stand-in {}", exe.display()))?;
        let started = Instant::now();
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(scratch.path().join("nx-27017.log"))
                    .unwrap_or_default();
                bail!(
                    "the MongoDB stand-in exited at once ({status}); its log ends:\n{}",
                    tail(&log, 10)
                );
            }
            if started.elapsed() > START_TIMEOUT {
                bail!(
                    "the MongoDB stand-in did not listen on 127.0.0.1:{port} within {} s",
                    START_TIMEOUT.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let pid = child.id();
        let stand_in = Mutex::new(Some(StandIn {
            _child: child,
            _group: group,
            _scratch: scratch,
        }));
        let template = UriTemplate::parse(&format!("mongodb://127.0.0.1:{port}/"))?;
        // On an error here, `stand_in` is dropped and the server killed with it.
        let client = connect(&template.with_db("admin")).await?;
        Ok(Mongo {
            template,
            client,
            stand_in,
            origin: format!("the course's MongoDB stand-in (nx-27017) on 127.0.0.1:{port}"),
            pid,
        })
    }

    /// A database name no other server of this run, or of another run, uses.
    pub fn fresh_name(&self) -> String {
        let n = NEXT_DB.fetch_add(1, Ordering::Relaxed);
        format!("grader_{}_{n}", std::process::id())
    }

    /// The `MONGO_URI` a graded server gets for database `name`.
    pub fn uri_for(&self, name: &str) -> String {
        self.template.with_db(name)
    }

    /// The database `name`, for probes to read and write.
    pub fn database(&self, name: &str) -> mongodb::Database {
        self.client.database(name)
    }

    /// Drops database `name`; best effort, bounded (a graded server's leftovers must not
    /// hold up the run).
    pub async fn drop_database(&self, name: &str) {
        let _ = tokio::time::timeout(PING_TIMEOUT, self.client.database(name).drop()).await;
    }
}

/// `cargo grade mongo`: the stand-in on `port` until Ctrl-C (which kills it with every
/// other child group, in `process::exit_on_interrupt`).
pub async fn foreground(root: &Path, port: u16, progress: &(dyn Fn(&str) + Sync)) -> Result<()> {
    if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
        bail!(
            "127.0.0.1:{port} is taken: a MongoDB may be running there already (then use it \
             as it is), or choose another port with --port"
        );
    }
    let mongo = Mongo::stand_in_on(root, port, progress).await?;
    println!("MongoDB stand-in (nx-27017, in memory) listening on 127.0.0.1:{port}");
    println!(
        "Servers find it at their default MONGO_URI, mongodb://127.0.0.1:{port}/chat. \
         Press Ctrl-C to stop it (its data goes with it)."
    );
    // Held until Ctrl-C (which ends the process and kills the stand-in's group):
    // dropping it would stop the stand-in at once.
    let _running = mongo;
    std::future::pending::<()>().await;
    Ok(())
}

async fn connect(uri: &str) -> Result<mongodb::Client> {
    let mut options = mongodb::options::ClientOptions::parse(uri)
        .await
        .with_context(|| format!("{uri} is not a MongoDB connection string"))?;
    options.server_selection_timeout = Some(PING_TIMEOUT);
    options.app_name = Some("course-grader".into());
    let client = mongodb::Client::with_options(options)?;
    if let Err(err) = client
        .database("admin")
        .run_command(doc! { "ping": 1 })
        .await
    {
        // The driver's own message lists every server it tried, at length.
        match *err.kind {
            mongodb::error::ErrorKind::ServerSelection { .. } => {
                bail!("nothing answered within {} s", PING_TIMEOUT.as_secs())
            }
            _ => return Err(err).context("MongoDB did not answer a ping"),
        }
    }
    Ok(client)
}

/// The stand-in's executable: `NX_27017`, or `.tools/mongo/bin/nx-27017`, installed by
/// `scripts/install-mongo` when it is not there yet.
pub async fn install(root: &Path, progress: &(dyn Fn(&str) + Sync)) -> Result<PathBuf> {
    if let Some(exe) = std::env::var_os(NX_VAR) {
        return Ok(PathBuf::from(exe));
    }
    let exe = root.join(".tools/mongo/bin/nx-27017");
    let script = root.join("scripts/install-mongo");
    let stamp = root.join(".tools/mongo/.installed");
    if exe.is_file() && stamp.is_file() {
        return Ok(exe);
    }
    let how = format!(
        "Stages 09-13 need MongoDB. Install the course's stand-in with `{}` (once), or set {MONGO_URI_VAR} to a MongoDB you run.",
        script.display()
    );
    if !script.is_file() {
        bail!("{how}");
    }
    progress("installing the course's MongoDB stand-in (once; about 10 s)");
    let out = tokio::process::Command::new(&script)
        .stdin(Stdio::null())
        .output()
        .await
        .with_context(|| how.clone())?;
    if !out.status.success() || !exe.is_file() {
        bail!(
            "{} failed ({}): {}\n{how}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(exe)
}

/// A connection string with the database part left open.
struct UriTemplate {
    /// Everything up to the path: `mongodb://user:pw@host:port`.
    head: String,
    /// The query, with `authSource` added when the original named a database (its
    /// users live there, not in the databases the grader makes).
    query: String,
}

impl UriTemplate {
    fn parse(uri: &str) -> Result<UriTemplate> {
        let Some((scheme, rest)) = uri.split_once("://") else {
            bail!("{MONGO_URI_VAR}={uri} is not a MongoDB connection string (mongodb://host:port)");
        };
        let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (hosts, db) = before_query.split_once('/').unwrap_or((before_query, ""));
        let mut query = query.to_string();
        if !db.is_empty() && !query.contains("authSource=") {
            if !query.is_empty() {
                query.push('&');
            }
            query.push_str(&format!("authSource={db}"));
        }
        Ok(UriTemplate {
            head: format!("{scheme}://{hosts}"),
            query,
        })
    }

    fn with_db(&self, db: &str) -> String {
        if self.query.is_empty() {
            format!("{}/{db}", self.head)
        } else {
            format!("{}/{db}?{}", self.head, self.query)
        }
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A scratch folder removed when dropped, for the stand-in's log and pid files.
mod tempdir {
    use std::path::{Path, PathBuf};

    pub struct Scratch(PathBuf);

    impl Scratch {
        pub fn new() -> std::io::Result<Scratch> {
            use std::sync::atomic::{AtomicU32, Ordering};
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!("grader-mongo-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&dir)?;
            Ok(Scratch(dir))
        }
        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::UriTemplate;

    #[test]
    fn database_goes_into_the_path() {
        let plain = UriTemplate::parse("mongodb://127.0.0.1:27017").unwrap();
        assert_eq!(plain.with_db("x"), "mongodb://127.0.0.1:27017/x");
        let slash = UriTemplate::parse("mongodb://h:1/?retryWrites=false").unwrap();
        assert_eq!(slash.with_db("x"), "mongodb://h:1/x?retryWrites=false");
        let named = UriTemplate::parse("mongodb://u:p@h:1/course?tls=true").unwrap();
        assert_eq!(
            named.with_db("x"),
            "mongodb://u:p@h:1/x?tls=true&authSource=course"
        );
        assert!(UriTemplate::parse("localhost:27017").is_err());
    }
}
