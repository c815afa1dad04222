//! Headers of client management at the broker (UNREGISTER_CLIENT 35,
//! GET_CONSUMER_LIST_BY_GROUP 38) and of the calls a broker makes to a client over the client's
//! own connection (NOTIFY_CONSUMER_IDS_CHANGED 40, GET_CONSUMER_STATUS_FROM_CLIENT 221,
//! GET_CONSUMER_RUNNING_INFO 307, CONSUME_MESSAGE_DIRECTLY 309).
//!
//! RESET_CONSUMER_CLIENT_OFFSET (220) carries the same fields as INVOKE_BROKER_TO_RESET_OFFSET
//! and uses [`crate::headers::admin::ResetOffsetRequestHeader`].
//!
//! Spelling is not uniform upstream: UNREGISTER_CLIENT says `clientID` (capital ID) while
//! every other header says `clientId`. Both are kept verbatim.

header! {
    /// UNREGISTER_CLIENT (35): sent once per group at shutdown; one of the groups is present.
    pub struct UnregisterClientRequestHeader {
        /// Note the capital `ID`, unlike every other header.
        required client_id: String = "clientID",
        optional producer_group: String = "producerGroup",
        optional consumer_group: String = "consumerGroup",
    }
}

header! {
    /// GET_CONSUMER_LIST_BY_GROUP (38); the answer is a JSON body.
    pub struct GetConsumerListByGroupRequestHeader {
        required consumer_group: String = "consumerGroup",
    }
}

header! {
    /// NOTIFY_CONSUMER_IDS_CHANGED (40, broker to client, oneway): rebalance now.
    pub struct NotifyConsumerIdsChangedRequestHeader {
        required consumer_group: String = "consumerGroup",
    }
}

header! {
    /// GET_CONSUMER_RUNNING_INFO (307), admin to broker and forwarded verbatim to the client.
    pub struct GetConsumerRunningInfoRequestHeader {
        required consumer_group: String = "consumerGroup",
        required client_id: String = "clientId",
        default jstack_enable: bool = "jstackEnable" => false,
    }
}

header! {
    /// CONSUME_MESSAGE_DIRECTLY (309), admin to broker and forwarded to the client; the
    /// message itself travels in the body.
    pub struct ConsumeMessageDirectlyResultRequestHeader {
        required consumer_group: String = "consumerGroup",
        optional client_id: String = "clientId",
        optional msg_id: String = "msgId",
        optional broker_name: String = "brokerName",
        optional topic: String = "topic",
    }
}

header! {
    /// GET_CONSUMER_STATUS_FROM_CLIENT (221) and INVOKE_BROKER_TO_GET_CONSUMER_STATUS (223).
    pub struct GetConsumerStatusRequestHeader {
        required topic: String = "topic",
        required group: String = "group",
        /// Restricts the query to one client; all clients of the group when absent.
        optional client_addr: String = "clientAddr",
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::error::DecodeError;
    use crate::headers::test_support::{assert_missing, assert_round_trip, fields};
    use crate::headers::CommandHeader;

    proptest! {
        #[test]
        fn unregister_client_round_trips(
            client_id in any::<String>(),
            producer_group in proptest::option::of(any::<String>()),
            consumer_group in proptest::option::of(any::<String>()),
        ) {
            let header = UnregisterClientRequestHeader {
                client_id,
                producer_group,
                consumer_group,
            };
            prop_assert_eq!(
                UnregisterClientRequestHeader::read_from(&header.to_ext_fields()),
                Ok(header)
            );
        }
    }

    #[test]
    fn gotcha_unregister_client_capital_id() {
        let header = UnregisterClientRequestHeader {
            client_id: "10.0.0.5@4242#81234567890123".to_string(),
            producer_group: None,
            consumer_group: Some("cg".to_string()),
        };
        let written = header.to_ext_fields();
        assert_eq!(written.get("clientID"), Some(header.client_id.as_str()));
        assert!(!written.contains_key("clientId"));
        assert!(!written.contains_key("producerGroup"));
        let lower_case = fields(&[("clientId", "10.0.0.5@4242"), ("consumerGroup", "cg")]);
        assert_eq!(
            UnregisterClientRequestHeader::read_from(&lower_case),
            Err(DecodeError::FieldMissing { name: "clientID" })
        );
        assert_missing(&header, "clientID");
        assert_round_trip(&header);
    }

    #[test]
    fn group_headers_round_trip_and_require_the_group() {
        let list = GetConsumerListByGroupRequestHeader {
            consumer_group: "cg".to_string(),
        };
        assert_round_trip(&list);
        assert_missing(&list, "consumerGroup");
        let notify = NotifyConsumerIdsChangedRequestHeader {
            consumer_group: "cg".to_string(),
        };
        assert_round_trip(&notify);
        assert_missing(&notify, "consumerGroup");
    }

    #[test]
    fn running_info_round_trips_and_defaults_jstack() {
        let header = GetConsumerRunningInfoRequestHeader {
            consumer_group: "cg".to_string(),
            client_id: "10.0.0.5@4242".to_string(),
            jstack_enable: true,
        };
        assert_round_trip(&header);
        assert_missing(&header, "clientId");
        assert_missing(&header, "consumerGroup");
        let without = fields(&[("consumerGroup", "cg"), ("clientId", "c")]);
        let read = GetConsumerRunningInfoRequestHeader::read_from(&without);
        assert_eq!(read.map(|h| h.jstack_enable), Ok(false));
    }

    #[test]
    fn consume_directly_and_status_headers_round_trip() {
        let direct = ConsumeMessageDirectlyResultRequestHeader {
            consumer_group: "cg".to_string(),
            client_id: Some("10.0.0.5@4242".to_string()),
            msg_id: Some("0A00000100002A9F0000000000000000".to_string()),
            broker_name: Some("broker-a".to_string()),
            topic: None,
        };
        assert_round_trip(&direct);
        assert_missing(&direct, "consumerGroup");
        let minimal = ConsumeMessageDirectlyResultRequestHeader::read_from(&fields(&[(
            "consumerGroup",
            "cg",
        )]));
        assert_eq!(minimal.map(|h| h.msg_id), Ok(None));
        let status = GetConsumerStatusRequestHeader {
            topic: "TopicTest".to_string(),
            group: "cg".to_string(),
            client_addr: Some("10.0.0.5:53422".to_string()),
        };
        assert_round_trip(&status);
        assert_missing(&status, "group");
        assert_missing(&status, "topic");
    }

    #[test]
    fn booleans_parse_like_java() {
        let header = GetConsumerRunningInfoRequestHeader {
            consumer_group: "cg".to_string(),
            client_id: "c".to_string(),
            jstack_enable: false,
        };
        // Java's Boolean.parseBoolean never fails: anything but "true" is false.
        let mut written = header.to_ext_fields();
        written.insert("jstackEnable", "yes");
        let read = GetConsumerRunningInfoRequestHeader::read_from(&written);
        assert_eq!(read.map(|h| h.jstack_enable), Ok(false));
        written.insert("jstackEnable", "TRUE");
        let read = GetConsumerRunningInfoRequestHeader::read_from(&written);
        assert_eq!(read.map(|h| h.jstack_enable), Ok(true));
    }
}
