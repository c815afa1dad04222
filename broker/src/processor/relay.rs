//! GET_CONSUMER_RUNNING_INFO (307, `mqadmin consumerStatus`, `consumerProgress -s true`): the
//! broker passes the admin's request to the consumer's own connection and, when the consumer
//! answers, hands the answer back under the admin's opaque. An unknown consumer is SYSTEM_ERROR
//! at once; a consumer that does not answer within the admin's patience is CONSUME_MSG_TIMEOUT.
//!
//! Runs on the event-loop thread; relays in flight live in [`Relays`].

use std::collections::HashMap;
use std::time::{Duration, Instant};

use client::net::{ConnectionId, Context};
use wire::{RemotingCommand, RequestCode, ResponseCode};

use crate::server::Broker;

/// How long a consumer has to answer (upstream's admin waits 15 s).
const RELAY_TIMEOUT: Duration = Duration::from_secs(10);

struct Pending {
    admin: ConnectionId,
    consumer: ConnectionId,
    request: RemotingCommand,
    deadline: Instant,
}

/// Requests passed to clients, by the opaque the broker gave them.
#[derive(Default)]
pub struct Relays {
    next_opaque: i32,
    pending: HashMap<i32, Pending>,
}

fn refusal(request: &RemotingCommand, code: ResponseCode, remark: String) -> RemotingCommand {
    let mut response = RemotingCommand::response_to(request, code);
    response.remark = Some(remark);
    response
}

impl Broker {
    /// Relays a GET_CONSUMER_RUNNING_INFO to the consumer it names, or answers at once when
    /// it cannot.
    pub(crate) fn on_consumer_running_info(
        &mut self,
        ctx: &mut Context<'_>,
        admin: ConnectionId,
        request: RemotingCommand,
    ) {
        let group = request
            .ext_fields
            .get("consumerGroup")
            .unwrap_or_default()
            .to_string();
        let client_id = request
            .ext_fields
            .get("clientId")
            .unwrap_or_default()
            .to_string();
        let connection = self
            .consumers
            .group(&group)
            .and_then(|g| g.find_client(&client_id))
            .map(|channel| channel.connection);
        let Some(connection) = connection else {
            let remark = format!("The Consumer <{group}> <{client_id}> not online");
            let answer = refusal(&request, ResponseCode::SYSTEM_ERROR, remark);
            self.reply(ctx, admin, &request, &answer);
            return;
        };
        let relays = &mut self.relays;
        relays.next_opaque = relays.next_opaque.wrapping_add(1).max(1 << 24);
        let mut relayed = RemotingCommand::request(RequestCode::GET_CONSUMER_RUNNING_INFO, 0);
        relayed.opaque = relays.next_opaque;
        relayed.ext_fields = request.ext_fields.clone();
        relayed.body = request.body.clone();
        if !ctx.send(connection, &relayed) {
            let remark = format!("The Consumer <{group}> <{client_id}> connection is gone");
            let answer = refusal(&request, ResponseCode::SYSTEM_ERROR, remark);
            self.reply(ctx, admin, &request, &answer);
            return;
        }
        let deadline = Instant::now() + RELAY_TIMEOUT;
        relays.pending.insert(
            relayed.opaque,
            Pending {
                admin,
                consumer: connection,
                request,
                deadline,
            },
        );
    }

    /// A response on a client connection: true when it answers a relayed request (and went
    /// back to the admin that asked).
    pub(crate) fn on_relayed_response(
        &mut self,
        ctx: &mut Context<'_>,
        from: ConnectionId,
        response: &RemotingCommand,
    ) -> bool {
        // Only the consumer asked may answer: an opaque alone could come from any client.
        let ours = self
            .relays
            .pending
            .get(&response.opaque)
            .is_some_and(|p| p.consumer == from);
        let Some(pending) = ours
            .then(|| self.relays.pending.remove(&response.opaque))
            .flatten()
        else {
            return false;
        };
        let mut answer = RemotingCommand::response_to(&pending.request, ResponseCode::SUCCESS);
        answer.code = response.code;
        answer.remark = response.remark.clone();
        answer.ext_fields = response.ext_fields.clone();
        answer.body = response.body.clone();
        ctx.send(pending.admin, &answer);
        true
    }

    /// A connection closed: relays to that consumer fail at once, relays for that admin go.
    pub(crate) fn on_relay_connection_closed(&mut self, ctx: &mut Context<'_>, id: ConnectionId) {
        let gone: Vec<i32> = self
            .relays
            .pending
            .iter()
            .filter(|(_, p)| p.consumer == id || p.admin == id)
            .map(|(opaque, _)| *opaque)
            .collect();
        for opaque in gone {
            if let Some(pending) = self.relays.pending.remove(&opaque) {
                if pending.admin != id {
                    let remark = "the consumer's connection closed".to_string();
                    let answer = refusal(&pending.request, ResponseCode::SYSTEM_ERROR, remark);
                    ctx.send(pending.admin, &answer);
                }
            }
        }
    }

    /// Answers CONSUME_MSG_TIMEOUT for relays whose consumer stayed silent.
    pub(crate) fn expire_relays(&mut self, ctx: &mut Context<'_>, now: Instant) {
        let late: Vec<i32> = self
            .relays
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(opaque, _)| *opaque)
            .collect();
        for opaque in late {
            if let Some(pending) = self.relays.pending.remove(&opaque) {
                let remark = "the consumer did not answer in time".to_string();
                let answer = refusal(&pending.request, ResponseCode::CONSUME_MSG_TIMEOUT, remark);
                ctx.send(pending.admin, &answer);
            }
        }
    }
}
