//! Headers of every call addressed to a name server: broker registration (REGISTER_BROKER 103,
//! UNREGISTER_BROKER 104, QUERY_DATA_VERSION 322), routes (GET_ROUTEINFO_BY_TOPIC 105,
//! GET_TOPICS_BY_CLUSTER 224, DELETE_TOPIC_IN_NAMESRV 216), KV config (100, 101, 102, 219) and
//! write permission (WIPE_WRITE_PERM_OF_BROKER 205, ADD_WRITE_PERM_OF_BROKER 327).
//!
//! Invariants: `bodyCrc32` 0 means "not checked" (a nonzero value is a masked CRC32 of the
//! body); `changed`, `wipeTopicCount` and `addTopicCount` are required in their responses
//! because Java unboxes them.

header! {
    /// REGISTER_BROKER (103); the topic table travels in the body.
    pub struct RegisterBrokerRequestHeader {
        required broker_name: String = "brokerName",
        /// `ip:port` clients connect to.
        required broker_addr: String = "brokerAddr",
        required cluster_name: String = "clusterName",
        /// `ip:haPort` slaves replicate from.
        required ha_server_addr: String = "haServerAddr",
        /// 0 is the master.
        required broker_id: i64 = "brokerId",
        /// The body is the zlib-compressed layout rather than JSON.
        default compressed: bool = "compressed" => false,
        /// CRC32 of the body masked with 0x7FFFFFFF; 0 skips the check.
        default body_crc32: i32 = "bodyCrc32" => 0,
    }
}

header! {
    /// Answer to REGISTER_BROKER: a slave learns its master's addresses here.
    pub struct RegisterBrokerResponseHeader {
        optional ha_server_addr: String = "haServerAddr",
        optional master_addr: String = "masterAddr",
    }
}

header! {
    /// UNREGISTER_BROKER (104), sent at broker shutdown.
    pub struct UnregisterBrokerRequestHeader {
        required broker_name: String = "brokerName",
        required broker_addr: String = "brokerAddr",
        required cluster_name: String = "clusterName",
        required broker_id: i64 = "brokerId",
    }
}

header! {
    /// QUERY_DATA_VERSION (322); the broker's DataVersion travels in the body.
    pub struct QueryDataVersionRequestHeader {
        required broker_name: String = "brokerName",
        required broker_addr: String = "brokerAddr",
        required cluster_name: String = "clusterName",
        required broker_id: i64 = "brokerId",
    }
}

header! {
    /// Answer to QUERY_DATA_VERSION.
    pub struct QueryDataVersionResponseHeader {
        required changed: bool = "changed",
    }
}

header! {
    /// GET_ROUTEINFO_BY_TOPIC (105).
    pub struct GetRouteInfoRequestHeader {
        required topic: String = "topic",
        /// 4.9.4+: ask for quoted integer map keys regardless of the request version.
        optional accept_standard_json_only: bool = "acceptStandardJsonOnly",
    }
}

header! {
    /// PUT_KV_CONFIG (100).
    pub struct PutKvConfigRequestHeader {
        required namespace: String = "namespace",
        required key: String = "key",
        required value: String = "value",
    }
}

header! {
    /// GET_KV_CONFIG (101).
    pub struct GetKvConfigRequestHeader {
        required namespace: String = "namespace",
        required key: String = "key",
    }
}

header! {
    /// Answer to GET_KV_CONFIG (absent on QUERY_NOT_FOUND).
    pub struct GetKvConfigResponseHeader {
        optional value: String = "value",
    }
}

header! {
    /// DELETE_KV_CONFIG (102).
    pub struct DeleteKvConfigRequestHeader {
        required namespace: String = "namespace",
        required key: String = "key",
    }
}

header! {
    /// GET_KVLIST_BY_NAMESPACE (219); the table comes back as a JSON body.
    pub struct GetKvListByNamespaceRequestHeader {
        required namespace: String = "namespace",
    }
}

header! {
    /// DELETE_TOPIC_IN_NAMESRV (216).
    pub struct DeleteTopicFromNamesrvRequestHeader {
        required topic: String = "topic",
        /// 4.9.4+: only drop the topic's queues on this cluster's brokers.
        optional cluster_name: String = "clusterName",
    }
}

header! {
    /// GET_TOPICS_BY_CLUSTER (224).
    pub struct GetTopicsByClusterRequestHeader {
        required cluster: String = "cluster",
    }
}

header! {
    /// WIPE_WRITE_PERM_OF_BROKER (205).
    pub struct WipeWritePermOfBrokerRequestHeader {
        required broker_name: String = "brokerName",
    }
}

header! {
    /// Answer to WIPE_WRITE_PERM_OF_BROKER: how many topics lost PERM_WRITE.
    pub struct WipeWritePermOfBrokerResponseHeader {
        required wipe_topic_count: i32 = "wipeTopicCount",
    }
}

header! {
    /// ADD_WRITE_PERM_OF_BROKER (327).
    pub struct AddWritePermOfBrokerRequestHeader {
        required broker_name: String = "brokerName",
    }
}

header! {
    /// Answer to ADD_WRITE_PERM_OF_BROKER: how many topics regained PERM_WRITE.
    pub struct AddWritePermOfBrokerResponseHeader {
        required add_topic_count: i32 = "addTopicCount",
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::error::DecodeError;
    use crate::headers::test_support::{assert_invalid, assert_missing, assert_round_trip, fields};
    use crate::headers::CommandHeader;

    fn sample_register() -> RegisterBrokerRequestHeader {
        RegisterBrokerRequestHeader {
            broker_name: "broker-a".to_string(),
            broker_addr: "10.0.0.1:10911".to_string(),
            cluster_name: "DefaultCluster".to_string(),
            ha_server_addr: "10.0.0.1:10912".to_string(),
            broker_id: 0,
            compressed: false,
            body_crc32: 0x1234_5678,
        }
    }

    fn register_strategy() -> impl Strategy<Value = RegisterBrokerRequestHeader> {
        (
            (
                any::<String>(),
                any::<String>(),
                any::<String>(),
                any::<String>(),
            ),
            (any::<i64>(), any::<bool>(), 0..=i32::MAX),
        )
            .prop_map(|(names, (broker_id, compressed, body_crc32))| {
                RegisterBrokerRequestHeader {
                    broker_name: names.0,
                    broker_addr: names.1,
                    cluster_name: names.2,
                    ha_server_addr: names.3,
                    broker_id,
                    compressed,
                    body_crc32,
                }
            })
    }

    proptest! {
        #[test]
        fn register_broker_round_trips(header in register_strategy()) {
            let fields = header.to_ext_fields();
            prop_assert_eq!(RegisterBrokerRequestHeader::read_from(&fields), Ok(header));
        }

        #[test]
        fn register_broker_response_round_trips(
            ha_server_addr in proptest::option::of(any::<String>()),
            master_addr in proptest::option::of(any::<String>()),
        ) {
            let header = RegisterBrokerResponseHeader { ha_server_addr, master_addr };
            let fields = header.to_ext_fields();
            prop_assert_eq!(fields.len(), header.ha_server_addr.iter().count()
                + header.master_addr.iter().count());
            prop_assert_eq!(RegisterBrokerResponseHeader::read_from(&fields), Ok(header));
        }
    }

    #[test]
    fn register_broker_reads_what_java_writes() {
        let java = fields(&[
            ("brokerName", "broker-a"),
            ("brokerAddr", "10.0.0.1:10911"),
            ("clusterName", "DefaultCluster"),
            ("haServerAddr", "10.0.0.1:10912"),
            ("brokerId", "0"),
            ("compressed", "false"),
            ("bodyCrc32", "305419896"),
        ]);
        assert_eq!(
            RegisterBrokerRequestHeader::read_from(&java),
            Ok(sample_register())
        );
        let header = sample_register();
        for name in [
            "brokerName",
            "brokerAddr",
            "clusterName",
            "haServerAddr",
            "brokerId",
        ] {
            assert_missing(&header, name);
        }
        assert_invalid(&header, "brokerId", "master");
        assert_invalid(&header, "bodyCrc32", "4294967295");
        assert_round_trip(&header);
    }

    #[test]
    fn gotcha_register_broker_crc_absent_means_unchecked() {
        let mut written = sample_register().to_ext_fields();
        written.remove("bodyCrc32");
        written.remove("compressed");
        let read = RegisterBrokerRequestHeader::read_from(&written);
        assert_eq!(read.map(|h| (h.body_crc32, h.compressed)), Ok((0, false)));
    }

    #[test]
    fn broker_identity_headers_round_trip() {
        let unregister = UnregisterBrokerRequestHeader {
            broker_name: "broker-a".to_string(),
            broker_addr: "10.0.0.2:10911".to_string(),
            cluster_name: "DefaultCluster".to_string(),
            broker_id: 1,
        };
        assert_round_trip(&unregister);
        assert_missing(&unregister, "brokerId");
        let query = QueryDataVersionRequestHeader {
            broker_name: unregister.broker_name.clone(),
            broker_addr: unregister.broker_addr.clone(),
            cluster_name: unregister.cluster_name.clone(),
            broker_id: 1,
        };
        assert_round_trip(&query);
        assert_invalid(&query, "brokerId", "one");
    }

    #[test]
    fn gotcha_query_data_version_changed_required() {
        for changed in [true, false] {
            let header = QueryDataVersionResponseHeader { changed };
            assert_eq!(
                header.to_ext_fields().get("changed"),
                Some(changed.to_string().as_str())
            );
            assert_round_trip(&header);
            assert_missing(&header, "changed");
        }
    }

    #[test]
    fn gotcha_route_request_standard_json_flag_is_optional() {
        let plain = GetRouteInfoRequestHeader::read_from(&fields(&[("topic", "TBW102")]));
        assert_eq!(plain.map(|h| h.accept_standard_json_only), Ok(None));
        let header = GetRouteInfoRequestHeader {
            topic: "TopicTest".to_string(),
            accept_standard_json_only: Some(true),
        };
        assert_eq!(
            header.to_ext_fields().get("acceptStandardJsonOnly"),
            Some("true")
        );
        assert_round_trip(&header);
        assert_missing(&header, "topic");
    }

    #[test]
    fn kv_headers_round_trip() {
        let put = PutKvConfigRequestHeader {
            namespace: "ORDER_TOPIC_CONFIG".to_string(),
            key: "TopicTest".to_string(),
            value: "broker-a:4;broker-b:4".to_string(),
        };
        assert_round_trip(&put);
        for name in ["namespace", "key", "value"] {
            assert_missing(&put, name);
        }
        let get = GetKvConfigRequestHeader {
            namespace: put.namespace.clone(),
            key: put.key.clone(),
        };
        assert_round_trip(&get);
        let delete = DeleteKvConfigRequestHeader {
            namespace: put.namespace.clone(),
            key: put.key.clone(),
        };
        assert_round_trip(&delete);
        assert_missing(&delete, "key");
        let list = GetKvListByNamespaceRequestHeader {
            namespace: put.namespace.clone(),
        };
        assert_round_trip(&list);
        assert_round_trip(&GetKvConfigResponseHeader {
            value: Some(put.value.clone()),
        });
        let empty = GetKvConfigResponseHeader { value: None };
        assert!(empty.to_ext_fields().is_empty());
    }

    #[test]
    fn topic_and_permission_headers_round_trip() {
        let delete = DeleteTopicFromNamesrvRequestHeader {
            topic: "TopicTest".to_string(),
            cluster_name: Some("DefaultCluster".to_string()),
        };
        assert_round_trip(&delete);
        let old_admin = DeleteTopicFromNamesrvRequestHeader::read_from(&fields(&[("topic", "T")]));
        assert_eq!(old_admin.map(|h| h.cluster_name), Ok(None));
        let by_cluster = GetTopicsByClusterRequestHeader {
            cluster: "DefaultCluster".to_string(),
        };
        assert_round_trip(&by_cluster);
        assert_missing(&by_cluster, "cluster");
        let wipe = WipeWritePermOfBrokerRequestHeader {
            broker_name: "broker-a".to_string(),
        };
        assert_round_trip(&wipe);
        let add = AddWritePermOfBrokerRequestHeader {
            broker_name: "broker-a".to_string(),
        };
        assert_round_trip(&add);
        let wiped = WipeWritePermOfBrokerResponseHeader {
            wipe_topic_count: 3,
        };
        assert_eq!(wiped.to_ext_fields().get("wipeTopicCount"), Some("3"));
        assert_invalid(&wiped, "wipeTopicCount", "three");
        let added = AddWritePermOfBrokerResponseHeader { add_topic_count: 2 };
        assert_round_trip(&added);
        assert_eq!(
            AddWritePermOfBrokerResponseHeader::read_from(&fields(&[])),
            Err(DecodeError::FieldMissing {
                name: "addTopicCount"
            })
        );
    }
}
