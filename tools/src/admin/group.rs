//! Consumer and producer group commands: updateSubGroup, deleteSubGroup, consumerProgress,
//! consumerConnection, consumerStatus, producerConnection, resetOffsetByTime.

use std::collections::BTreeMap;

use client::admin::AdminClient;
use getopts::Matches;
use serde_json::{json, Value};
use wire::body::{Connection, ConsumeStats, MessageQueue, SubscriptionGroupConfig};

use super::format::{front, parse_time, time_seconds};
use super::overview::targets;
use super::{parsed, required, Command, CommandError, Outcome, Output, Session};

pub fn commands() -> Vec<Command> {
    vec![
        Command {
            name: "updateSubGroup",
            description: "Update or create subscription group",
            options: update_group_options,
            run: update_group,
        },
        Command {
            name: "deleteSubGroup",
            description: "Delete subscription group from broker.",
            options: |o| {
                o.optopt(
                    "b",
                    "brokerAddr",
                    "delete subscription group from which broker",
                    "ADDR",
                );
                o.optopt(
                    "c",
                    "clusterName",
                    "delete subscription group from which cluster",
                    "NAME",
                );
                o.optopt("g", "groupName", "subscription group name", "GROUP");
                o.optopt("r", "removeOffset", "remove offset (default false)", "BOOL");
            },
            run: delete_group,
        },
        Command {
            name: "consumerProgress",
            description: "Query consumers's progress, speed",
            options: consumer_progress_options,
            run: consumer_progress,
        },
        Command {
            name: "consumerConnection",
            description: "Query consumer's socket connection, client version and subscription",
            options: |o| {
                o.optopt("g", "consumerGroup", "consumer group name", "GROUP");
            },
            run: consumer_connection,
        },
        Command {
            name: "consumerStatus",
            description: "Query consumer's internal data structure",
            options: consumer_status_options,
            run: consumer_status,
        },
        Command {
            name: "producerConnection",
            description: "Query producer's socket connection and client version",
            options: |o| {
                o.optopt("g", "producerGroup", "producer group name", "GROUP");
                o.optopt("t", "topic", "topic name", "TOPIC");
            },
            run: producer_connection,
        },
        Command {
            name: "resetOffsetByTime",
            description: "Reset consumer offset by timestamp(without client restart).",
            options: reset_offset_options,
            run: reset_offset,
        },
    ]
}

fn consumer_progress_options(o: &mut getopts::Options) {
    o.optopt(
        "g",
        "groupName",
        "consumer group name (default: all groups)",
        "GROUP",
    );
    o.optopt(
        "s",
        "showClientIP",
        "true: which client holds each queue",
        "BOOL",
    );
}

fn consumer_status_options(o: &mut getopts::Options) {
    o.optopt("g", "consumerGroup", "consumer group name", "GROUP");
    o.optopt(
        "i",
        "clientId",
        "one consumer's client id (default: all)",
        "ID",
    );
}

fn update_group_options(o: &mut getopts::Options) {
    o.optopt(
        "b",
        "brokerAddr",
        "create subscription group to which broker",
        "ADDR",
    );
    o.optopt(
        "c",
        "clusterName",
        "create subscription group to which cluster",
        "NAME",
    );
    o.optopt("g", "groupName", "consumer group name", "GROUP");
    o.optopt(
        "s",
        "consumeEnable",
        "consume enable (default true)",
        "BOOL",
    );
    o.optopt(
        "m",
        "consumeFromMinEnable",
        "from min offset (default false)",
        "BOOL",
    );
    o.optopt(
        "d",
        "consumeBroadcastEnable",
        "broadcast (default false)",
        "BOOL",
    );
    o.optopt("q", "retryQueueNums", "retry queue nums (default 1)", "N");
    o.optopt("r", "retryMaxTimes", "retry max times (default 16)", "N");
    o.optopt(
        "i",
        "brokerId",
        "consumer from which broker id (default 0)",
        "ID",
    );
    o.optopt(
        "w",
        "whichBrokerWhenConsumeSlowly",
        "broker id when slow",
        "ID",
    );
    o.optopt(
        "a",
        "notifyConsumerIdsChanged",
        "notify (default true)",
        "BOOL",
    );
}

fn reset_offset_options(o: &mut getopts::Options) {
    o.optopt("g", "group", "set the consumer group", "GROUP");
    o.optopt("t", "topic", "set the topic", "TOPIC");
    o.optopt(
        "s",
        "timestamp",
        "now, ms since the epoch, or yyyy-MM-dd#HH:mm:ss:SSS",
        "TIME",
    );
    o.optopt(
        "f",
        "force",
        "also move offsets forward (default true)",
        "BOOL",
    );
}

fn boolean(matches: &Matches, name: &str, default: bool) -> Result<bool, CommandError> {
    match matches.opt_str(name).as_deref().map(str::trim) {
        None => Ok(default),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(CommandError::Usage(format!("-{name} {v}: true or false"))),
    }
}

fn update_group(session: &mut Session, matches: &Matches) -> Outcome {
    let config = SubscriptionGroupConfig {
        group_name: required(matches, "g")?,
        consume_enable: boolean(matches, "s", true)?,
        consume_from_min_enable: boolean(matches, "m", false)?,
        consume_broadcast_enable: boolean(matches, "d", false)?,
        retry_queue_nums: parsed(matches, "q")?.unwrap_or(1),
        retry_max_times: parsed(matches, "r")?.unwrap_or(16),
        broker_id: parsed(matches, "i")?.unwrap_or(0),
        which_broker_when_consume_slowly: parsed(matches, "w")?.unwrap_or(1),
        notify_consumer_ids_changed_enable: boolean(matches, "a", true)?,
    };
    let admin = session.admin(matches)?;
    let mut text = String::new();
    let mut brokers = Vec::new();
    for target in targets(admin, matches, true)? {
        admin.create_group_on(target.addr, &config)?;
        text.push_str(&format!(
            "create subscription group to {} success.\n",
            target.addr
        ));
        brokers.push(target.addr.to_string());
    }
    text.push_str(&format!(
        "SubscriptionGroupConfig [groupName={}, consumeEnable={}, consumeFromMinEnable={}, \
         consumeBroadcastEnable={}, retryQueueNums={}, retryMaxTimes={}, brokerId={}, \
         whichBrokerWhenConsumeSlowly={}, notifyConsumerIdsChangedEnable={}]\n",
        config.group_name,
        config.consume_enable,
        config.consume_from_min_enable,
        config.consume_broadcast_enable,
        config.retry_queue_nums,
        config.retry_max_times,
        config.broker_id,
        config.which_broker_when_consume_slowly,
        config.notify_consumer_ids_changed_enable
    ));
    let json = json!({ "group": serde_json::to_value(&config).unwrap_or(Value::Null),
        "brokers": brokers });
    Ok(Output { text, json })
}

fn delete_group(session: &mut Session, matches: &Matches) -> Outcome {
    let group = required(matches, "g")?;
    let remove_offset = boolean(matches, "r", false)?;
    let admin = session.admin(matches)?;
    let mut text = String::new();
    let mut brokers = Vec::new();
    for target in targets(admin, matches, true)? {
        admin.delete_group_on(target.addr, &group, remove_offset)?;
        text.push_str(&format!(
            "delete subscription group [{group}] from broker [{}] success.\n",
            target.addr
        ));
        brokers.push(target.addr.to_string());
    }
    Ok(Output {
        text,
        json: json!({ "group": group, "brokers": brokers }),
    })
}

/// `V4_9_8` for 409: RocketMQ's version enum has a SNAPSHOT and a release per 4.x patch
/// version from 212 (V4_0_0_SNAPSHOT) on.
pub fn version_desc(version: i32) -> String {
    if !(212..412).contains(&version) {
        return format!("V{version}");
    }
    let offset = version - 212;
    let index = offset / 2;
    let snapshot = if offset % 2 == 0 { "_SNAPSHOT" } else { "" };
    format!("V4_{}_{}{snapshot}", index / 10, index % 10)
}

fn consumer_progress(session: &mut Session, matches: &Matches) -> Outcome {
    match matches.opt_str("g") {
        Some(group) => group_progress(session, matches, group.trim()),
        None => all_groups(session, matches),
    }
}

/// Which client (its IP, from its id) holds each queue of `group`, as the consumers report it.
fn queue_owners(admin: &AdminClient, group: &str) -> BTreeMap<MessageQueue, String> {
    let mut owners = BTreeMap::new();
    let retry = format!("%RETRY%{group}");
    let Ok(connection) = admin.consumer_connection(group, &retry) else {
        return owners;
    };
    for client in &connection.connection_set {
        let Ok(info) = admin.consumer_running_info(group, &client.client_id) else {
            continue;
        };
        let ip = client.client_id.split('@').next().unwrap_or_default();
        for queue in info.mq_table.keys() {
            owners.insert(queue.clone(), ip.to_string());
        }
    }
    owners
}

fn group_progress(session: &mut Session, matches: &Matches, group: &str) -> Outcome {
    let show_ip = matches
        .opt_str("s")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let admin = session.admin(matches)?;
    let stats = admin.consume_stats_of(group, None)?;
    if stats.offset_table.is_empty() {
        return Err(CommandError::Failed(format!(
            "no consume stats for group {group}: it has not consumed yet"
        )));
    }
    let owners = if show_ip {
        queue_owners(admin, group)
    } else {
        BTreeMap::new()
    };
    let ip_column = |ip: &str| {
        if show_ip {
            format!("{ip:<20} ")
        } else {
            String::new()
        }
    };
    let mut text = format!(
        "{:<64}  {:<32}  {:<4}  {:<20}  {:<20}  {}{:<20}  {}\n",
        "#Topic",
        "#Broker Name",
        "#QID",
        "#Broker Offset",
        "#Consumer Offset",
        ip_column("#Client IP"),
        "#Diff",
        "#LastTime"
    );
    let mut diff_total = 0;
    let mut rows = Vec::new();
    for (queue, offsets) in &stats.offset_table {
        let diff = offsets.broker_offset - offsets.consumer_offset;
        diff_total += diff;
        let last = match offsets.last_timestamp {
            0 => "N/A".to_string(),
            t => time_seconds(t),
        };
        let ip = owners.get(queue).map(String::as_str).unwrap_or("N/A");
        text.push_str(&format!(
            "{:<64}  {:<32}  {:<4}  {:<20}  {:<20}  {}{:<20}  {}\n",
            front(&queue.topic, 64),
            front(&queue.broker_name, 32),
            queue.queue_id,
            offsets.broker_offset,
            offsets.consumer_offset,
            ip_column(ip),
            diff,
            last
        ));
        rows.push(
            json!({ "topic": queue.topic, "brokerName": queue.broker_name,
            "queueId": queue.queue_id, "brokerOffset": offsets.broker_offset,
            "consumerOffset": offsets.consumer_offset, "diff": diff,
            "lastTimestamp": offsets.last_timestamp, "clientIp": owners.get(queue) }),
        );
    }
    text.push_str(&format!(
        "\nConsume TPS: {:.2}\nDiff Total: {diff_total}\n",
        stats.consume_tps
    ));
    let json = json!({ "group": group, "queues": rows, "consumeTps": stats.consume_tps,
        "diffTotal": diff_total });
    Ok(Output { text, json })
}

fn consumer_status(session: &mut Session, matches: &Matches) -> Outcome {
    let group = required(matches, "g")?;
    let admin = session.admin(matches)?;
    let clients: Vec<String> = match matches.opt_str("i") {
        Some(client) => vec![client.trim().to_string()],
        None => {
            let retry = format!("%RETRY%{group}");
            let connection = admin.consumer_connection(&group, &retry)?;
            connection
                .connection_set
                .iter()
                .map(|c| c.client_id.clone())
                .collect()
        }
    };
    let (mut text, mut all) = (String::new(), serde_json::Map::new());
    for client in clients {
        let info = admin.consumer_running_info(&group, &client)?;
        text.push_str(&format!("#Consumer {client}\n#Properties\n"));
        for (key, value) in &info.properties {
            text.push_str(&format!("{key:<40}: {value}\n"));
        }
        text.push_str("#Subscriptions\n");
        for subscription in &info.subscription_set {
            text.push_str(&format!(
                "{:<64} {}\n",
                subscription.topic, subscription.sub_string
            ));
        }
        text.push_str(&format!(
            "#Queues\n{:<64}  {:<32}  {:<4}  {}\n",
            "#Topic", "#Broker Name", "#QID", "#Commit Offset"
        ));
        let mut queues = Vec::new();
        for (queue, process) in &info.mq_table {
            text.push_str(&format!(
                "{:<64}  {:<32}  {:<4}  {}\n",
                front(&queue.topic, 64),
                front(&queue.broker_name, 32),
                queue.queue_id,
                process.commit_offset
            ));
            queues.push(
                json!({ "topic": queue.topic, "brokerName": queue.broker_name,
                "queueId": queue.queue_id, "commitOffset": process.commit_offset,
                "locked": process.locked }),
            );
        }
        text.push('\n');
        all.insert(
            client,
            json!({ "properties": info.properties, "queues": queues }),
        );
    }
    Ok(Output {
        text,
        json: json!({ "group": group, "consumers": all }),
    })
}

fn all_groups(session: &mut Session, matches: &Matches) -> Outcome {
    let admin = session.admin(matches)?;
    let mut text = format!(
        "{:<64}  {:<6}  {:<24} {:<5}  {:<14}  {:<7}  {}\n",
        "#Group", "#Count", "#Version", "#Type", "#Model", "#TPS", "#Diff Total"
    );
    let mut rows = Vec::new();
    for topic in admin.topic_list()? {
        let Some(group) = topic.strip_prefix("%RETRY%") else {
            continue;
        };
        let stats: Option<ConsumeStats> = admin.consume_stats_of(group, None).ok();
        let connection = admin.consumer_connection(group, &topic).ok();
        let connections = connection
            .as_ref()
            .map(|c| c.connection_set.len())
            .unwrap_or(0);
        let (version, kind, model) = match &connection {
            Some(c) if connections > 0 => {
                let oldest = c
                    .connection_set
                    .iter()
                    .map(|c| c.version)
                    .min()
                    .unwrap_or(0);
                let push = c.consume_type == "CONSUME_PASSIVELY";
                let model = if push {
                    c.message_model.clone()
                } else {
                    String::new()
                };
                (
                    version_desc(oldest),
                    if push { "PUSH" } else { "PULL" },
                    model,
                )
            }
            _ => ("OFFLINE".to_string(), "", String::new()),
        };
        let tps = stats.as_ref().map(|s| s.consume_tps as i64).unwrap_or(0);
        let diff: i64 = stats
            .iter()
            .flat_map(|s| s.offset_table.values())
            .map(|o| o.broker_offset - o.consumer_offset)
            .sum();
        text.push_str(&format!(
            "{:<64}  {:<6}  {:<24} {:<5}  {:<14}  {:<7}  {}\n",
            front(group, 64),
            connections,
            version,
            kind,
            model,
            tps,
            diff
        ));
        rows.push(
            json!({ "group": group, "count": connections, "version": version,
            "type": kind, "model": model, "tps": tps, "diffTotal": diff }),
        );
    }
    Ok(Output {
        text,
        json: json!({ "groups": rows }),
    })
}

fn connection_rows(connections: &[&Connection]) -> Vec<Value> {
    connections
        .iter()
        .map(|c| {
            json!({ "clientId": c.client_id, "clientAddr": c.client_addr,
            "language": c.language, "version": version_desc(c.version) })
        })
        .collect()
}

fn consumer_connection(session: &mut Session, matches: &Matches) -> Outcome {
    let group = required(matches, "g")?;
    let retry = format!("%RETRY%{group}");
    let connection = session
        .admin(matches)?
        .consumer_connection(&group, &retry)?;
    if connection.connection_set.is_empty() {
        return Err(CommandError::Failed(format!(
            "group {group} has no connection"
        )));
    }
    let mut text = format!(
        "{:<36} {:<22} {:<10} {}\n",
        "#ClientId", "#ClientAddr", "#Language", "#Version"
    );
    let all: Vec<&Connection> = connection.connection_set.iter().collect();
    for c in &all {
        text.push_str(&format!(
            "{:<36} {:<22} {:<10} {}\n",
            c.client_id,
            c.client_addr,
            c.language,
            version_desc(c.version)
        ));
    }
    text.push_str(&format!(
        "\nBelow is subscription:\n{:<20} {}\n",
        "#Topic", "#SubExpression"
    ));
    for (topic, subscription) in &connection.subscription_table {
        text.push_str(&format!("{topic:<20} {}\n", subscription.sub_string));
    }
    text.push_str(&format!(
        "\nConsumeType: {}\nMessageModel: {}\nConsumeFromWhere: {}\n",
        connection.consume_type, connection.message_model, connection.consume_from_where
    ));
    let subscriptions: serde_json::Map<String, Value> = connection
        .subscription_table
        .iter()
        .map(|(t, s)| (t.clone(), Value::from(s.sub_string.clone())))
        .collect();
    let json = json!({ "group": group, "connections": connection_rows(&all),
        "subscriptions": subscriptions, "consumeType": connection.consume_type,
        "messageModel": connection.message_model,
        "consumeFromWhere": connection.consume_from_where });
    Ok(Output { text, json })
}

fn producer_connection(session: &mut Session, matches: &Matches) -> Outcome {
    let group = required(matches, "g")?;
    let topic = required(matches, "t")?;
    let connection = session
        .admin(matches)?
        .producer_connection(&group, &topic)?;
    if connection.connection_set.is_empty() {
        return Err(CommandError::Failed(format!(
            "producer group {group} has no connection"
        )));
    }
    let all: Vec<&Connection> = connection.connection_set.iter().collect();
    let mut text = String::new();
    for (i, c) in all.iter().enumerate() {
        text.push_str(&format!(
            "{:04}  {:<32} {:<22} {:<8} {}\n",
            i + 1,
            c.client_id,
            c.client_addr,
            c.language,
            version_desc(c.version)
        ));
    }
    Ok(Output {
        text,
        json: json!({ "group": group, "connections": connection_rows(&all) }),
    })
}

fn reset_offset(session: &mut Session, matches: &Matches) -> Outcome {
    let group = required(matches, "g")?;
    let topic = required(matches, "t")?;
    let time_text = required(matches, "s")?;
    let timestamp = parse_time(&time_text, true).ok_or_else(|| {
        CommandError::Usage(format!(
            "-s {time_text}: now, ms since the epoch or yyyy-MM-dd#HH:mm:ss:SSS"
        ))
    })?;
    let force = boolean(matches, "f", true)?;
    let offsets = session
        .admin(matches)?
        .reset_offset_by_time(&group, &topic, timestamp, force)?;
    let mut text = format!(
        "rollback consumer offset by specified group[{group}], topic[{topic}], force[{force}], \
         timestamp(string)[{time_text}], timestamp(long)[{timestamp}]\n{:<40}  {:<40}  {:<40}\n",
        "#brokerName", "#queueId", "#offset"
    );
    let mut rows = Vec::new();
    for (queue, offset) in &offsets {
        text.push_str(&format!(
            "{:<40}  {:<40}  {:<40}\n",
            front(&queue.broker_name, 32),
            queue.queue_id,
            offset
        ));
        rows.push(
            json!({ "brokerName": queue.broker_name, "queueId": queue.queue_id,
            "offset": offset }),
        );
    }
    let json = json!({ "group": group, "topic": topic, "timestamp": timestamp, "force": force,
        "offsets": rows });
    Ok(Output { text, json })
}
