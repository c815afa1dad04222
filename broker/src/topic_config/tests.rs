use std::fs;

use super::*;

fn temp_root(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("broker-topics-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn config(root: &Path) -> BrokerConfig {
    BrokerConfig {
        store_path_root_dir: root.to_path_buf(),
        broker_cluster_name: "C1".into(),
        broker_name: "broker-x".into(),
        ..BrokerConfig::default()
    }
}

fn topic(name: &str, queue_count: i32, perm: i32) -> TopicConfig {
    TopicConfig {
        topic_name: name.into(),
        read_queue_nums: queue_count,
        write_queue_nums: queue_count,
        perm,
        ..TopicConfig::default()
    }
}

fn queues_and_perm(manager: &TopicConfigManager, name: &str) -> (i32, i32, i32) {
    let config = manager.get(name).unwrap();
    (config.read_queue_nums, config.write_queue_nums, config.perm)
}

#[test]
fn system_topics_as_upstream_builds_them() {
    let manager = TopicConfigManager::with_system_topics(&config(Path::new("/nonexistent")));
    assert_eq!(queues_and_perm(&manager, AUTO_CREATE_TOPIC), (8, 8, 7));
    assert_eq!(queues_and_perm(&manager, SELF_TEST_TOPIC), (1, 1, 6));
    assert_eq!(queues_and_perm(&manager, BENCHMARK_TOPIC), (1024, 1024, 6));
    assert_eq!(queues_and_perm(&manager, "C1"), (16, 16, 7));
    assert_eq!(queues_and_perm(&manager, "broker-x"), (1, 1, 7));
    assert_eq!(queues_and_perm(&manager, OFFSET_MOVED_EVENT), (1, 1, 6));
    assert_eq!(queues_and_perm(&manager, SCHEDULE_TOPIC), (18, 18, 6));
    assert_eq!(queues_and_perm(&manager, "C1_REPLY_TOPIC"), (1, 1, 6));
    assert_eq!(queues_and_perm(&manager, TRANS_HALF_TOPIC), (1, 1, 6));
    assert_eq!(queues_and_perm(&manager, TRANS_OP_HALF_TOPIC), (1, 1, 6));
    assert_eq!(manager.len(), 10);
    assert_eq!(
        manager.get(SCHEDULE_TOPIC).unwrap().topic_filter_type,
        "SINGLE_TAG"
    );
    for system in [
        SCHEDULE_TOPIC,
        "C1",
        "broker-x",
        TRANS_CHECK_MAX_TIME_TOPIC,
        "rmq_sys_x",
    ] {
        assert!(manager.is_system_topic(system), "{system}");
    }
    assert!(!manager.is_system_topic("TopicTest"));
    assert!(is_send_forbidden(SCHEDULE_TOPIC) && !is_send_forbidden(AUTO_CREATE_TOPIC));
    assert!(!manager.is_dirty());

    let without_auto_create = BrokerConfig {
        auto_create_topic_enable: false,
        default_topic_queue_nums: 4,
        ..config(Path::new("/nonexistent"))
    };
    let manager = TopicConfigManager::with_system_topics(&without_auto_create);
    assert!(manager.get(AUTO_CREATE_TOPIC).is_none());
    assert!(manager.is_system_topic(AUTO_CREATE_TOPIC));
}

#[test]
fn auto_create_from_the_default_topic() {
    let mut manager = TopicConfigManager::with_system_topics(&config(Path::new("/nonexistent")));
    let before = manager.data_version();
    let (created, change) = manager
        .create_from_default("T", AUTO_CREATE_TOPIC, 4, 0)
        .unwrap();
    assert_eq!(change, TopicChange::Created);
    assert!(change.needs_registration());
    assert_eq!(
        created,
        &TopicConfig {
            topic_name: "T".into(),
            read_queue_nums: 4,
            write_queue_nums: 4,
            perm: PERM_READ | PERM_WRITE,
            ..TopicConfig::default()
        }
    );
    assert_eq!(manager.data_version().counter, before.counter + 1);
    assert!(manager.is_dirty());

    // An existing topic comes back as it is, without a new version.
    let (existing, change) = manager
        .create_from_default("T", AUTO_CREATE_TOPIC, 9, 1)
        .unwrap();
    assert_eq!(
        (existing.write_queue_nums, change),
        (4, TopicChange::Unchanged)
    );
    assert_eq!(manager.data_version().counter, before.counter + 1);

    // Queue count: at most the template's write queues, never negative; filter type and
    // sys flag carried over, INHERIT dropped.
    let multi_tag = TopicConfig {
        topic_filter_type: "MULTI_TAG".into(),
        ..topic("TEMPLATE", 2, PERM_INHERIT | PERM_READ)
    };
    manager.create_or_update(multi_tag);
    let (created, _) = manager.create_from_default("U", "TEMPLATE", 16, 3).unwrap();
    assert_eq!((created.write_queue_nums, created.perm), (2, PERM_READ));
    assert_eq!(
        (created.topic_filter_type.as_str(), created.topic_sys_flag),
        ("MULTI_TAG", 3)
    );
    let (created, _) = manager.create_from_default("V", "TEMPLATE", -5, 0).unwrap();
    assert_eq!(created.read_queue_nums, 0);
}

#[test]
fn auto_create_refusals() {
    let mut manager = TopicConfigManager::with_system_topics(&config(Path::new("/nonexistent")));
    let version = manager.data_version();
    assert_eq!(
        manager.create_from_default("T", "NOPE", 4, 0).unwrap_err(),
        AutoCreateRefused::TemplateMissing {
            default_topic: "NOPE".into()
        }
    );
    manager.create_or_update(topic("PLAIN", 8, PERM_READ | PERM_WRITE));
    let refused = manager.create_from_default("T", "PLAIN", 4, 0).unwrap_err();
    assert_eq!(
        refused,
        AutoCreateRefused::TemplateNotInheritable {
            default_topic: "PLAIN".into(),
            perm: 6
        }
    );
    assert!(!manager.contains("T"));
    assert_eq!(manager.data_version().counter, version.counter + 1);

    // TBW102 left in topics.json by an earlier run does not count once auto-create is off.
    let mut off = TopicConfigManager::with_system_topics(&BrokerConfig {
        auto_create_topic_enable: false,
        ..config(Path::new("/nonexistent"))
    });
    off.create_or_update(topic(AUTO_CREATE_TOPIC, 8, 7));
    assert_eq!(
        off.create_from_default("T", AUTO_CREATE_TOPIC, 4, 0)
            .unwrap_err(),
        AutoCreateRefused::AutoCreateDisabled
    );
    // Any other inheritable template still works.
    off.create_or_update(topic("OTHER", 8, 7));
    assert!(off.create_from_default("T", "OTHER", 4, 0).is_ok());
}

#[test]
fn every_change_bumps_the_version_and_says_whether_to_register() {
    let mut manager = TopicConfigManager::with_system_topics(&config(Path::new("/nonexistent")));
    let start = manager.data_version().counter;
    let change = manager.create_or_update(topic("T", 4, 6));
    assert_eq!(change, TopicChange::Created);
    assert_eq!(
        manager.create_or_update(topic("T", 4, 6)),
        TopicChange::Unchanged
    );
    assert_eq!(manager.data_version().counter, start + 1);
    let change = manager.create_or_update(topic("T", 8, 6));
    assert_eq!(change, TopicChange::Updated);
    assert!(change.needs_registration());
    assert_eq!(manager.data_version().counter, start + 2);

    let (retry, change) = manager.create_retry_topic("g", 1, 0);
    assert_eq!(
        (retry.topic_name.as_str(), retry.write_queue_nums),
        ("%RETRY%g", 1)
    );
    assert_eq!((retry.perm, change), (6, TopicChange::Created));
    assert_eq!(
        manager.create_retry_topic("g", 3, 0).1,
        TopicChange::Unchanged
    );
    let (dlq, _) = manager.create_dlq_topic("g");
    assert_eq!(
        (dlq.topic_name.as_str(), dlq.read_queue_nums, dlq.perm),
        ("%DLQ%g", 1, 6)
    );
    assert_eq!(manager.data_version().counter, start + 4);

    let change = manager.delete("T");
    assert_eq!(change, TopicChange::Deleted);
    assert!(!change.needs_registration());
    assert_eq!(manager.delete("T"), TopicChange::Unchanged);
    assert_eq!(manager.data_version().counter, start + 5);
    assert!(manager.data_version().timestamp > 0);
}

#[test]
fn wrappers_for_admin_and_registration() {
    let mut manager = TopicConfigManager::with_system_topics(&config(Path::new("/nonexistent")));
    manager.create_or_update(topic("T", 4, 6));
    let wrapper = manager.serialize_wrapper();
    assert_eq!(wrapper.data_version, manager.data_version());
    assert_eq!(wrapper.topic_config_table.len(), manager.len());
    let decoded: TopicConfigSerializeWrapper = serde_json::from_slice(&manager.encode()).unwrap();
    assert_eq!(decoded, wrapper);
    assert_eq!(manager.registration_wrapper(6), wrapper);

    let read_only = manager.registration_wrapper(PERM_READ);
    assert!(read_only
        .topic_config_table
        .values()
        .all(|c| c.perm == PERM_READ));

    let single = manager.single_topic_wrapper("T").unwrap();
    assert_eq!(single.topic_config_table.keys().collect::<Vec<_>>(), ["T"]);
    assert_eq!(single.data_version, manager.data_version());
    assert!(manager.single_topic_wrapper("missing").is_none());
}

/// As a 4.9 broker writes it (pretty, tab-indented), plus a 5.x `attributes` field.
const UPSTREAM_TOPICS_JSON: &str = r#"{
	"dataVersion":{
		"counter":7,
		"timestamp":1700000000123
	},
	"topicConfigTable":{
		"TopicTest":{
			"order":false,
			"perm":6,
			"readQueueNums":4,
			"topicFilterType":"SINGLE_TAG",
			"topicName":"TopicTest",
			"topicSysFlag":0,
			"writeQueueNums":4
		},
		"TBW102":{"attributes":{},"perm":7,"readQueueNums":4,"topicName":"TBW102","writeQueueNums":4},
		"%RETRY%cg":{"perm":6,"readQueueNums":1,"topicName":"%RETRY%cg","writeQueueNums":1}
	}
}"#;

#[test]
fn loads_the_upstream_file_over_the_system_topics() {
    let root = temp_root("upstream");
    let path = TopicConfigManager::file_path(&root);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, UPSTREAM_TOPICS_JSON).unwrap();
    let manager = TopicConfigManager::load(&config(&root)).unwrap();
    assert_eq!(
        manager.data_version(),
        DataVersion {
            counter: 7,
            timestamp: 1_700_000_000_123
        }
    );
    assert_eq!(queues_and_perm(&manager, "TopicTest"), (4, 4, 6));
    // The file wins over the system topic built at start.
    assert_eq!(queues_and_perm(&manager, AUTO_CREATE_TOPIC), (4, 4, 7));
    let retry = manager.get("%RETRY%cg").unwrap();
    assert_eq!(
        (retry.topic_filter_type.as_str(), retry.order),
        ("SINGLE_TAG", false)
    );
    assert!(manager.contains(SCHEDULE_TOPIC));
    assert!(!manager.is_dirty());
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn persist_round_trips_and_keeps_a_backup() {
    let root = temp_root("persist");
    let config = config(&root);
    let mut manager = TopicConfigManager::load(&config).unwrap();
    manager.create_or_update(topic("A", 4, 6));
    manager.persist().unwrap();
    assert!(!manager.is_dirty());
    manager.create_or_update(topic("B", 2, 4));
    let snapshot = manager.take_snapshot().unwrap();
    assert!(manager.take_snapshot().is_none());
    durable::write_keeping_backup(manager.path(), &snapshot).unwrap();

    let reloaded = TopicConfigManager::load(&config).unwrap();
    assert_eq!(reloaded.serialize_wrapper(), manager.serialize_wrapper());

    // A torn main file: the backup (one change older) is used and rewritten at next persist.
    fs::write(manager.path(), "{\"dataVersion\":{\"coun").unwrap();
    let mut from_backup = TopicConfigManager::load(&config).unwrap();
    assert!(from_backup.contains("A") && !from_backup.contains("B"));
    assert!(from_backup.is_dirty());
    from_backup.persist().unwrap();
    let again = TopicConfigManager::load(&config).unwrap();
    assert_eq!(again.serialize_wrapper(), from_backup.serialize_wrapper());
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn every_path_that_changes_a_topic_names_it_once() {
    let mut manager = TopicConfigManager::with_system_topics(&config(Path::new("/nonexistent")));
    assert!(
        manager.take_changed_topics().is_empty(),
        "system topics are not changes"
    );
    manager.create_or_update(topic("A", 4, 6));
    manager.create_or_update(topic("A", 4, 6));
    manager
        .create_from_default("B", AUTO_CREATE_TOPIC, 4, 0)
        .unwrap();
    manager.create_retry_topic("g", 1, 0);
    manager.create_retry_topic("g", 1, 0);
    manager.create_dlq_topic("g");
    manager.delete("A");
    manager.delete("missing");
    assert_eq!(
        manager.take_changed_topics(),
        ["A", "B", "%RETRY%g", "%DLQ%g", "A"]
    );
    assert!(manager.take_changed_topics().is_empty());
}
