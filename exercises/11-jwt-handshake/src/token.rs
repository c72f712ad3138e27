//! Signed tokens (JWTs) for API clients: made at register and login, checked at the
//! Socket.IO handshake.
//!
//! A JSON Web Token is three pieces of base64url joined by dots:
//!
//! ```text
//! eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9 . eyJzdWIiOiI2NzNm…fQ . 3q2-7…
//!   header {"typ":"JWT","alg":"HS256"}     claims {"sub":…}      signature
//! ```
//!
//! The claims are *signed*, not encrypted: anyone holding the token can decode and
//! read them (paste one into a base64 decoder), so they hold nothing secret; a user id
//! and a name are fine, a password never. What the signature gives is that nobody can
//! *change* them: it is an HMAC-SHA-256 (`HS256`) of header and claims, made with the
//! server's secret key. Change one character of the claims and the HMAC no longer
//! matches; make a new HMAC and you need the key. So a token that verifies is one this
//! server made, and its claims are the ones it wrote.
//!
//! HS256 is symmetric: the same key signs and verifies, so whoever can verify tokens
//! can also make them. That suits one server (or several of one service sharing the
//! key). When other services must verify tokens without being able to make them, the
//! asymmetric algorithms (RS256, ES256, EdDSA) sign with a private key and verify with
//! a public one.
//!
//! The claims this server writes:
//!
//! | claim | meaning |
//! |---|---|
//! | `sub` | subject: the user's id, the hex of their document's `_id` |
//! | `username` | their name, for the client to show (the server reads it from `users`) |
//! | `iat` | issued at, seconds since 1970 |
//! | `exp` | expires at, seconds since 1970: one hour after `iat` |
//!
//! A token cannot be taken back: the server keeps no list of the tokens it gave, so it
//! cannot forget one (that is the point of tokens: no store to ask). A leaked token
//! works until `exp`, which is why tokens are short-lived, and why the handshake still
//! looks the user up, so that a deleted account stops working at once (see `main.rs`).

use std::fmt;

use crate::accounts::User;

// TODO: (2) import what this file needs from `jsonwebtoken` (once step 1 added it):
// `Algorithm`, `DecodingKey`, `EncodingKey`, `Header`, `Validation`, and
// `jsonwebtoken::errors::ErrorKind` for `TokenError`; `serde::{Deserialize, Serialize}`
// for `Claims`; and `std::env::VarError` to read `JWT_SECRET`.

/// What a token says, as JSON: `{"sub": "…", "username": "…", "iat": …, "exp": …}`.
// TODO: (2) derive `Debug, Serialize, Deserialize`: `encode` writes the claims as JSON
// and `decode` reads them back.
pub struct Claims {
    pub sub: String,
    pub username: String,
    pub iat: u64,
    pub exp: u64,
}

/// The keys and rules for making and checking tokens: made once at start, shared by
/// the HTTP handlers (which make tokens) and the connect middleware (which checks them).
#[derive(Clone)]
pub struct Tokens {
    // TODO: (3) three fields: `encoding: EncodingKey`, `decoding: DecodingKey` (both
    // from the same secret: HS256 signs and verifies with one key) and
    // `validation: Validation`, the rules `decode` checks a token against.
}

impl Tokens {
    /// The tokens signed with `JWT_SECRET`, or with a random key when it is not set.
    pub fn from_env() -> Result<Tokens, String> {
        // TODO: (3) read `std::env::var("JWT_SECRET")`, as `session_key` in main.rs
        // reads `SESSION_SECRET`: a secret shorter than 32 bytes is an error that says
        // how to make a good one (`openssl rand -base64 48`); no secret at all means a
        // random key, `rand::random::<[u8; 32]>()`, and a note on stderr that tokens
        // then die with the server. Then `Ok(Tokens::new(&secret))`.
        Ok(Tokens::new(&[]))
    }

    /// The tokens signed with `secret`.
    pub fn new(secret: &[u8]) -> Tokens {
        // TODO: (3) pin the algorithm on the server's side,
        // `let mut validation = Validation::new(Algorithm::HS256);`, set a small
        // `validation.leeway` (5 seconds), require `exp` and `sub`
        // (`validation.set_required_spec_claims(&["exp", "sub"])`), and make both keys
        // with `EncodingKey::from_secret(secret)` / `DecodingKey::from_secret(secret)`.
        let _ = secret;
        Tokens {}
    }

    /// A new token for `user`, good for an hour.
    pub fn issue(&self, user: &User) -> Result<String, TokenError> {
        // TODO: (4) `let now = jsonwebtoken::get_current_timestamp();`, claims with
        // `sub: user.id`, `username`, `iat: now` and `exp: now + 3600`, signed with
        // `jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)`.
        // Return its error as it is (`Result<String, jsonwebtoken::errors::Error>`);
        // main.rs's `AppError` needs a variant for it.
        let _ = user;
        Err(TokenError("tokens are not written yet".to_string()))
    }

    /// The claims of `token`, if it is one of ours and still good.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        // TODO: (5) `jsonwebtoken::decode::<Claims>(token, &self.decoding,
        // &self.validation)`, keeping `.claims` of the result. `decode` checks the
        // format, the header's `alg` against `validation`, the signature, and `exp`;
        // never read the claims any other way.
        let _ = token;
        Err(TokenError("tokens are not written yet".to_string()))
    }
}

/// Why a token was refused, for the server's log only: the client is told just
/// "Authentication error", whatever the cause.
// TODO: (5) keep jsonwebtoken's `ErrorKind` in here instead of a `String`
// (`TokenError(err.into_kind())`), and say in `Display` what it means in words:
// `ExpiredSignature`, `InvalidSignature`, `InvalidAlgorithm`…
#[derive(Debug)]
pub struct TokenError(String);

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TokenError {}
