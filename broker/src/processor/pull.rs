//! PULL_MESSAGE (11): tag filtering by hash code, the store lookup, and the response with its
//! four always-present header fields (Java unboxes them) and the stored records as the body,
//! unchanged.
//!
//! Runs on the event-loop thread; the long-poll table lives in [`super::long_poll`].

use std::collections::HashSet;

use wire::headers::pull::PullMessageResponseHeader;
use wire::headers::CommandHeader;
use wire::{RemotingCommand, ResponseCode};

use crate::store::{GetResult, GetStatus};

/// Pull answers carry at most this many bytes (upstream: 256 KiB from memory).
pub const PULL_SIZE_MAX: usize = 256 * 1024;

/// A TAG subscription expression as consume-queue tag codes: `*` (or empty) takes everything;
/// `a || b` takes messages whose tag hashes to either.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagFilter {
    codes: Option<HashSet<i32>>,
}

impl TagFilter {
    pub fn all() -> TagFilter {
        TagFilter { codes: None }
    }

    pub fn parse(expression: &str) -> TagFilter {
        let expression = expression.trim();
        if expression.is_empty() || expression == "*" {
            return TagFilter::all();
        }
        let codes = expression
            .split("||")
            .map(str::trim)
            .filter(|tag| !tag.is_empty())
            .map(wire::java_string_hash)
            .collect();
        TagFilter { codes: Some(codes) }
    }

    /// From the hash codes a client sent with its subscription (heartbeat `codeSet`).
    pub fn from_codes(codes: impl IntoIterator<Item = i32>, all: bool) -> TagFilter {
        if all {
            return TagFilter::all();
        }
        TagFilter {
            codes: Some(codes.into_iter().collect()),
        }
    }

    /// Consume queues store the tag hash sign-extended to i64; upstream compares its low 32 bits.
    pub fn accepts(&self, tags_code: i64) -> bool {
        match &self.codes {
            None => true,
            Some(codes) => codes.contains(&(tags_code as i32)),
        }
    }
}

/// The response code for a store status, as upstream's table (§2.3 of the spec): an empty or
/// unknown queue asked at offset 0 is "not found" (the consumer parks), elsewhere "moved".
pub fn response_code(status: GetStatus, request_offset: i64) -> ResponseCode {
    match status {
        GetStatus::Found => ResponseCode::SUCCESS,
        GetStatus::NoMatchedMessage | GetStatus::MessageWasRemoving => {
            ResponseCode::PULL_RETRY_IMMEDIATELY
        }
        GetStatus::OffsetFoundNull | GetStatus::OffsetOverflowOne => ResponseCode::PULL_NOT_FOUND,
        GetStatus::NoMessageInQueue | GetStatus::NoMatchedLogicQueue if request_offset == 0 => {
            ResponseCode::PULL_NOT_FOUND
        }
        GetStatus::NoMessageInQueue
        | GetStatus::NoMatchedLogicQueue
        | GetStatus::OffsetTooSmall
        | GetStatus::OffsetOverflowBadly => ResponseCode::PULL_OFFSET_MOVED,
    }
}

fn status_name(status: GetStatus) -> &'static str {
    match status {
        GetStatus::Found => "FOUND",
        GetStatus::NoMatchedMessage => "NO_MATCHED_MESSAGE",
        GetStatus::MessageWasRemoving => "MESSAGE_WAS_REMOVING",
        GetStatus::OffsetFoundNull => "OFFSET_FOUND_NULL",
        GetStatus::OffsetOverflowOne => "OFFSET_OVERFLOW_ONE",
        GetStatus::OffsetOverflowBadly => "OFFSET_OVERFLOW_BADLY",
        GetStatus::OffsetTooSmall => "OFFSET_TOO_SMALL",
        GetStatus::NoMessageInQueue => "NO_MESSAGE_IN_QUEUE",
        GetStatus::NoMatchedLogicQueue => "NO_MATCHED_LOGIC_QUEUE",
    }
}

/// The answer to `request` for a store result; the body is the records as stored.
/// `suggest_broker_id` tells the consumer which broker of the set to pull from next.
pub fn response(
    request: &RemotingCommand,
    request_offset: i64,
    got: GetResult,
    suggest_broker_id: i64,
) -> RemotingCommand {
    let code = response_code(got.status, request_offset);
    let header = PullMessageResponseHeader {
        suggest_which_broker_id: suggest_broker_id,
        next_begin_offset: got.next_offset as i64,
        min_offset: got.min_offset as i64,
        max_offset: got.max_offset as i64,
    };
    let mut response = RemotingCommand::response_to(request, code);
    response.remark = Some(status_name(got.status).to_string());
    header.write_to(&mut response.ext_fields);
    if code == ResponseCode::SUCCESS {
        response.body = got.records;
    }
    response
}

/// A pull refused before the store (unknown topic, bad queue, missing subscription): all four
/// header fields still present.
pub fn refusal(request: &RemotingCommand, code: ResponseCode, remark: &str) -> RemotingCommand {
    let mut response = RemotingCommand::response_to(request, code);
    response.remark = Some(remark.to_string());
    PullMessageResponseHeader {
        suggest_which_broker_id: 0,
        next_begin_offset: 0,
        min_offset: 0,
        max_offset: 0,
    }
    .write_to(&mut response.ext_fields);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_expressions_match_by_java_hash() {
        let filter = TagFilter::parse("a || b ||c");
        assert!(filter.accepts(i64::from(wire::java_string_hash("a"))));
        assert!(filter.accepts(i64::from(wire::java_string_hash("c"))));
        assert!(!filter.accepts(i64::from(wire::java_string_hash("d"))));
        assert!(
            !filter.accepts(0),
            "untagged messages do not match a tag list"
        );
        assert!(TagFilter::parse(" * ").accepts(12345));
        assert!(TagFilter::parse("").accepts(0));
    }

    #[test]
    fn statuses_map_to_upstream_codes() {
        use GetStatus::*;
        assert_eq!(response_code(Found, 5), ResponseCode::SUCCESS);
        assert_eq!(
            response_code(OffsetOverflowOne, 5),
            ResponseCode::PULL_NOT_FOUND
        );
        assert_eq!(
            response_code(NoMessageInQueue, 0),
            ResponseCode::PULL_NOT_FOUND
        );
        assert_eq!(
            response_code(NoMessageInQueue, 3),
            ResponseCode::PULL_OFFSET_MOVED
        );
        assert_eq!(
            response_code(NoMatchedLogicQueue, 0),
            ResponseCode::PULL_NOT_FOUND
        );
        assert_eq!(
            response_code(OffsetTooSmall, 0),
            ResponseCode::PULL_OFFSET_MOVED
        );
        assert_eq!(
            response_code(NoMatchedMessage, 1),
            ResponseCode::PULL_RETRY_IMMEDIATELY
        );
    }

    #[test]
    fn every_answer_has_the_four_header_fields() {
        let request = RemotingCommand::request(wire::RequestCode::PULL_MESSAGE, 1);
        let refused = refusal(&request, ResponseCode::TOPIC_NOT_EXIST, "no topic");
        for field in [
            "suggestWhichBrokerId",
            "nextBeginOffset",
            "minOffset",
            "maxOffset",
        ] {
            assert!(refused.ext_fields.get(field).is_some(), "{field}");
        }
    }
}
