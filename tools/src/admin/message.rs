//! Message commands: queryMsgById, queryMsgByKey, queryMsgByUniqueKey, queryMsgByOffset,
//! sendMessage, consumeMessage.

use client::consumer::{PullConsumer, PullStatus};
use client::producer::{Message, Producer, ProducerConfig, SendStatus};
use getopts::Matches;
use serde_json::{json, Value};
use wire::body::MessageQueue;
use wire::message::MessageRecord;

use super::format::{front, message_detail, message_id, message_json, now_millis, parse_time};
use super::{parsed, required, Command, CommandError, Outcome, Output, Session};

/// Apache's tools consume as this group.
const TOOLS_CONSUMER: &str = "TOOLS_CONSUMER";

pub fn commands() -> Vec<Command> {
    vec![
        Command {
            name: "queryMsgById",
            description: "Query Message by Id",
            options: |o| {
                o.optopt("i", "msgId", "offset message id(s), comma-separated", "IDS");
                o.optopt(
                    "t",
                    "topic",
                    "topic: lets a client id (UNIQ_KEY) be found too",
                    "TOPIC",
                );
            },
            run: query_by_id,
        },
        Command {
            name: "queryMsgByKey",
            description: "Query Message by Key",
            options: |o| {
                o.optopt("t", "topic", "topic name", "TOPIC");
                o.optopt("k", "msgKey", "message key", "KEY");
            },
            run: query_by_key,
        },
        Command {
            name: "queryMsgByUniqueKey",
            description: "Query Message by Unique key",
            options: |o| {
                o.optopt("i", "msgId", "the client's message id (UNIQ_KEY)", "ID");
                o.optopt("t", "topic", "topic name", "TOPIC");
            },
            run: query_by_unique_key,
        },
        Command {
            name: "queryMsgByOffset",
            description: "Query Message by offset",
            options: |o| {
                o.optopt("t", "topic", "topic name", "TOPIC");
                o.optopt("b", "brokerName", "broker name", "NAME");
                o.optopt("i", "queueId", "queue id", "ID");
                o.optopt("o", "offset", "queue offset", "OFFSET");
            },
            run: query_by_offset,
        },
        Command {
            name: "sendMessage",
            description: "Send a message",
            options: send_message_options,
            run: send_message,
        },
        Command {
            name: "consumeMessage",
            description: "Consume message",
            options: consume_message_options,
            run: consume_message,
        },
    ]
}

fn send_message_options(o: &mut getopts::Options) {
    o.optopt("t", "topic", "topic name", "TOPIC");
    o.optopt(
        "p",
        "body",
        "UTF-8 string format of the message body",
        "BODY",
    );
    o.optopt("k", "key", "Message keys", "KEYS");
    o.optopt("c", "tags", "Message tags", "TAGS");
    o.optopt("b", "broker", "Send message to target broker", "NAME");
    o.optopt("i", "qid", "Send message to target queue", "ID");
}

fn consume_message_options(o: &mut getopts::Options) {
    o.optopt("t", "topic", "topic name", "TOPIC");
    o.optopt("b", "brokerName", "broker name", "NAME");
    o.optopt("i", "queueId", "queue id (needs -b)", "ID");
    o.optopt("o", "offset", "queue offset (needs -i)", "OFFSET");
    o.optopt(
        "g",
        "consumerGroup",
        "consumer group (default TOOLS_CONSUMER)",
        "G",
    );
    o.optopt(
        "s",
        "beginTimestamp",
        "ms or yyyy-MM-dd#HH:mm:ss:SSS",
        "TIME",
    );
    o.optopt("e", "endTimestamp", "ms or yyyy-MM-dd#HH:mm:ss:SSS", "TIME");
    o.optopt(
        "c",
        "MessageNumber",
        "how many messages at most (default 128)",
        "N",
    );
}

fn details(session: &mut Session, matches: &Matches, found: &[MessageRecord]) -> Outcome {
    let admin = session.admin(matches)?;
    let text = found
        .iter()
        .map(|record| message_detail(record, Some(admin)))
        .collect::<Vec<_>>()
        .join("\n");
    let json = Value::Array(found.iter().map(message_json).collect());
    Ok(Output {
        text,
        json: json!({ "messages": json }),
    })
}

fn query_by_id(session: &mut Session, matches: &Matches) -> Outcome {
    let ids = required(matches, "i")?;
    let topic = matches.opt_str("t");
    let admin = session.admin(matches)?;
    let mut found = Vec::new();
    for id in ids.split(',').map(str::trim).filter(|id| !id.is_empty()) {
        // An offset id names the broker and the record; a client id (UNIQ_KEY) has the same
        // shape and is only found through the index, which needs the topic.
        let by_offset = admin.view_message(id);
        match (by_offset, &topic) {
            (Ok(record), _) => found.push(record),
            (Err(error), None) => {
                return Err(CommandError::Failed(format!(
                    "message {id} not found by offset id ({error}); a client id needs -t <topic>"
                )))
            }
            (Err(_), Some(topic)) => {
                let mut records = admin.query_message(topic, id, 32, true)?;
                if records.is_empty() {
                    return Err(CommandError::Failed(format!("message {id} not found")));
                }
                found.push(records.remove(0));
            }
        }
    }
    details(session, matches, &found)
}

fn query_by_unique_key(session: &mut Session, matches: &Matches) -> Outcome {
    let id = required(matches, "i")?;
    let topic = required(matches, "t")?;
    let records = session
        .admin(matches)?
        .query_message(&topic, &id, 32, true)?;
    if records.is_empty() {
        return Err(CommandError::Failed(format!(
            "message {id} not found in {topic}"
        )));
    }
    details(session, matches, &records[..1])
}

fn query_by_key(session: &mut Session, matches: &Matches) -> Outcome {
    let topic = required(matches, "t")?;
    let key = required(matches, "k")?;
    let records = session
        .admin(matches)?
        .query_message(&topic, &key, 64, false)?;
    if records.is_empty() {
        return Err(CommandError::Failed(format!(
            "query message by key {key} finished, but no message."
        )));
    }
    let mut text = format!("{:<50} {:>4} {:>40}\n", "#Message ID", "#QID", "#Offset");
    for record in &records {
        text.push_str(&format!(
            "{:<50} {:>4} {:>40}\n",
            message_id(record),
            record.queue_id,
            record.queue_offset
        ));
    }
    let json = Value::Array(records.iter().map(message_json).collect());
    Ok(Output {
        text,
        json: json!({ "topic": topic, "key": key, "messages": json }),
    })
}

fn pull_consumer(
    session: &Session,
    matches: &Matches,
    group: &str,
) -> Result<PullConsumer, CommandError> {
    let namesrv = session.namesrv(matches)?;
    Ok(PullConsumer::start(group, &namesrv)?)
}

fn query_by_offset(session: &mut Session, matches: &Matches) -> Outcome {
    let queue = MessageQueue {
        topic: required(matches, "t")?,
        broker_name: required(matches, "b")?,
        queue_id: parsed(matches, "i")?.ok_or_else(|| CommandError::Usage("missing -i".into()))?,
    };
    let offset: i64 =
        parsed(matches, "o")?.ok_or_else(|| CommandError::Usage("missing -o".into()))?;
    let consumer = pull_consumer(session, matches, TOOLS_CONSUMER)?;
    let pulled = consumer.pull(&queue, "*", offset, 1, None);
    consumer.shutdown();
    let pulled = pulled?;
    match (pulled.status, pulled.messages.into_iter().next()) {
        (PullStatus::Found, Some(record)) => details(session, matches, &[record]),
        (status, _) => Err(CommandError::Failed(format!(
            "no message at offset {offset} of {}:{}:{} ({status:?}; queue holds {}..{})",
            queue.topic, queue.broker_name, queue.queue_id, pulled.min_offset, pulled.max_offset
        ))),
    }
}

fn send_message(session: &mut Session, matches: &Matches) -> Outcome {
    let topic = required(matches, "t")?;
    let body = required(matches, "p")?;
    let broker = matches.opt_str("b");
    let queue_id: Option<i32> = parsed(matches, "i")?;
    if queue_id.is_some() && broker.is_none() {
        return Err(CommandError::Usage(
            "Broker name must be set if the queue is chosen!".into(),
        ));
    }
    let mut message = Message::new(&topic, body.into_bytes());
    if let Some(tags) = matches.opt_str("c") {
        message = message.with_tags(tags.trim());
    }
    if let Some(keys) = matches.opt_str("k") {
        message = message.with_keys(
            &keys
                .split(' ')
                .filter(|k| !k.is_empty())
                .collect::<Vec<_>>(),
        );
    }
    if let (Some(broker), Some(queue_id)) = (&broker, queue_id) {
        let route = session.admin(matches)?.topic_route(&topic)?;
        let exists = route
            .queue_datas
            .iter()
            .any(|q| q.broker_name == *broker && (0..q.write_queue_nums).contains(&queue_id));
        if !exists {
            return Err(CommandError::Failed(format!(
                "topic {topic} has no writable queue {queue_id} on broker {broker}"
            )));
        }
    }
    let namesrv = session.namesrv(matches)?;
    let producer = Producer::start(ProducerConfig::new(&now_millis().to_string(), &namesrv))?;
    let sent = match (broker, queue_id) {
        (Some(broker), Some(queue_id)) => producer.send_to_queue(&message, |queues| {
            // Checked against the route above; a route that changed since sends elsewhere
            // only if the queue vanished in between.
            queues
                .iter()
                .position(|q| q.broker_name == broker && q.queue_id == queue_id)
                .unwrap_or(0)
        }),
        _ => producer.send(&message),
    };
    producer.shutdown();
    let sent = sent?;
    let status = match sent.status {
        SendStatus::Ok => "SEND_OK",
        SendStatus::FlushDiskTimeout => "FLUSH_DISK_TIMEOUT",
        SendStatus::FlushSlaveTimeout => "FLUSH_SLAVE_TIMEOUT",
        SendStatus::SlaveNotAvailable => "SLAVE_NOT_AVAILABLE",
    }
    .to_string();
    let row = |a: &str, b: &str, c: &str, d: &str| format!("{a:<32}  {b:<4}  {c:<20}    {d}\n");
    let mut text = row("#Broker Name", "#QID", "#Send Result", "#MsgId");
    let queue = &sent.queue;
    text.push_str(&row(
        &front(&queue.broker_name, 32),
        &queue.queue_id.to_string(),
        &status,
        &sent.msg_id,
    ));
    let json = json!({ "brokerName": queue.broker_name, "queueId": queue.queue_id,
        "queueOffset": sent.queue_offset, "sendStatus": status, "msgId": sent.msg_id,
        "offsetMsgId": sent.offset_msg_id });
    Ok(Output { text, json })
}

fn consume_message(session: &mut Session, matches: &Matches) -> Outcome {
    let topic = required(matches, "t")?;
    let broker = matches.opt_str("b");
    let queue_id: Option<i32> = parsed(matches, "i")?;
    let offset: Option<i64> = parsed(matches, "o")?;
    let count: i64 = parsed(matches, "c")?.unwrap_or(128);
    if count <= 0 {
        return Err(CommandError::Usage(
            "Please input a positive messageNumber!".into(),
        ));
    }
    if queue_id.is_some() && broker.is_none() {
        return Err(CommandError::Usage(
            "Please set the brokerName before queueId!".into(),
        ));
    }
    if offset.is_some() && queue_id.is_none() {
        return Err(CommandError::Usage(
            "Please set queueId before offset!".into(),
        ));
    }
    let time = |flag: &str| -> Result<Option<i64>, CommandError> {
        match matches.opt_str(flag) {
            None => Ok(None),
            Some(text) => parse_time(&text, false)
                .map(Some)
                .ok_or_else(|| CommandError::Usage(format!("-{flag} {text}: not a time"))),
        }
    };
    let (begin, end) = (time("s")?, time("e")?);
    let group = matches
        .opt_str("g")
        .unwrap_or_else(|| TOOLS_CONSUMER.to_string());
    let consumer = pull_consumer(session, matches, &group)?;
    let result = consume_queues(
        &consumer,
        &topic,
        (broker, queue_id, offset),
        (begin, end),
        count,
    );
    consumer.shutdown();
    let (text, messages) = result?;
    Ok(Output {
        text,
        json: json!({ "topic": topic, "messages": messages }),
    })
}

type QueueChoice = (Option<String>, Option<i32>, Option<i64>);

/// Pulls up to `count` messages from the chosen queues, oldest first per queue.
fn consume_queues(
    consumer: &PullConsumer,
    topic: &str,
    (broker, queue_id, offset): QueueChoice,
    (begin, end): (Option<i64>, Option<i64>),
    count: i64,
) -> Result<(String, Vec<Value>), CommandError> {
    let mut queues = consumer.fetch_queues(topic)?;
    queues.retain(|q| broker.as_ref().is_none_or(|b| *b == q.broker_name));
    queues.retain(|q| queue_id.is_none_or(|id| id == q.queue_id));
    if queues.is_empty() {
        return Err(CommandError::Failed(format!(
            "no such queue of topic {topic}"
        )));
    }
    let (mut text, mut messages, mut left) = (String::new(), Vec::new(), count);
    for queue in queues {
        let mut from = match begin {
            Some(t) => consumer.search_offset(&queue, t)?,
            None => consumer.min_offset(&queue)?,
        };
        from = from.max(offset.unwrap_or(0));
        let until = match end {
            Some(t) => consumer.search_offset(&queue, t)?,
            None => consumer.max_offset(&queue)?,
        };
        while from < until && left > 0 {
            let batch = (until - from).min(left).min(32) as i32;
            let pulled = consumer.pull(&queue, "*", from, batch, None)?;
            if pulled.status != PullStatus::Found && pulled.status != PullStatus::NoMatchedMessage {
                break;
            }
            for record in pulled.messages.iter().take(left as usize) {
                text.push_str(&format!(
                    "MSGID: {} QUEUE: {}:{} OFFSET: {} STORED: {} BODY: {}\n",
                    message_id(record),
                    queue.broker_name,
                    queue.queue_id,
                    record.queue_offset,
                    super::format::time_millis(record.store_timestamp),
                    String::from_utf8_lossy(&record.body)
                ));
                messages.push(message_json(record));
                left -= 1;
            }
            if pulled.next_begin_offset <= from {
                break;
            }
            from = pulled.next_begin_offset;
        }
    }
    text.push_str(&format!(
        "Consumed {} message(s) of {topic}\n",
        messages.len()
    ));
    Ok((text, messages))
}
