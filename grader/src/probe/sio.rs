//! Probes of the Socket.IO plumbing (stage 03): the Engine.IO handshake on each
//! transport, and a CONNECT to the default namespace.

use serde::Deserialize;

use super::engineio::{Engine, Transport};
use super::socketio::{Options, SioClient};
use super::{Ctx, Failure, Step};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransportParams {
    transport: Transport,
}

/// The Engine.IO handshake answers with an open packet carrying a session id.
pub async fn handshake(ctx: &Ctx, p: TransportParams) -> Step<()> {
    let engine = Engine::open(ctx, "client", p.transport, &Vec::new()).await?;
    if engine.open.sid.is_empty() {
        return Err(Failure::new("The open packet's `sid` is empty."));
    }
    if p.transport == Transport::Polling && !engine.open.upgrades.iter().any(|u| u == "websocket") {
        return Err(Failure::new(format!(
            "The handshake offers no upgrade to WebSocket (\"upgrades\": {:?}), so browsers \
             stay on long-polling.",
            engine.open.upgrades
        )));
    }
    engine.close().await;
    Ok(())
}

/// A client connects to the default namespace and is accepted.
pub async fn connect(ctx: &Ctx, p: TransportParams) -> Step<()> {
    let client = SioClient::connect(ctx, "client", &Options::new(p.transport)).await?;
    if p.transport == Transport::Upgrade && client.transport() != "websocket" {
        return Err(Failure::new(
            "The client is still on long-polling after the upgrade.",
        ));
    }
    client.disconnect().await;
    Ok(())
}
