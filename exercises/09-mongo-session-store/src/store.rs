//! A tower-sessions store that keeps sessions in a MongoDB collection.
//!
//! tower-sessions asks its store four things, through the `SessionStore` trait: create
//! a new session's record, save a changed one, load one by id, delete one. A record is
//! a session's id, its data (a map of JSON values) and the time it expires. This file
//! answers those questions with the `mongodb` crate, one document per session in the
//! collection `sessions`:
//!
//! ```text
//! { _id: "5Pl0QJ0Hc3nJ0V1Ht0h0gA", data: { name: "quiet-otter-42" }, expires_at: ISODate(…) }
//! ```
//!
//! Nothing here is compiled until `main.rs` says `mod store;` (its TODO 3), so write
//! it all first, then turn it on.

// TODO: (2) write the store, in this order (the chapter walks through each part).
//
// a. The imports: `std::collections::HashMap`, `std::time::Duration`,
//    `async_trait::async_trait`, from `mongodb::bson` `DateTime` and `doc`, from
//    `mongodb::error` `Error as MongoError`, `ErrorKind` and `WriteFailure`,
//    `mongodb::options::IndexOptions`, from `mongodb` `Collection`, `Database` and
//    `IndexModel`, `serde::{Deserialize, Serialize}`,
//    `tower_sessions::cookie::time::OffsetDateTime`, from `tower_sessions::session`
//    `Id` and `Record`, and from `tower_sessions::session_store` the module itself
//    (`self`, for its `Error` and `Result`) and the `SessionStore` trait.
//
// b. The document, as a struct serde turns into BSON and back:
//
//        #[derive(Debug, Serialize, Deserialize)]
//        struct SessionDoc {
//            #[serde(rename = "_id")]
//            id: String,
//            data: HashMap<String, serde_json::Value>,
//            expires_at: DateTime,
//        }
//
//    `expires_at` must be a BSON date (`bson::DateTime`), not a string: a TTL index
//    and a `$gt` comparison only understand dates.
//
// c. The store: `#[derive(Clone, Debug)] pub struct MongoStore { sessions:
//    Collection<SessionDoc> }`, and `pub async fn new(db: &Database) ->
//    Result<MongoStore, MongoError>`, which takes `db.collection("sessions")` and
//    creates a TTL index on it: `IndexModel::builder().keys(doc! { "expires_at": 1 })`
//    with `IndexOptions::builder().expire_after(Duration::ZERO).build()` as its
//    options, passed to `create_index`. MongoDB then deletes each document once its
//    `expires_at` has passed. Creating an index that exists already does nothing, so
//    this runs at every start.
//
// d. Two conversions: a `Record` to a `SessionDoc` (`record.id.to_string()`,
//    `record.data.clone()`, and the expiry in milliseconds:
//    `DateTime::from_millis(expiry.unix_timestamp_nanos() / 1_000_000)` as an `i64`),
//    and a BSON `DateTime` back to an `OffsetDateTime`
//    (`OffsetDateTime::from_unix_timestamp_nanos(millis as i128 * 1_000_000)`).
//    Errors become `session_store::Error::Encode(..)` / `Decode(..)`, and a driver error
//    `session_store::Error::Backend(err.to_string())`.
//
// e. `#[async_trait] impl SessionStore for MongoStore` with its four methods:
//    - `create(&self, record: &mut Record)`: `insert_one` the document. An id that is
//      taken already fails with a write error of code 11000 (duplicate key): then draw
//      a new one, `record.id = Id::default()`, and insert again. Never save over another
//      session.
//    - `save(&self, record: &Record)`: `replace_one(doc! { "_id": id }, document)` with
//      `.upsert(true)`: the whole document at once, inserted if it is gone. (The
//      course's MongoDB stand-in stores a date written by `$set` as a string, so do not
//      `$set` `expires_at`.)
//    - `load(&self, id: &Id)`: `find_one` by `_id` AND `expires_at: { "$gt":
//      DateTime::now() }`: MongoDB's TTL monitor runs once a minute, so an expired
//      document may still be there. `Ok(None)` when nothing matches; otherwise rebuild
//      the `Record { id: *id, data, expiry_date }`.
//    - `delete(&self, id: &Id)`: `delete_one` by `_id`.
