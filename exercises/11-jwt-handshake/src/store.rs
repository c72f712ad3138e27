//! A tower-sessions `SessionStore` in MongoDB (stage 09).
//!
//! Each session is one document of the `sessions` collection:
//! `{ _id: <session id>, data: { … }, expires_at: <Date> }`. A TTL index on
//! `expires_at` lets MongoDB delete expired sessions by itself, and `load` also
//! ignores a session whose `expires_at` has passed, since the TTL monitor only runs
//! now and then.
//!
//! Saving deletes the old document and inserts the new one, rather than updating
//! it in place: that keeps `expires_at` a real date on every MongoDB-compatible server
//! (the course's stand-in stores a date given to `$set` as a string).

use async_trait::async_trait;
use mongodb::bson::{self, DateTime, Document, doc};
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::options::IndexOptions;
use mongodb::{Collection, Database, IndexModel};
use tower_sessions::cookie::time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

/// MongoDB's code for an insert whose `_id` (or other unique key) is taken.
const DUPLICATE_KEY: i32 = 11000;

/// The sessions, in the `sessions` collection of the server's database.
#[derive(Clone, Debug)]
pub struct MongoStore {
    sessions: Collection<Document>,
}

impl MongoStore {
    /// The store, with the TTL index that lets MongoDB remove expired sessions.
    pub async fn new(db: &Database) -> mongodb::error::Result<MongoStore> {
        let sessions = db.collection::<Document>("sessions");
        let ttl = IndexModel::builder()
            .keys(doc! { "expires_at": 1 })
            .options(
                IndexOptions::builder()
                    .expire_after(std::time::Duration::ZERO)
                    .build(),
            )
            .build();
        sessions.create_index(ttl).await?;
        Ok(MongoStore { sessions })
    }

    /// The document that holds `record`.
    fn document(record: &Record) -> session_store::Result<Document> {
        let data = bson::to_document(&record.data).map_err(backend)?;
        Ok(doc! {
            "_id": record.id.to_string(),
            "data": data,
            "expires_at": to_bson_date(record.expiry_date),
        })
    }
}

#[async_trait]
impl SessionStore for MongoStore {
    /// Inserts a new session, drawing another id in the unlikely case that the first
    /// one is taken.
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        loop {
            match self.sessions.insert_one(Self::document(record)?).await {
                Ok(_) => return Ok(()),
                Err(err) if is_duplicate(&err) => record.id = Id::default(),
                Err(err) => return Err(backend(err)),
            }
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let id = record.id.to_string();
        self.sessions
            .delete_one(doc! { "_id": &id })
            .await
            .map_err(backend)?;
        match self.sessions.insert_one(Self::document(record)?).await {
            // Two saves of one session at once: the other one's insert came first, and
            // holds the same data or newer.
            Err(err) if is_duplicate(&err) => Ok(()),
            other => other.map(drop).map_err(backend),
        }
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let filter = doc! {
            "_id": id.to_string(),
            "expires_at": { "$gt": DateTime::now() },
        };
        let Some(found) = self.sessions.find_one(filter).await.map_err(backend)? else {
            return Ok(None);
        };
        let data = found.get_document("data").map_err(backend)?.clone();
        let expires_at = found.get_datetime("expires_at").map_err(backend)?;
        Ok(Some(Record {
            id: *id,
            data: bson::from_document(data).map_err(backend)?,
            expiry_date: from_bson_date(*expires_at)?,
        }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.sessions
            .delete_one(doc! { "_id": id.to_string() })
            .await
            .map_err(backend)?;
        Ok(())
    }
}

fn to_bson_date(at: OffsetDateTime) -> DateTime {
    DateTime::from_millis((at.unix_timestamp_nanos() / 1_000_000) as i64)
}

fn from_bson_date(at: DateTime) -> session_store::Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(at.timestamp_millis()) * 1_000_000)
        .map_err(backend)
}

fn is_duplicate(err: &mongodb::error::Error) -> bool {
    matches!(&*err.kind, ErrorKind::Write(WriteFailure::WriteError(e)) if e.code == DUPLICATE_KEY)
}

fn backend(err: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(err.to_string())
}
