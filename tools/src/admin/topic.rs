//! Topic commands: topicList, topicRoute, topicStatus, updateTopic, deleteTopic.

use getopts::Matches;
use serde_json::{json, Value};
use wire::body::TopicConfig;

use super::format::{front, time_millis};
use super::overview::targets;
use super::{parsed, required, Command, CommandError, Outcome, Output, Session};

pub fn commands() -> Vec<Command> {
    vec![
        Command {
            name: "topicList",
            description: "Fetch all topic list from name server",
            options: |o| {
                o.optflag("c", "clusterModel", "with cluster and consumer groups");
            },
            run: topic_list,
        },
        Command {
            name: "topicRoute",
            description: "Examine topic route info",
            options: |o| {
                o.optopt("t", "topic", "topic name", "TOPIC");
                o.optflag("l", "list", "Use list format to print data");
            },
            run: topic_route,
        },
        Command {
            name: "topicStatus",
            description: "Examine topic Status info",
            options: |o| {
                o.optopt("t", "topic", "topic name", "TOPIC");
            },
            run: topic_status,
        },
        Command {
            name: "updateTopic",
            description: "Update or create topic",
            options: |o| {
                o.optopt("b", "brokerAddr", "create topic to which broker", "ADDR");
                o.optopt("c", "clusterName", "create topic to which cluster", "NAME");
                o.optopt("t", "topic", "topic name", "TOPIC");
                o.optopt("r", "readQueueNums", "set read queue nums (default 8)", "N");
                o.optopt(
                    "w",
                    "writeQueueNums",
                    "set write queue nums (default 8)",
                    "N",
                );
                o.optopt(
                    "p",
                    "perm",
                    "set topic's permission(2|4|6), intro[2:W 4:R; 6:RW]",
                    "P",
                );
                o.optopt("o", "order", "set topic's order(true|false)", "BOOL");
            },
            run: update_topic,
        },
        Command {
            name: "deleteTopic",
            description: "Delete topic from broker and NameServer.",
            options: |o| {
                o.optopt("t", "topic", "topic name", "TOPIC");
                o.optopt(
                    "c",
                    "clusterName",
                    "delete topic from which cluster",
                    "NAME",
                );
            },
            run: delete_topic,
        },
    ]
}

fn topic_list(session: &mut Session, matches: &Matches) -> Outcome {
    let admin = session.admin(matches)?;
    let topics = admin.topic_list()?;
    if !matches.opt_present("c") {
        let text: String = topics.iter().map(|t| format!("{t}\n")).collect();
        return Ok(Output {
            text,
            json: json!({ "topicList": topics }),
        });
    }
    let info = admin.cluster_info()?;
    let mut text = format!(
        "{:<20}  {:<64}  {:<64}\n",
        "#Cluster Name", "#Topic", "#Consumer Group"
    );
    let mut rows = Vec::new();
    for topic in topics
        .iter()
        .filter(|t| !t.starts_with("%RETRY%") && !t.starts_with("%DLQ%"))
    {
        let Ok(route) = admin.topic_route(topic) else {
            continue;
        };
        let cluster = route
            .broker_datas
            .first()
            .and_then(|b| info.broker_addr_table.get(&b.broker_name))
            .map(|b| b.cluster.clone())
            .unwrap_or_default();
        let mut groups = admin.topic_consumers(topic).unwrap_or_default();
        if groups.is_empty() {
            groups.push(String::new());
        }
        for group in groups {
            text.push_str(&format!(
                "{:<20}  {:<64}  {:<64}\n",
                front(&cluster, 20),
                front(topic, 64),
                front(&group, 64)
            ));
            rows.push(json!({ "cluster": cluster, "topic": topic, "consumerGroup": group }));
        }
    }
    Ok(Output {
        text,
        json: json!({ "topics": rows }),
    })
}

fn topic_route(session: &mut Session, matches: &Matches) -> Outcome {
    let topic = required(matches, "t")?;
    let route = session.admin(matches)?.topic_route(&topic)?;
    let json: Value = serde_json::from_slice(&route.encode(true))
        .map_err(|e| CommandError::Failed(format!("route JSON: {e}")))?;
    if !matches.opt_present("l") {
        let text = serde_json::to_string_pretty(&json).unwrap_or_default() + "\n";
        return Ok(Output { text, json });
    }
    let row = |a: &str, b: &str, c: &str, d: &str, e: &str, f: &str| {
        format!("{a:<45} {b:<32} {c:<50} {d:<10} {e:<11} {f:<5}\n")
    };
    let mut text = row(
        "#ClusterName",
        "#BrokerName",
        "#BrokerAddrs",
        "#ReadQueue",
        "#WriteQueue",
        "#Perm",
    );
    let mut queues = route.queue_datas.clone();
    queues.sort_by(|a, b| a.broker_name.cmp(&b.broker_name));
    let (mut reads, mut writes) = (0, 0);
    for queue in &queues {
        let broker = route
            .broker_datas
            .iter()
            .find(|b| b.broker_name == queue.broker_name);
        let addrs = broker
            .map(|b| {
                let pairs: Vec<String> = b
                    .broker_addrs
                    .iter()
                    .map(|(id, addr)| format!("{id}={addr}"))
                    .collect();
                format!("{{{}}}", pairs.join(", "))
            })
            .unwrap_or_default();
        let cluster = broker.map(|b| b.cluster.as_str()).unwrap_or("");
        text.push_str(&row(
            cluster,
            &queue.broker_name,
            &addrs,
            &queue.read_queue_nums.to_string(),
            &queue.write_queue_nums.to_string(),
            &queue.perm.to_string(),
        ));
        reads += queue.read_queue_nums;
        writes += queue.write_queue_nums;
    }
    text.push_str(&format!("{}\n", "-".repeat(158)));
    let brokers = queues.len().to_string();
    text.push_str(&row(
        "Total:",
        &brokers,
        "",
        &reads.to_string(),
        &writes.to_string(),
        "",
    ));
    Ok(Output { text, json })
}

fn topic_status(session: &mut Session, matches: &Matches) -> Outcome {
    let topic = required(matches, "t")?;
    let stats = session.admin(matches)?.topic_stats(&topic)?;
    if stats.offset_table.is_empty() {
        return Err(CommandError::Failed(format!(
            "no queue stats for topic {topic}"
        )));
    }
    let mut text = format!(
        "{:<32}  {:<4}  {:<20}  {:<20}    {}\n",
        "#Broker Name", "#QID", "#Min Offset", "#Max Offset", "#Last Updated"
    );
    let mut rows = Vec::new();
    for (queue, offsets) in &stats.offset_table {
        let updated = match offsets.last_update_timestamp {
            0 => String::new(),
            t => time_millis(t),
        };
        text.push_str(&format!(
            "{:<32}  {:<4}  {:<20}  {:<20}    {}\n",
            front(&queue.broker_name, 32),
            queue.queue_id,
            offsets.min_offset,
            offsets.max_offset,
            updated
        ));
        rows.push(json!({
            "brokerName": queue.broker_name, "queueId": queue.queue_id,
            "minOffset": offsets.min_offset, "maxOffset": offsets.max_offset,
            "lastUpdateTimestamp": offsets.last_update_timestamp,
        }));
    }
    Ok(Output {
        text,
        json: json!({ "topic": topic, "queues": rows }),
    })
}

fn perm_string(perm: i32) -> String {
    let bit = |mask: i32, c: char| if perm & mask != 0 { c } else { '-' };
    [bit(4, 'R'), bit(2, 'W'), bit(1, 'X')].iter().collect()
}

fn update_topic(session: &mut Session, matches: &Matches) -> Outcome {
    let topic = required(matches, "t")?;
    let order = match matches.opt_str("o").as_deref().map(str::trim) {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => return Err(CommandError::Usage(format!("-o {other}: true or false"))),
    };
    let config = TopicConfig {
        topic_name: topic.clone(),
        read_queue_nums: parsed(matches, "r")?.unwrap_or(8),
        write_queue_nums: parsed(matches, "w")?.unwrap_or(8),
        perm: parsed(matches, "p")?.unwrap_or(6),
        order,
        ..TopicConfig::default()
    };
    if config.read_queue_nums <= 0 || config.write_queue_nums <= 0 {
        return Err(CommandError::Usage("queue counts must be positive".into()));
    }
    let admin = session.admin(matches)?;
    let brokers = targets(admin, matches, true)?;
    if brokers.is_empty() {
        return Err(CommandError::Failed("the cluster has no master".into()));
    }
    let mut text = String::new();
    let mut created = Vec::new();
    for broker in brokers {
        admin.create_topic_on(broker.addr, &config)?;
        text.push_str(&format!("create topic to {} success.\n", broker.addr));
        created.push(broker.addr.to_string());
    }
    text.push_str(&format!(
        "TopicConfig [topicName={}, readQueueNums={}, writeQueueNums={}, perm={}, \
         topicFilterType=SINGLE_TAG, topicSysFlag=0, order={}]\n",
        config.topic_name,
        config.read_queue_nums,
        config.write_queue_nums,
        perm_string(config.perm),
        config.order
    ));
    let json = json!({ "topic": topic, "readQueueNums": config.read_queue_nums,
        "writeQueueNums": config.write_queue_nums, "perm": config.perm, "order": order,
        "brokers": created });
    Ok(Output { text, json })
}

fn delete_topic(session: &mut Session, matches: &Matches) -> Outcome {
    let topic = required(matches, "t")?;
    let cluster = required(matches, "c")?;
    session.admin(matches)?.delete_topic(&cluster, &topic)?;
    let text = format!(
        "delete topic [{topic}] from cluster [{cluster}] success.\n\
         delete topic [{topic}] from NameServer success.\n"
    );
    Ok(Output {
        text,
        json: json!({ "topic": topic, "cluster": cluster, "deleted": true }),
    })
}
