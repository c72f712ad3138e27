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

use std::env::VarError;
use std::fmt;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::accounts::User;

/// The environment variable that holds the signing key.
const SECRET_VAR: &str = "JWT_SECRET";
/// The shortest key accepted: 32 bytes, the size of HS256's output. A short key is
/// a guessable key, and with a token in hand, guesses can be checked offline, as
/// fast as a machine can compute HMACs.
const MIN_SECRET_BYTES: usize = 32;
/// How long a token is good for, in seconds.
const LIFETIME_SECS: u64 = 60 * 60;
/// How many seconds past `exp` a token is still accepted: clocks of different
/// machines disagree a little. jsonwebtoken's default is 60; a few suffice here,
/// where the server that checks is the one that signed.
const LEEWAY_SECS: u64 = 5;

/// What a token says, as JSON: `{"sub": "…", "username": "…", "iat": …, "exp": …}`.
#[derive(Debug, Serialize, Deserialize)]
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
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl Tokens {
    /// The tokens signed with `JWT_SECRET`, or with a random key when it is not set.
    pub fn from_env() -> Result<Tokens, String> {
        let secret = match std::env::var(SECRET_VAR) {
            Ok(secret) if secret.len() >= MIN_SECRET_BYTES => secret.into_bytes(),
            Ok(secret) => {
                return Err(format!(
                    "{SECRET_VAR} must be at least {MIN_SECRET_BYTES} bytes long, not {}; \
                     `openssl rand -base64 48` makes a good one",
                    secret.len()
                ));
            }
            Err(VarError::NotPresent) => {
                // As with the session key: a random key works, but every token made
                // before a restart fails the new key's check, and its holder must log
                // in again.
                eprintln!(
                    "note: {SECRET_VAR} is not set, so tokens are signed with a random key, \
                     and every token stops working when the server stops"
                );
                rand::random::<[u8; 32]>().to_vec()
            }
            Err(VarError::NotUnicode(_)) => return Err(format!("{SECRET_VAR} must be text")),
        };
        Ok(Tokens::new(&secret))
    }

    /// The tokens signed with `secret`.
    pub fn new(secret: &[u8]) -> Tokens {
        // The algorithm is pinned here, on the server's side, not read from the token.
        // A token's header names its own algorithm, and a server that believed it
        // could be told `"alg": "none"` (no signature at all), or, when it holds an
        // RSA public key, `"alg": "HS256"` with that public key used as an HMAC secret
        // (the public key is public, so anyone can sign with it). `decode` refuses
        // every token whose header names another algorithm than the ones listed here.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        // `exp` is required by default; `sub` names the user, so require it too.
        validation.set_required_spec_claims(&["exp", "sub"]);
        Tokens {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// A new token for `user`, good for an hour.
    pub fn issue(&self, user: &User) -> Result<String, jsonwebtoken::errors::Error> {
        let now = jsonwebtoken::get_current_timestamp();
        let claims = Claims {
            sub: user.id.clone(),
            username: user.username.clone(),
            iat: now,
            exp: now + LIFETIME_SECS,
        };
        // `Header::new(Algorithm::HS256)` writes `{"typ":"JWT","alg":"HS256"}`.
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    /// The claims of `token`, if it is one of ours and still good.
    ///
    /// `decode` does every check, in this order: three parts of base64url; a header
    /// whose `alg` is one that `validation` allows (HS256 only); a signature that this
    /// key made; claims that parse as `Claims`; `exp` present and not past (give or
    /// take the leeway). Any failure is an error, and no claim is returned unchecked.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|err| TokenError(err.into_kind()))
    }
}

/// Why a token was refused, for the server's log only: the client is told just
/// "Authentication error", whatever the cause.
#[derive(Debug)]
pub struct TokenError(ErrorKind);

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            ErrorKind::ExpiredSignature => f.write_str("the token has expired"),
            ErrorKind::InvalidSignature => f.write_str("the signature is not ours"),
            ErrorKind::InvalidAlgorithm => f.write_str("the token names another algorithm"),
            ErrorKind::MissingRequiredClaim(claim) => write!(f, "the token has no `{claim}`"),
            ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Json(_) => {
                f.write_str("this is not a token")
            }
            other => write!(f, "the token is not valid ({other:?})"),
        }
    }
}

impl std::error::Error for TokenError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn ada() -> User {
        User {
            id: "0123456789abcdef01234567".to_string(),
            username: "ada".to_string(),
        }
    }

    #[test]
    fn a_token_we_made_verifies() {
        let tokens = Tokens::new(&[7; 32]);
        let token = tokens.issue(&ada()).unwrap();
        let claims = tokens.verify(&token).unwrap();
        assert_eq!(claims.sub, ada().id);
        assert_eq!(claims.exp - claims.iat, LIFETIME_SECS);
    }

    #[test]
    fn another_key_s_token_does_not() {
        let ours = Tokens::new(&[7; 32]);
        let theirs = Tokens::new(&[8; 32]);
        let token = theirs.issue(&ada()).unwrap();
        assert!(ours.verify(&token).is_err());
    }

    #[test]
    fn alg_none_does_not() {
        let tokens = Tokens::new(&[7; 32]);
        let token = tokens.issue(&ada()).unwrap();
        // The same claims under `{"alg":"none","typ":"JWT"}`, without a signature.
        let claims = token.split('.').nth(1).unwrap();
        let unsigned = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{claims}.");
        assert!(tokens.verify(&unsigned).is_err());
    }

    #[test]
    fn garbage_does_not() {
        let tokens = Tokens::new(&[7; 32]);
        assert!(tokens.verify("hello").is_err());
        assert!(tokens.verify("").is_err());
    }
}
