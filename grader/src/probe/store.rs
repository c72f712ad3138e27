//! Probes of the MongoDB session store (stage 09): the session is a document in the
//! server's database, it carries an expiry that MongoDB enforces, it outlives a restart,
//! and an expired or deleted one no longer opens a connection.
//!
//! These probes look into the database directly, through `ctx.database()`, as a
//! teacher would open `mongosh` next to the running server. They find the session by
//! what it holds (the display name `/me` gave), in whichever collection it is, so that a
//! store with other field names is judged on what it does, not on what it calls things.
//! The course's store uses `sessions` with `_id`, `data` and `expires_at`.

use std::time::Duration;

use mongodb::bson::{Bson, DateTime, Document, doc};
use serde::Deserialize;

use super::auth::{announcement, attempt, own_announcement, visit, why_refused};
use super::engineio::Transport;
use super::socketio::Answer;
use super::{Ctx, Failure, Step, params_error, parse};

/// How long a database read may take (the stand-in is slow, not that slow).
const DB_WAIT: Duration = Duration::from_secs(5);
/// How far ahead a session's expiry may be and still look like one: a year.
const MAX_LIFETIME_HOURS: i64 = 24 * 366;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoParams {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EndedParams {
    /// How the session ends: its expiry moved into the past, or its document deleted.
    end: End,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "kebab-case")]
enum End {
    Expired,
    Deleted,
}

pub fn validate(name: &str, params: &toml::Table) -> Option<anyhow::Result<()>> {
    Some(match name {
        "store-session-document" | "store-ttl-index" | "store-survives-restart" => {
            parse::<NoParams>(params).map(drop)
        }
        "store-ended-refused" => parse::<EndedParams>(params).map(drop),
        _ => return None,
    })
}

pub async fn run(name: &str, params: &toml::Table, ctx: &Ctx) -> Option<Step<()>> {
    Some(match name {
        "store-session-document" => session_document(ctx).await,
        "store-ttl-index" => ttl_index(ctx).await,
        "store-survives-restart" => survives_restart(ctx).await,
        "store-ended-refused" => match parse::<EndedParams>(params).map_err(params_error(name)) {
            Ok(p) => ended_refused(ctx, p.end).await,
            Err(failure) => Err(failure),
        },
        _ => return None,
    })
}

/// A session document found in the database: where, and what it holds.
struct Found {
    collection: String,
    doc: Document,
}

impl Found {
    /// Its date fields (dotted paths, nested documents included).
    fn dates(&self) -> Vec<(String, DateTime)> {
        let mut dates = Vec::new();
        collect_dates(&self.doc, "", &mut dates);
        dates
    }
}

/// The document that holds `name`, in any collection of the server's database.
async fn find_session(ctx: &Ctx, name: &str) -> Step<Found> {
    let db = ctx.database()?;
    let failed = |what: &str, e: String| {
        Failure::new(format!(
            "The grader could not {what} in your server's database: {e}."
        ))
    };
    let mut collections = tokio::time::timeout(DB_WAIT, db.list_collection_names())
        .await
        .map_err(|_| failed("list the collections", "no answer in time".into()))?
        .map_err(|e| failed("list the collections", e.to_string()))?;
    collections.sort();
    for collection in &collections {
        let coll = db.collection::<Document>(collection);
        let docs = read_all(&coll)
            .await
            .map_err(|e| failed(&format!("read `{collection}`"), e))?;
        if let Some(doc) = docs.into_iter().find(|d| contains_text(d, name)) {
            ctx.transcript.note(format!(
                "the grader found the session holding {name:?} in the collection `{collection}`"
            ));
            return Ok(Found {
                collection: collection.clone(),
                doc,
            });
        }
    }
    let listed = if collections.is_empty() {
        "it has no collections at all".to_string()
    } else {
        format!(
            "its collections ({}) hold no document with that name",
            collections
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    Err(Failure::new(format!(
        "ada's session has the name {name:?}, but the server's database (the one in \
         MONGO_URI) does not hold it: {listed}. The sessions are still somewhere else, \
         most likely in memory: give `SessionManagerLayer::new` your MongoDB store, made \
         from the database named in MONGO_URI."
    ))
    .expected(format!(
        "a document in `sessions` like {{ _id: \"…\", data: {{ name: \"{name}\" }}, expires_at: <a date> }}"
    )))
}

async fn read_all(coll: &mongodb::Collection<Document>) -> Result<Vec<Document>, String> {
    use futures_util::TryStreamExt;
    let read = async {
        let cursor = coll.find(doc! {}).limit(200).await?;
        cursor.try_collect::<Vec<Document>>().await
    };
    match tokio::time::timeout(DB_WAIT, read).await {
        Ok(Ok(docs)) => Ok(docs),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no answer in time".into()),
    }
}

/// After a visit, the session is one document in the database, with an expiry date a
/// sensible time ahead, stored as a date (a string does not expire).
async fn session_document(ctx: &Ctx) -> Step<()> {
    let ada = visit(ctx, "ada").await?;
    let found = find_session(ctx, &ada.name).await?;
    let now = DateTime::now().timestamp_millis();
    let dates = found.dates();
    let future: Vec<&(String, DateTime)> = dates
        .iter()
        .filter(|(_, d)| {
            let ahead = d.timestamp_millis() - now;
            ahead > 0 && ahead < MAX_LIFETIME_HOURS * 3_600_000
        })
        .collect();
    if let Some((field, date)) = future.first() {
        let hours = (date.timestamp_millis() - now) as f64 / 3_600_000.0;
        ctx.transcript.note(format!(
            "its field `{field}` is a date about {:.0} h from now",
            hours.round()
        ));
        return Ok(());
    }
    let strings = string_fields_like_dates(&found.doc);
    let reason = if let (true, Some(field)) = (dates.is_empty(), strings.first()) {
        format!(
            "ada's session is in `{}`, but its expiry is not a date: `{field}` holds it as a \
             string, which neither a TTL index nor a date comparison understands. Store a \
             `bson::DateTime`, written with an insert or a whole-document replace (the \
             course's stand-in server turns a date written by `$set` into a string).",
            found.collection
        )
    } else {
        let mut reason = format!(
            "ada's session is in `{}`, but its document has no expiry date in the future",
            found.collection
        );
        if !dates.is_empty() {
            reason.push_str(&format!(
                " (its date fields, {}, are all in the past or more than a year ahead)",
                dates
                    .iter()
                    .map(|(f, _)| format!("`{f}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        reason.push_str(
            ". Store `Record::expiry_date` as a date field (`expires_at`): it is what lets \
             MongoDB delete the session, and `load` refuse it, once it has expired.",
        );
        reason
    };
    Err(Failure::new(reason).expected("expires_at: a date about 12 hours from now"))
}

/// The session collection has a TTL index on the expiry field.
async fn ttl_index(ctx: &Ctx) -> Step<()> {
    use futures_util::TryStreamExt;
    let ada = visit(ctx, "ada").await?;
    let found = find_session(ctx, &ada.name).await?;
    let db = ctx.database()?;
    let coll = db.collection::<Document>(&found.collection);
    let indexes = async { coll.list_indexes().await?.try_collect::<Vec<_>>().await };
    let indexes = match tokio::time::timeout(DB_WAIT, indexes).await {
        Ok(Ok(indexes)) => indexes,
        Ok(Err(e)) => {
            return Err(Failure::new(format!(
                "The grader could not list the indexes of `{}`: {e}.",
                found.collection
            )));
        }
        Err(_) => return Err(Failure::new("Listing the indexes took too long.")),
    };
    let dates: Vec<String> = found.dates().into_iter().map(|(f, _)| f).collect();
    let ttl: Vec<String> = indexes
        .iter()
        .filter(|i| i.options.as_ref().and_then(|o| o.expire_after).is_some())
        .flat_map(|i| i.keys.keys().cloned().collect::<Vec<_>>())
        .collect();
    ctx.transcript.note(format!(
        "indexes of `{}`: {}",
        found.collection,
        indexes
            .iter()
            .map(|i| {
                let keys: Vec<&String> = i.keys.keys().collect();
                let ttl = i
                    .options
                    .as_ref()
                    .and_then(|o| o.expire_after)
                    .map(|d| format!(" (TTL {} s)", d.as_secs()))
                    .unwrap_or_default();
                format!("{keys:?}{ttl}")
            })
            .collect::<Vec<_>>()
            .join(", ")
    ));
    if ttl.iter().any(|key| dates.contains(key)) {
        return Ok(());
    }
    let reason = if let Some(key) = ttl.first() {
        format!(
            "`{}` has a TTL index on `{key}`, which is not a date field of the session \
             documents ({}): MongoDB never deletes them.",
            found.collection,
            if dates.is_empty() {
                "they have none".to_string()
            } else {
                dates.join(", ")
            }
        )
    } else {
        format!(
            "`{}` has no TTL index, so MongoDB keeps every session forever, expired or not, \
             and the collection only grows. Create one on the expiry field when the store \
             starts: `IndexModel` with keys `{{ expires_at: 1 }}` and \
             `IndexOptions::builder().expire_after(Duration::ZERO)`.",
            found.collection
        )
    };
    Err(Failure::new(reason).expected("an index { expires_at: 1 } with expireAfterSeconds: 0"))
}

/// ada's cookie still connects, under the same name, after the server restarted.
async fn survives_restart(ctx: &Ctx) -> Step<()> {
    let mut ada = visit(ctx, "ada").await?;
    ctx.restart_server().await?;
    let answer = attempt(ctx, "ada", Some(&ada.header()), Transport::Websocket, None).await?;
    let mut client = match answer {
        Answer::Accepted(client) => *client,
        refusal => {
            let said = refusal.describe("/");
            let mut failure = why_refused(ctx, &ada, Transport::Websocket, &refusal).await;
            failure.reason = format!(
                "After the server restarted, ada's session cookie was refused ({said}): the \
                 session did not survive the restart. The sessions must live in MongoDB, not \
                 in the server's memory: pass your MongoDB store to `SessionManagerLayer::new` \
                 (and keep `SESSION_SECRET`, so the cookie's signature still checks out)."
            );
            return Err(failure);
        }
    };
    let announced = own_announcement(&mut client).await;
    client.disconnect().await;
    match announced? {
        Some(name) if name == ada.name => {}
        other => {
            return Err(Failure::new(format!(
                "After the restart, ada's cookie was accepted, but she was announced as {}, \
                 while her session's name is {:?}: the name must come from the stored session.",
                other.map_or("nobody".to_string(), |n| format!("{n:?}")),
                ada.name
            ))
            .expected(announcement(&ada.name)));
        }
    }
    let again = ada.visitor.name(ctx).await?;
    if again != ada.name {
        return Err(Failure::new(format!(
            "After the restart, GET /me gave ada the name {again:?} instead of {:?}: her \
             session was not found, so she got a new one.",
            ada.name
        )));
    }
    Ok(())
}

/// A session whose document expired (or was deleted) no longer opens a connection.
async fn ended_refused(ctx: &Ctx, end: End) -> Step<()> {
    let ada = visit(ctx, "ada").await?;
    let found = find_session(ctx, &ada.name).await?;
    let db = ctx.database()?;
    let coll = db.collection::<Document>(&found.collection);
    let Some(id) = found.doc.get("_id").cloned() else {
        return Err(Failure::new("The session document has no `_id`."));
    };
    let changed = match end {
        End::Deleted => {
            ctx.transcript
                .note("the grader deleted ada's session document from the database");
            tokio::time::timeout(DB_WAIT, coll.delete_one(doc! { "_id": id }))
                .await
                .map(|r| r.map(drop))
        }
        End::Expired => {
            let dates = found.dates();
            if dates.is_empty() {
                return Err(Failure::new(
                    "ada's session document has no date field, so it cannot expire (see the \
                     hint about the document's expiry date).",
                ));
            }
            // TTL indexes go first: MongoDB (and the course's stand-in, which deletes on the
            // next read) would otherwise remove the document before the server is asked, and
            // a store that never compares dates would pass. On a real MongoDB, the TTL
            // monitor runs once a minute: an expired document can be read for that long.
            drop_ttl_indexes(&coll).await;
            ctx.transcript.note(
                "the grader set ada's session's expiry to an hour ago in the database, and \
                 removed the TTL index, as if MongoDB's TTL monitor (once a minute) had not \
                 run yet",
            );
            let past = DateTime::from_millis(DateTime::now().timestamp_millis() - 3_600_000);
            let mut doc = found.doc.clone();
            for (field, _) in &dates {
                set_path(&mut doc, field, Bson::DateTime(past));
            }
            // Delete and insert: a `$set` of a date is stored as a string by the stand-in.
            let rewrite = async {
                coll.delete_one(doc! { "_id": id }).await?;
                coll.insert_one(doc).await.map(drop)
            };
            tokio::time::timeout(DB_WAIT, rewrite).await
        }
    };
    match changed {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            return Err(Failure::new(format!(
                "The grader could not change ada's session in the database: {e}."
            )));
        }
        Err(_) => return Err(Failure::new("Changing the session took too long.")),
    }
    let answer = attempt(ctx, "ada", Some(&ada.header()), Transport::Polling, None).await?;
    match answer {
        Answer::Refused { .. } | Answer::HttpRefused { .. } => Ok(()),
        Answer::Accepted(client) => {
            client.disconnect().await;
            Err(Failure::new(match end {
                End::Expired => {
                    "ada's session expired an hour ago, and her cookie still opened a \
                     connection. MongoDB deletes expired documents only when its TTL monitor \
                     runs (about once a minute), so `load` must not return them: add \
                     `expires_at: { $gt: now }` to its filter."
                }
                End::Deleted => {
                    "ada's session document is gone from the database, and her cookie still \
                     opened a connection: the server did not ask the store. Check the \
                     session with `session.get(..)` (which loads it) in the connect \
                     middleware."
                }
            })
            .expected("ada ← 44{\"message\":\"…\"} (or HTTP 401)"))
        }
    }
}

async fn drop_ttl_indexes(coll: &mongodb::Collection<Document>) {
    use futures_util::TryStreamExt;
    let listed = tokio::time::timeout(DB_WAIT, async {
        coll.list_indexes().await?.try_collect::<Vec<_>>().await
    })
    .await;
    let Ok(Ok(indexes)) = listed else { return };
    for index in indexes {
        let ttl = index
            .options
            .as_ref()
            .and_then(|o| o.expire_after)
            .is_some();
        let name = index.options.as_ref().and_then(|o| o.name.clone());
        if let (true, Some(name)) = (ttl, name) {
            let _ = tokio::time::timeout(DB_WAIT, coll.drop_index(name)).await;
        }
    }
}

/// Whether a string field anywhere in `doc` is exactly `text`.
fn contains_text(doc: &Document, text: &str) -> bool {
    doc.values().any(|v| bson_contains(v, text))
}

fn bson_contains(value: &Bson, text: &str) -> bool {
    match value {
        Bson::String(s) => s == text,
        Bson::Document(d) => contains_text(d, text),
        Bson::Array(items) => items.iter().any(|v| bson_contains(v, text)),
        _ => false,
    }
}

fn collect_dates(doc: &Document, prefix: &str, out: &mut Vec<(String, DateTime)>) {
    for (key, value) in doc {
        let path = format!("{prefix}{key}");
        match value {
            Bson::DateTime(d) => out.push((path, *d)),
            Bson::Document(inner) => collect_dates(inner, &format!("{path}."), out),
            _ => {}
        }
    }
}

/// Top-level string fields whose value looks like a date (`2026-11-22T…`).
fn string_fields_like_dates(doc: &Document) -> Vec<String> {
    doc.iter()
        .filter_map(|(k, v)| match v {
            Bson::String(s)
                if s.len() >= 10
                    && s.as_bytes()[4] == b'-'
                    && s.as_bytes()[7] == b'-'
                    && s[..4].bytes().all(|b| b.is_ascii_digit()) =>
            {
                Some(k.clone())
            }
            _ => None,
        })
        .collect()
}

/// Sets the field at dotted `path` (which exists) to `value`.
fn set_path(doc: &mut Document, path: &str, value: Bson) {
    match path.split_once('.') {
        None => {
            doc.insert(path, value);
        }
        Some((head, rest)) => {
            if let Some(Bson::Document(inner)) = doc.get_mut(head) {
                set_path(inner, rest, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_text_and_dates_at_any_depth() {
        let d = doc! {
            "_id": "x",
            "data": { "name": "ada", "at": DateTime::from_millis(5) },
            "expires_at": DateTime::from_millis(7),
            "s": "2026-11-22T10:00:00Z",
        };
        assert!(contains_text(&d, "ada"));
        assert!(!contains_text(&d, "grace"));
        let mut dates = Vec::new();
        collect_dates(&d, "", &mut dates);
        let paths: Vec<&str> = dates.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["data.at", "expires_at"]);
        assert_eq!(string_fields_like_dates(&d), ["s"]);
        let mut e = d.clone();
        set_path(&mut e, "data.at", Bson::DateTime(DateTime::from_millis(1)));
        assert_eq!(
            e.get_document("data").unwrap().get_datetime("at").unwrap(),
            &DateTime::from_millis(1)
        );
    }
}
