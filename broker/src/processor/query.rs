//! QUERY_MESSAGE (12): messages of a topic by key (a KEYS entry, or with `_UNIQUE_KEY_QUERY`
//! the client's UNIQ_KEY) through the store's index. The records are read from disk, so the
//! loop hands the request to the pull workers when it can ([`super::pull_workers`]).

use wire::headers::admin::{QueryMessageRequestHeader, QueryMessageResponseHeader};
use wire::headers::CommandHeader;
use wire::{RemotingCommand, ResponseCode};

use crate::store::MessageStore;

/// `defaultQueryMaxNum`: what a unique-key query returns at most.
const UNIQUE_KEY_QUERY_MAX: usize = 32;
/// `maxMsgsNumBatch`: no query returns more than this.
const QUERY_MAX: usize = 64;

/// The answer to a QUERY_MESSAGE request; every answer carries the response header.
pub fn answer(store: &MessageStore, request: &RemotingCommand) -> RemotingCommand {
    let mut response = RemotingCommand::response_to(request, ResponseCode::SUCCESS);
    let mut progress = crate::store::IndexProgress::default();
    match QueryMessageRequestHeader::read_from(&request.ext_fields) {
        Err(error) => {
            response.code = ResponseCode::SYSTEM_ERROR.into();
            response.remark = Some(format!("bad QUERY_MESSAGE header: {error}"));
        }
        Ok(header) => {
            let unique = request
                .ext_fields
                .get("_UNIQUE_KEY_QUERY")
                .is_some_and(|v| v == "true");
            let max = if unique {
                UNIQUE_KEY_QUERY_MAX
            } else {
                (header.max_num.max(1) as usize).min(QUERY_MAX)
            };
            let (begin, end) = (header.begin_timestamp, header.end_timestamp);
            match store.query_by_key(&header.topic, &header.key, max, begin, end) {
                Err(error) => {
                    response.code = ResponseCode::SYSTEM_ERROR.into();
                    response.remark = Some(format!("query failed: {error}"));
                }
                Ok((records, found_progress)) => {
                    progress = found_progress;
                    if records.is_empty() {
                        response.code = ResponseCode::QUERY_NOT_FOUND.into();
                        response.remark = Some(format!(
                            "can not find message of topic {} with key {}, maybe time range \
                             not correct",
                            header.topic, header.key
                        ));
                    }
                    response.body = records.concat();
                }
            }
        }
    }
    QueryMessageResponseHeader {
        index_last_update_timestamp: progress.last_timestamp,
        index_last_update_phyoffset: progress.last_offset,
    }
    .write_to(&mut response.ext_fields);
    response
}
