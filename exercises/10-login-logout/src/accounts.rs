//! Accounts: the `users` collection, and passwords kept as argon2 hashes.
//!
//! TODO: (2) write this module (the chapter `10-login-logout` walks through it).
//!
//! - A user is one document of `users`: `{ _id: ObjectId, username: String,
//!   password_hash: String }`. A `#[derive(Serialize, Deserialize)] struct UserDoc`
//!   with `#[serde(rename = "_id")] id: ObjectId` maps it; a `User { id: String,
//!   username: String }` (the id as hex, `#[derive(Clone, Serialize)]`) is what the
//!   session and the sockets keep.
//! - `Accounts::new(db)`: the collection, and a unique index on `username`
//!   (`IndexModel` with `IndexOptions::builder().unique(true)`), created at start.
//! - `register(username, password)`: hash the password and insert the user; a write
//!   error with code 11000 means the username is taken.
//! - `log_in(username, password)`: find the user and verify the password. When there
//!   is no such user, verify against a dummy hash anyway, so that both failures take
//!   the same time.
//! - `find(username)`: the user with that name, for `private message` and `is online`.
//! - hashing: `Argon2::default().hash_password(password.as_bytes(), &salt)` with
//!   `SaltString::generate(&mut OsRng)`, stored as `hash.to_string()`
//!   (`$argon2id$v=19$…`); checking: `Argon2::default().verify_password(password,
//!   &PasswordHash::new(&stored)?)`. Both are slow on purpose: run them in
//!   `tokio::task::spawn_blocking(move || …)`, not on the async worker threads.
//! - `refuse_registration(username, password)`: a username is 1 to 32 of
//!   `[A-Za-z0-9_.-]`, a password at least 8 characters.
