//! Accounts: the `users` collection, and passwords kept as argon2 hashes.
//!
//! A user is one document, `{ _id: ObjectId, username: "ada", password_hash:
//! "$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>" }`. The password itself is never
//! stored, nor written anywhere: only its hash, from which it cannot be read back.
//! To check a password at login, the server hashes it again with the salt and the
//! parameters kept in the hash string, and compares.
//!
//! Why argon2 and not SHA-256: a fast hash lets whoever steals the collection try
//! billions of guesses per second on a graphics card. argon2 is slow on purpose, and
//! needs memory (19 MiB per hash with the parameters recommended by OWASP, which are
//! `Argon2::default()`), which graphics cards have little of per core. The salt, random
//! for each hash, makes two users with the same password get different hashes, so one
//! guess tests one user, not all of them.
//!
//! Being slow is the point, and it has a price here too: a hash takes tens of
//! milliseconds of one CPU core. A tokio worker thread that spends that long in a
//! computation runs no other task meanwhile, so every hash goes to
//! `tokio::task::spawn_blocking`, a pool of threads meant for such work.

use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use mongodb::bson::doc;
use mongodb::bson::oid::ObjectId;
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::options::IndexOptions;
use mongodb::{Collection, Database, IndexModel};
use serde::{Deserialize, Serialize};

/// MongoDB's code for an insert that breaks a unique index.
const DUPLICATE_KEY: i32 = 11000;

/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// The longest username accepted.
pub const MAX_USERNAME_CHARS: usize = 32;

/// A logged-in user, as the session and the sockets know them.
#[derive(Clone, Debug, Serialize)]
pub struct User {
    /// The user document's `_id`, as 24 hex digits.
    pub id: String,
    pub username: String,
}

/// The `users` collection, and the hash that stands in for unknown users' passwords.
#[derive(Clone)]
pub struct Accounts {
    users: Collection<UserDoc>,
    /// The hash of a password nobody has. A login with an unknown username is checked
    /// against it, so that it takes as long as one with a known username and a wrong
    /// password: otherwise the time of the answer alone would tell which usernames
    /// exist (see `log_in`).
    dummy_hash: Arc<str>,
}

/// What `register` did.
pub enum Registration {
    Created(User),
    /// Someone has that username already.
    Taken,
}

/// What can fail in here: the database, or the hashing task.
#[derive(Debug)]
pub enum AccountError {
    Database(mongodb::error::Error),
    Hashing(String),
}

impl std::fmt::Display for AccountError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AccountError::Database(err) => write!(f, "database: {err}"),
            AccountError::Hashing(why) => write!(f, "password hashing: {why}"),
        }
    }
}

impl std::error::Error for AccountError {}

impl From<mongodb::error::Error> for AccountError {
    fn from(err: mongodb::error::Error) -> Self {
        AccountError::Database(err)
    }
}

impl Accounts {
    /// The accounts in `db`, with a unique index on `username`.
    ///
    /// The index is what really keeps usernames unique. Looking the name up before
    /// inserting is not enough: two registrations of one name at the same moment would
    /// both find it free, and both insert. With the index, the database refuses the
    /// second insert (error code 11000), however close together they come.
    /// `create_index` does nothing when the index exists already.
    pub async fn new(db: &Database) -> Result<Accounts, AccountError> {
        let users = db.collection::<UserDoc>("users");
        let unique = IndexModel::builder()
            .keys(doc! { "username": 1 })
            .options(IndexOptions::builder().unique(true).build())
            .build();
        users.create_index(unique).await?;
        let dummy_hash = hash("not anybody's password".to_string()).await?.into();
        Ok(Accounts { users, dummy_hash })
    }

    /// Creates a user; `Taken` when the username is in use.
    pub async fn register(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Registration, AccountError> {
        let user = UserDoc {
            id: ObjectId::new(),
            username: username.to_string(),
            password_hash: hash(password.to_string()).await?,
        };
        match self.users.insert_one(&user).await {
            Ok(_) => Ok(Registration::Created(user.into())),
            Err(err) if is_duplicate(&err) => Ok(Registration::Taken),
            Err(err) => Err(err.into()),
        }
    }

    /// The user with this username and password; `None` for a wrong password and for
    /// an unknown username alike.
    pub async fn log_in(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<User>, AccountError> {
        let found = self.users.find_one(doc! { "username": username }).await?;
        // Hash the password even when there is no such user, against the dummy hash,
        // so that both failures take the same time.
        let stored = match &found {
            Some(user) => user.password_hash.clone(),
            None => self.dummy_hash.to_string(),
        };
        let matches = verify(password.to_string(), stored).await?;
        Ok(found.filter(|_| matches).map(User::from))
    }

    /// The user whose id (the hex of their document's `_id`) is `id`, if there is one.
    /// An id that is not 24 hex digits names nobody.
    pub async fn find_by_id(&self, id: &str) -> Result<Option<User>, AccountError> {
        let Ok(id) = ObjectId::parse_str(id) else {
            return Ok(None);
        };
        let found = self.users.find_one(doc! { "_id": id }).await?;
        Ok(found.map(User::from))
    }

    /// The user called `username`, if there is one.
    pub async fn find(&self, username: &str) -> Result<Option<User>, AccountError> {
        let found = self.users.find_one(doc! { "username": username }).await?;
        Ok(found.map(User::from))
    }
}

/// Why a username or password cannot be registered, in words for the visitor; `None`
/// when both are fine.
///
/// Usernames are kept to letters, digits, `_`, `.` and `-`: they appear in chat lines,
/// in room names and in URLs, and nobody can register a name that looks like another
/// one made of different characters.
pub fn refuse_registration(username: &str, password: &str) -> Option<String> {
    let chars_ok = username
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if username.is_empty() || username.len() > MAX_USERNAME_CHARS || !chars_ok {
        return Some(format!(
            "a username is 1 to {MAX_USERNAME_CHARS} letters, digits, `_`, `.` or `-`"
        ));
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Some(format!(
            "a password has at least {MIN_PASSWORD_CHARS} characters"
        ));
    }
    None
}

/// The argon2id hash of `password`, with a new random salt, as a PHC string
/// (`$argon2id$v=19$m=19456,t=2,p=1$…`): the string holds everything `verify` needs.
///
/// The work runs on tokio's blocking pool (see the module's comment). The password is
/// moved into the task, since the task may outlive the caller's borrow.
async fn hash(password: String) -> Result<String, AccountError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|err| AccountError::Hashing(err.to_string()))
    })
    .await
    .map_err(|err| AccountError::Hashing(err.to_string()))?
}

/// Whether `password` is the one `stored` was made from.
///
/// `verify_password` hashes `password` with the salt and parameters read from
/// `stored`, and compares the results in constant time.
async fn verify(password: String, stored: String) -> Result<bool, AccountError> {
    tokio::task::spawn_blocking(move || {
        let parsed =
            PasswordHash::new(&stored).map_err(|err| AccountError::Hashing(err.to_string()))?;
        Ok(Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    })
    .await
    .map_err(|err| AccountError::Hashing(err.to_string()))?
}

fn is_duplicate(err: &mongodb::error::Error) -> bool {
    matches!(&*err.kind, ErrorKind::Write(WriteFailure::WriteError(e)) if e.code == DUPLICATE_KEY)
}

/// A user document, as stored.
#[derive(Serialize, Deserialize)]
struct UserDoc {
    #[serde(rename = "_id")]
    id: ObjectId,
    username: String,
    password_hash: String,
}

impl From<UserDoc> for User {
    fn from(user: UserDoc) -> Self {
        User {
            id: user.id.to_hex(),
            username: user.username,
        }
    }
}
