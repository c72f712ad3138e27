//! A tower-sessions store that keeps sessions in a MongoDB collection.
//!
//! tower-sessions does not care where sessions live: its `SessionLayer` asks a
//! `SessionStore` to create, save, load and delete *records* (a session's id, its data
//! and when it expires), and this type answers those four questions with the `mongodb`
//! crate. The store that was published for this (`tower-sessions-mongodb-store`) was
//! left behind at tower-sessions 0.11 and does not build with 0.15; the trait is small
//! enough to implement by hand, and doing it shows what every session store does.
//!
//! One document per session, in the collection `sessions`:
//!
//! ```text
//! { _id: "5Pl0QJ0Hc3nJ0V1Ht0h0gA", data: { name: "quiet-otter-42" }, expires_at: ISODate(…) }
//! ```
//!
//! - `_id` is the session id, as the cookie carries it (before signing). MongoDB keeps
//!   `_id` unique and indexed, so a lookup by id is one index probe.
//! - `data` is the session's data, as a sub-document: what `db.sessions.find()` shows
//!   a person is what the handlers wrote.
//! - `expires_at` is a BSON date. A TTL index on it tells MongoDB to delete each
//!   document once that time has passed: nobody has to sweep old sessions away.
//!
//! MongoDB's TTL monitor runs about once a minute, so an expired document can still be
//! there for a while. `load` therefore asks for `expires_at` in the future as well: the
//! index keeps the collection small, the filter keeps the server correct.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use mongodb::bson::{DateTime, doc};
use mongodb::error::{Error as MongoError, ErrorKind, WriteFailure};
use mongodb::options::IndexOptions;
use mongodb::{Collection, Database, IndexModel};
use serde::{Deserialize, Serialize};
use tower_sessions::cookie::time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

/// The collection that holds the sessions.
const COLLECTION: &str = "sessions";

/// MongoDB's error code for "a document with this unique key exists already".
const DUPLICATE_KEY: i32 = 11000;

/// Sessions in MongoDB. Cloning is cheap: a `Collection` is a handle on the client's
/// shared connection pool, so every clone talks to the same database.
#[derive(Clone, Debug)]
pub struct MongoStore {
    sessions: Collection<SessionDoc>,
}

/// A session as it is stored: the document described at the top of this file.
///
/// serde turns it into BSON and back. `data` is tower-sessions' own map of values
/// (JSON values, since the `Session` API takes anything `Serialize`); BSON can hold
/// every JSON value, so the map becomes a sub-document as it is.
#[derive(Debug, Serialize, Deserialize)]
struct SessionDoc {
    #[serde(rename = "_id")]
    id: String,
    data: HashMap<String, serde_json::Value>,
    expires_at: DateTime,
}

impl MongoStore {
    /// A store on `db`'s `sessions` collection, with its TTL index in place.
    ///
    /// Creating an index that exists already, with the same options, does nothing, so
    /// this is safe to run at every start.
    pub async fn new(db: &Database) -> Result<MongoStore, MongoError> {
        let sessions = db.collection::<SessionDoc>(COLLECTION);
        // `expire_after(0)`: delete a document as soon as the time in `expires_at` has
        // passed. (With `expire_after(d)`, MongoDB would wait `d` longer.)
        let ttl = IndexModel::builder()
            .keys(doc! { "expires_at": 1 })
            .options(
                IndexOptions::builder()
                    .expire_after(Duration::ZERO)
                    .name("expires_at_ttl".to_string())
                    .build(),
            )
            .build();
        sessions.create_index(ttl).await?;
        Ok(MongoStore { sessions })
    }
}

/// `#[async_trait]` lets a trait have `async fn`s that work behind a `dyn` pointer, as
/// tower-sessions needs; the trait is declared with it, so its implementations are too.
#[async_trait]
impl SessionStore for MongoStore {
    /// Stores a new session. Ids are 128 random bits, so two sessions almost never get
    /// the same one; but "almost never" is not "never", and saving over another
    /// visitor's session would hand them each other's data. So: insert, which fails
    /// on an existing `_id`, and on that failure draw a new id and try again.
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        loop {
            match self.sessions.insert_one(to_doc(record)?).await {
                Ok(_) => return Ok(()),
                Err(err) if is_duplicate_key(&err) => record.id = Id::default(),
                Err(err) => return Err(backend(err)),
            }
        }
    }

    /// Writes the session's current data and expiry over what is stored, or stores it
    /// if it is not there any more.
    ///
    /// `replace_one` swaps the whole document for a new one in one step; `upsert`
    /// inserts it when no document has that `_id`. (An `update_one` with `$set` of
    /// the two fields would do too on MongoDB; the course's stand-in server stores a
    /// date written by `$set` as a string, which a whole-document replace avoids.)
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let id = record.id.to_string();
        self.sessions
            .replace_one(doc! { "_id": &id }, to_doc(record)?)
            .upsert(true)
            .await
            .map_err(backend)?;
        Ok(())
    }

    /// The session with this id, unless it has expired.
    ///
    /// `None` is not an error: it is what a session that ended, or never existed,
    /// looks like. The session layer then treats the visitor as new.
    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let filter = doc! {
            "_id": id.to_string(),
            "expires_at": { "$gt": DateTime::now() },
        };
        let Some(stored) = self.sessions.find_one(filter).await.map_err(backend)? else {
            return Ok(None);
        };
        Ok(Some(Record {
            id: *id,
            data: stored.data,
            expiry_date: from_bson_date(stored.expires_at)?,
        }))
    }

    /// Forgets the session (at logout, in stage 10; and when a session is cycled).
    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.sessions
            .delete_one(doc! { "_id": id.to_string() })
            .await
            .map_err(backend)?;
        Ok(())
    }
}

/// The document for a record. BSON dates count milliseconds; finer parts are dropped.
fn to_doc(record: &Record) -> session_store::Result<SessionDoc> {
    let millis = record.expiry_date.unix_timestamp_nanos() / 1_000_000;
    let millis = i64::try_from(millis)
        .map_err(|_| session_store::Error::Encode("expiry date out of range".into()))?;
    Ok(SessionDoc {
        id: record.id.to_string(),
        data: record.data.clone(),
        expires_at: DateTime::from_millis(millis),
    })
}

fn from_bson_date(date: DateTime) -> session_store::Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(date.timestamp_millis()) * 1_000_000)
        .map_err(|err| session_store::Error::Decode(err.to_string()))
}

fn is_duplicate_key(err: &MongoError) -> bool {
    matches!(
        err.kind.as_ref(),
        ErrorKind::Write(WriteFailure::WriteError(e)) if e.code == DUPLICATE_KEY
    )
}

/// tower-sessions' errors carry a message; the store's error becomes that message.
fn backend(err: MongoError) -> session_store::Error {
    session_store::Error::Backend(err.to_string())
}
