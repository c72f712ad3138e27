//! The Redis adapter: what lets several server processes act as one Socket.IO server.
//!
//! Without it, `io.to("user:42").emit(…)` reaches the sockets of user 42 *in this
//! process*, because rooms are a table in this process's memory (socketioxide's
//! `LocalAdapter`). With two processes behind one address, a user's laptop may be
//! connected to one and her phone to the other: each process knows half of her.
//!
//! The adapter changes where a broadcast goes, not how handlers are written. Every
//! process subscribes to a few Redis pub/sub channels (named after the namespace,
//! `socket.io-request#/#` and the like). A broadcast (`emit`, `disconnect`, `join` on
//! a room) is carried out here for this process's sockets *and* published on Redis, so
//! that every other process does the same for its own. A question (`fetch_sockets`,
//! `rooms`) is published as a request; each process answers with what it holds, and
//! the asker waits for as many answers as Redis says there are subscribers, or for the
//! request timeout (5 s by default).
//!
//! Nothing else is shared. The sockets, their extensions, their event handlers and their
//! Engine.IO connections stay in the process the client reached: a socket on another
//! process is a `RemoteSocket`, an id and a node, with no extensions. That is why the
//! rooms are named after what a cross-process question needs (`user:{id}`,
//! `session:{id}`), and why sessions live in MongoDB, which every process reads.

use socketioxide::adapter::Emitter;
use socketioxide_redis::drivers::redis::RedisDriver;
// The adapter re-exports the `redis` crate it was built with, so there is no second
// `redis` dependency whose version must match its own.
use socketioxide_redis::drivers::redis::redis_client as redis;
use socketioxide_redis::{RedisAdapter, RedisAdapterConfig, RedisAdapterCtr};

use redis::IntoConnectionInfo;

/// The adapter every `SocketRef`, `SocketIo` and `AckSender` of this server is
/// parameterised with (it is `LocalAdapter` when left out).
pub type Adapter = RedisAdapter<Emitter>;

/// The Redis used when `REDIS_URL` is not set: `cargo grade redis` starts one there.
const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// Connects to the Redis in `REDIS_URL` and makes the adapter's constructor, which
/// `SocketIo::builder().with_adapter::<Adapter>(…)` takes.
///
/// One connection for commands and pub/sub, made here, at start: a server that cannot
/// reach Redis says so at once rather than at the first broadcast. It is never made
/// again: when Redis goes away, every broadcast fails (even to this process's own
/// sockets) until the server restarts. Start Redis first, and restart the servers if it
/// restarts.
pub async fn connect() -> Result<RedisAdapterCtr<RedisDriver>, String> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| DEFAULT_REDIS_URL.to_string());
    let unreachable = |err: redis::RedisError| {
        format!(
            "no Redis answered at {url} ({err}). Start one with `cargo grade redis`, \
             or point REDIS_URL at yours"
        )
    };
    // The adapter's driver receives pub/sub messages as RESP3 "pushes" on its one
    // connection, and refuses a client that speaks RESP2, the `redis` crate's default
    // ("Can only pass push sender to a connection using RESP3"). Asking for RESP3 here
    // makes a plain `redis://host:port` work (Redis 6 and newer speak it).
    let info = url.as_str().into_connection_info().map_err(unreachable)?;
    let settings = info
        .redis_settings()
        .clone()
        .set_protocol(redis::ProtocolVersion::RESP3);
    let client = redis::Client::open(info.set_redis_settings(settings)).map_err(unreachable)?;
    // The defaults: channels prefixed `socket.io` (two applications sharing one Redis
    // need different prefixes: pub/sub ignores database numbers), and questions to the
    // other processes answered within 5 s. A process that is alive but stuck makes
    // `fetch_sockets` wait that long, then answer without it.
    RedisAdapterCtr::new_with_redis_config(&client, RedisAdapterConfig::default())
        .await
        .map_err(|err| {
            format!(
                "the Socket.IO Redis adapter could not start on {url} ({err}). Is a Redis \
                 (6 or newer) running there? `cargo grade redis` starts one"
            )
        })
}
