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

use socketioxide::adapter::LocalAdapter;

// TODO: (2) the adapter every `SocketRef`, `SocketIo` and `AckSender` of this server is
// parameterised with. `LocalAdapter` keeps rooms in this process's memory; make it
// `socketioxide_redis::RedisAdapter<socketioxide::adapter::Emitter>`.
pub type Adapter = LocalAdapter;

// TODO: (3) write `pub async fn connect() -> Result<RedisAdapterCtr<RedisDriver>, String>`:
// read `REDIS_URL` (default `redis://127.0.0.1:6379`), make a `redis::Client` for it
// that speaks RESP3 (the adapter's driver refuses RESP2, the client's default), and
// return `RedisAdapterCtr::new_with_redis_config(&client, RedisAdapterConfig::default())
// .await`. Errors become a message that names the URL and says how to start a Redis
// (`cargo grade redis`). The adapter re-exports the `redis` crate it was built with, as
// `socketioxide_redis::drivers::redis::redis_client`.
