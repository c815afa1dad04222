use super::*;

type Token = usize;

fn channel(connection: Token, client_id: &str, at: Instant) -> ClientChannel<Token> {
    ClientChannel {
        connection,
        client_id: client_id.into(),
        client_addr: format!("10.0.0.{connection}:4242"),
        language: LanguageCode::Java,
        version: 317,
        last_heartbeat: at,
    }
}

fn consumer(group: &str, subscriptions: &[(&str, i64)]) -> ConsumerData {
    ConsumerData {
        group_name: group.into(),
        subscription_data_set: subscriptions
            .iter()
            .map(|(topic, version)| SubscriptionData::tags(topic, "*", *version))
            .collect(),
        ..ConsumerData::default()
    }
}

#[test]
fn register_reports_joins_and_topic_set_changes() {
    let start = Instant::now();
    let mut manager = ConsumerManager::new();
    let data = consumer("cg", &[("T", 1), ("%RETRY%cg", 1)]);
    assert!(manager.register(channel(1, "c1", start), &data));
    // The same client again: a heartbeat, nothing to announce.
    assert!(!manager.register(channel(1, "c1", start), &data));
    assert!(manager.register(channel(2, "c2", start), &data));
    assert_eq!(manager.client_ids("cg"), ["c1", "c2"]);
    assert_eq!(manager.connections("cg"), [1, 2]);

    // A new topic, then a dropped one: the members must rebalance.
    let more = consumer("cg", &[("T", 1), ("U", 1), ("%RETRY%cg", 1)]);
    assert!(manager.register(channel(1, "c1", start), &more));
    assert!(manager.subscription("cg", "U").is_some());
    assert!(manager.register(channel(1, "c1", start), &data));
    assert!(manager.subscription("cg", "U").is_none());
    assert_eq!(manager.groups_subscribing("T"), ["cg"]);
    assert!(manager.groups_subscribing("U").is_empty());
    assert!(manager.client_ids("unknown").is_empty());
}

#[test]
fn an_older_sub_version_does_not_replace_a_newer_one() {
    let now = Instant::now();
    let mut manager = ConsumerManager::new();
    let mut newer = consumer("cg", &[]);
    newer.subscription_data_set = vec![SubscriptionData::tags("T", "a || b", 20)];
    manager.register(channel(1, "c1", now), &newer);
    let mut older = consumer("cg", &[]);
    older.subscription_data_set = vec![SubscriptionData::tags("T", "*", 10)];
    // c2 joins (a rebalance), but its older subscription does not win.
    assert!(manager.register(channel(2, "c2", now), &older));
    let kept = manager.subscription("cg", "T").unwrap();
    assert_eq!((kept.sub_version, kept.sub_string.as_str()), (20, "a || b"));
    // Equal is not newer either.
    older.subscription_data_set = vec![SubscriptionData::tags("T", "*", 20)];
    manager.register(channel(2, "c2", now), &older);
    assert_eq!(
        manager.subscription("cg", "T").unwrap().sub_string,
        "a || b"
    );
    // A newer one replaces it silently (no topic-set change).
    let mut newest = consumer("cg", &[]);
    newest.subscription_data_set = vec![SubscriptionData::tags("T", "c", 30)];
    assert!(!manager.register(channel(2, "c2", now), &newest));
    assert_eq!(manager.subscription("cg", "T").unwrap().sub_string, "c");
}

#[test]
fn group_settings_follow_the_latest_heartbeat() {
    let now = Instant::now();
    let mut manager = ConsumerManager::new();
    let mut data = consumer("cg", &[("T", 1)]);
    manager.register(channel(1, "c1", now), &data);
    data.message_model = "BROADCASTING".into();
    data.consume_type = "CONSUME_ACTIVELY".into();
    data.consume_from_where = "CONSUME_FROM_FIRST_OFFSET".into();
    manager.register(channel(1, "c1", now), &data);
    let group = manager.group("cg").unwrap();
    assert!(group.is_broadcasting());
    assert_eq!(group.consume_type(), "CONSUME_ACTIVELY");
    assert_eq!(group.consume_from_where(), "CONSUME_FROM_FIRST_OFFSET");
    assert_eq!(group.find_client("c1").unwrap().connection, 1);
    assert_eq!(group.channels().count(), 1);
}

#[test]
fn consumer_connection_body() {
    let now = Instant::now();
    let mut manager = ConsumerManager::new();
    let data = consumer("cg", &[("T", 5)]);
    manager.register(channel(1, "c1", now), &data);
    let mut go = channel(2, "c2", now);
    go.language = LanguageCode::Go;
    manager.register(go, &data);
    let body = manager.consumer_connection("cg").unwrap();
    let languages: Vec<_> = body
        .connection_set
        .iter()
        .map(|c| c.language.as_str())
        .collect();
    assert_eq!(languages, ["JAVA", "GO"]);
    let first = body.connection_set.iter().next().unwrap();
    assert_eq!(
        (
            first.client_addr.as_str(),
            first.client_id.as_str(),
            first.version
        ),
        ("10.0.0.1:4242", "c1", 317)
    );
    assert_eq!(body.message_model, "CLUSTERING");
    assert_eq!(body.consume_type, "CONSUME_PASSIVELY");
    assert_eq!(body.subscription_table["T"].sub_version, 5);
    let decoded = ConsumerConnection::decode(&body.encode()).unwrap();
    assert_eq!(decoded, body);
    assert!(manager.consumer_connection("offline").is_none());
}

#[test]
fn unregister_and_connection_close_report_membership_changes() {
    let now = Instant::now();
    let mut manager = ConsumerManager::new();
    manager.register(channel(1, "c1", now), &consumer("a", &[("T", 1)]));
    manager.register(channel(1, "c1", now), &consumer("b", &[("T", 1)]));
    manager.register(channel(2, "c2", now), &consumer("b", &[("T", 1)]));
    manager.register(channel(3, "c3", now), &consumer("c", &[("T", 1)]));

    assert!(!manager.unregister("b", "nobody"));
    assert!(!manager.unregister("nogroup", "c1"));
    assert!(manager.unregister("c", "c3"));
    assert!(
        manager.group("c").is_none(),
        "the last client removes the group"
    );

    assert_eq!(manager.on_connection_closed(1), ["a", "b"]);
    assert!(manager.group("a").is_none());
    assert_eq!(manager.client_ids("b"), ["c2"]);
    assert!(manager.on_connection_closed(1).is_empty());
    assert_eq!(manager.groups_subscribing("T"), ["b"]);
}

#[test]
fn heartbeats_older_than_the_timeout_expire() {
    let start = Instant::now();
    let later = start + Duration::from_secs(100);
    let mut manager = ConsumerManager::new();
    manager.register(channel(1, "c1", start), &consumer("a", &[("T", 1)]));
    manager.register(channel(2, "c2", start), &consumer("b", &[("T", 1)]));
    manager.register(channel(3, "c3", later), &consumer("b", &[("T", 1)]));

    // Exactly at the timeout nothing goes (upstream: strictly older).
    let at_timeout = start + CLIENT_EXPIRY_TIMEOUT;
    assert!(manager.expire(at_timeout, CLIENT_EXPIRY_TIMEOUT).is_empty());
    // A fresh heartbeat on connection 1 keeps it.
    manager.register(channel(1, "c1", later), &consumer("a", &[("T", 1)]));
    let expiry = manager.expire(at_timeout + Duration::from_millis(1), CLIENT_EXPIRY_TIMEOUT);
    assert_eq!(
        expiry,
        Expiry {
            groups: vec!["b".to_string()],
            connections: vec![2]
        }
    );
    assert_eq!(manager.client_ids("b"), ["c3"]);
    assert_eq!(manager.client_ids("a"), ["c1"]);
    let much_later = later + CLIENT_EXPIRY_TIMEOUT + Duration::from_secs(1);
    let expiry = manager.expire(much_later, CLIENT_EXPIRY_TIMEOUT);
    assert_eq!(expiry.groups, ["a", "b"]);
    let mut connections = expiry.connections;
    connections.sort();
    assert_eq!(connections, [1, 3]);
    assert_eq!(manager.group_names().count(), 0);
    // A clock that went backwards (an Instant before the heartbeat) expires nothing.
    manager.register(channel(4, "c4", later), &consumer("a", &[]));
    assert!(manager.expire(start, CLIENT_EXPIRY_TIMEOUT).is_empty());
}

#[test]
fn producers_register_expire_and_close() {
    let start = Instant::now();
    let mut manager = ProducerManager::new();
    assert!(manager.register("pg", channel(1, "c1", start)));
    assert!(!manager.register("pg", channel(1, "c1", start)));
    assert!(manager.register("pg", channel(2, "c2", start)));
    assert!(manager.register("CLIENT_INNER_PRODUCER", channel(2, "c2", start)));
    assert_eq!(manager.client_ids("pg"), ["c1", "c2"]);
    assert_eq!(manager.connections("pg"), [1, 2]);
    assert_eq!(manager.find_connection("c2"), Some(2));
    assert_eq!(manager.find_connection("c9"), None);
    let body = manager.producer_connection("pg").unwrap();
    assert_eq!(body.connection_set.len(), 2);
    assert!(manager.producer_connection("none").is_none());

    assert_eq!(
        manager.on_connection_closed(2),
        ["CLIENT_INNER_PRODUCER", "pg"]
    );
    assert_eq!(manager.group_names().collect::<Vec<_>>(), ["pg"]);
    assert!(manager.unregister("pg", "c1"));
    assert!(!manager.unregister("pg", "c1"));
    assert_eq!(manager.group_names().count(), 0);

    manager.register("pg", channel(3, "c3", start));
    let refreshed = start + Duration::from_secs(60);
    manager.register("pg", channel(4, "c4", refreshed));
    let expiry = manager.expire(start + Duration::from_secs(121), CLIENT_EXPIRY_TIMEOUT);
    assert_eq!(
        (expiry.groups, expiry.connections),
        (vec!["pg".to_string()], vec![3])
    );
    assert_eq!(manager.client_ids("pg"), ["c4"]);
}
