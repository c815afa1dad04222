//! Stored-message records as values: [`RecordView`] borrows body, topic and properties (decode
//! straight from a commit-log slice, or encode without first copying a request body) and
//! [`MessageRecord`] owns them. The byte layout is drawn in the parent module.
//!
//! Invariants: encode writes TOTALSIZE as the sum of the fields, BODYCRC recomputed from the
//! body and V6 bits taken from the hosts; decode accepts a record only when every length fits
//! inside TOTALSIZE and the fields end exactly there.

use std::net::{IpAddr, SocketAddr};

use super::{
    check_size, encoded_size, peek, sys_flag, utf8, MagicVersion, Reader, RecordKind,
    BORN_HOST_POSITION, COMMIT_LOG_OFFSET_POSITION, QUEUE_OFFSET_POSITION, SYS_FLAG_POSITION,
};
use crate::error::DecodeError;
use crate::message_id::OffsetMsgId;
use crate::properties::{self, Properties, PROPERTIES_SIZE_MAX};
use crate::{consume_unit, crc32_masked};

/// A stored message borrowing body, topic and properties from the record bytes (decode) or
/// from the caller (encode without copying the body first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordView<'a> {
    pub version: MagicVersion,
    /// As stored; [`RecordView::encode`] recomputes it from the body.
    pub body_crc: u32,
    pub queue_id: i32,
    pub flag: i32,
    pub queue_offset: i64,
    pub commit_log_offset: i64,
    /// As stored; the encoder replaces the V6 bits with the hosts' families.
    pub sys_flag: i32,
    pub born_timestamp: i64,
    pub born_host: SocketAddr,
    pub store_timestamp: i64,
    pub store_host: SocketAddr,
    pub reconsume_times: i32,
    pub prepared_transaction_offset: i64,
    pub body: &'a [u8],
    pub topic: &'a str,
    /// The raw property string; see [`crate::properties`].
    pub properties: &'a str,
}

/// An owned stored message; field meanings as in [`RecordView`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord {
    pub version: MagicVersion,
    pub body_crc: u32,
    pub queue_id: i32,
    pub flag: i32,
    pub queue_offset: i64,
    pub commit_log_offset: i64,
    pub sys_flag: i32,
    pub born_timestamp: i64,
    pub born_host: SocketAddr,
    pub store_timestamp: i64,
    pub store_host: SocketAddr,
    pub reconsume_times: i32,
    pub prepared_transaction_offset: i64,
    pub body: Vec<u8>,
    pub topic: String,
    pub properties: String,
}

impl<'a> RecordView<'a> {
    /// A V1 (IPv4-style) record about to be appended: the store fills in the offsets, CRC and
    /// store time; flags, reconsume count and born time are zero (callers set what they need
    /// with struct update syntax).
    pub fn to_append(
        topic: &'a str,
        queue_id: i32,
        body: &'a [u8],
        properties: &'a str,
        host: SocketAddr,
    ) -> RecordView<'a> {
        RecordView {
            version: MagicVersion::V1,
            body_crc: 0,
            queue_id,
            flag: 0,
            queue_offset: 0,
            commit_log_offset: 0,
            sys_flag: 0,
            born_timestamp: 0,
            born_host: host,
            store_timestamp: 0,
            store_host: host,
            reconsume_times: 0,
            prepared_transaction_offset: 0,
            body,
            topic,
            properties,
        }
    }

    pub fn encoded_size(&self) -> usize {
        encoded_size(
            self.version,
            &self.born_host,
            &self.store_host,
            self.body.len(),
            self.topic.len(),
            self.properties.len(),
        )
    }

    /// The sysFlag as written: V6 bits taken from the hosts' address families.
    pub fn sys_flag_effective(&self) -> i32 {
        let mut sys_flag = self.sys_flag & !(sys_flag::BORN_HOST_V6 | sys_flag::STORE_HOST_V6);
        if self.born_host.is_ipv6() {
            sys_flag |= sys_flag::BORN_HOST_V6;
        }
        if self.store_host.is_ipv6() {
            sys_flag |= sys_flag::STORE_HOST_V6;
        }
        sys_flag
    }

    /// Appends the record to `out`; nothing is written when a field is too long for its
    /// length field (topic for the version, properties 32767, TOTALSIZE `i32::MAX`).
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), DecodeError> {
        check_size("TOPIC", self.topic.len(), self.version.topic_size_max())?;
        check_size("PROPERTIES", self.properties.len(), PROPERTIES_SIZE_MAX)?;
        let total_size = self.encoded_size();
        check_size("TOTALSIZE", total_size, i32::MAX as usize)?;
        out.reserve(total_size);
        out.extend_from_slice(&(total_size as i32).to_be_bytes());
        out.extend_from_slice(&self.version.magic().to_be_bytes());
        out.extend_from_slice(&crc32_masked(self.body).to_be_bytes());
        out.extend_from_slice(&self.queue_id.to_be_bytes());
        out.extend_from_slice(&self.flag.to_be_bytes());
        out.extend_from_slice(&self.queue_offset.to_be_bytes());
        out.extend_from_slice(&self.commit_log_offset.to_be_bytes());
        out.extend_from_slice(&self.sys_flag_effective().to_be_bytes());
        out.extend_from_slice(&self.born_timestamp.to_be_bytes());
        put_host(out, &self.born_host);
        out.extend_from_slice(&self.store_timestamp.to_be_bytes());
        put_host(out, &self.store_host);
        out.extend_from_slice(&self.reconsume_times.to_be_bytes());
        out.extend_from_slice(&self.prepared_transaction_offset.to_be_bytes());
        out.extend_from_slice(&(self.body.len() as i32).to_be_bytes());
        out.extend_from_slice(self.body);
        match self.version {
            MagicVersion::V1 => out.push(self.topic.len() as u8),
            MagicVersion::V2 => out.extend_from_slice(&(self.topic.len() as u16).to_be_bytes()),
        }
        out.extend_from_slice(self.topic.as_bytes());
        out.extend_from_slice(&(self.properties.len() as u16).to_be_bytes());
        out.extend_from_slice(self.properties.as_bytes());
        Ok(())
    }

    /// Decodes the message record at the start of `bytes` without copying; returns it and its
    /// size. A BLANK or end-of-data header is [`DecodeError::RecordMagicUnknown`]: scanners
    /// [`peek`] first. With `check_crc` a body not matching BODYCRC is an error.
    pub fn decode(bytes: &'a [u8], check_crc: bool) -> Result<(Self, usize), DecodeError> {
        let header = peek(bytes)?;
        let RecordKind::Message(version) = header.kind else {
            return Err(DecodeError::RecordMagicUnknown {
                magic: header.magic,
            });
        };
        let total_size = header.size();
        let Some(record) = bytes.get(..total_size) else {
            return Err(DecodeError::RecordTruncated {
                needed: total_size,
                available: bytes.len(),
            });
        };
        let mut reader = Reader {
            bytes: record,
            position: 8,
            declared: header.total_size,
        };
        let view = Self::decode_fields(&mut reader, version)?;
        if reader.position != total_size {
            return Err(DecodeError::RecordSizeMismatch {
                declared: header.total_size,
                computed: reader.position,
            });
        }
        if check_crc {
            let computed = crc32_masked(view.body);
            if computed != view.body_crc {
                return Err(DecodeError::RecordCrcMismatch {
                    stored: view.body_crc,
                    computed,
                });
            }
        }
        Ok((view, total_size))
    }

    fn decode_fields(reader: &mut Reader<'a>, version: MagicVersion) -> Result<Self, DecodeError> {
        let body_crc = reader.i32()? as u32;
        let queue_id = reader.i32()?;
        let flag = reader.i32()?;
        let queue_offset = reader.i64()?;
        let commit_log_offset = reader.i64()?;
        let sys_flag = reader.i32()?;
        let born_timestamp = reader.i64()?;
        let born_host = reader.host(sys_flag & sys_flag::BORN_HOST_V6 != 0, "BORNHOST port")?;
        let store_timestamp = reader.i64()?;
        let store_host = reader.host(sys_flag & sys_flag::STORE_HOST_V6 != 0, "STOREHOST port")?;
        let reconsume_times = reader.i32()?;
        let prepared_transaction_offset = reader.i64()?;
        let body_size = reader.i32()?;
        let body = reader.sized("BODYLEN", i64::from(body_size))?;
        let topic_size = match version {
            MagicVersion::V1 => i64::from(reader.array::<1>()?[0] as i8),
            MagicVersion::V2 => i64::from(reader.i16()?),
        };
        let topic = utf8("TOPIC", reader.sized("TOPICLEN", topic_size)?)?;
        let properties_size = i64::from(reader.i16()?);
        let properties = utf8("PROPERTIES", reader.sized("PROPLEN", properties_size)?)?;
        Ok(RecordView {
            version,
            body_crc,
            queue_id,
            flag,
            queue_offset,
            commit_log_offset,
            sys_flag,
            born_timestamp,
            born_host,
            store_timestamp,
            store_host,
            reconsume_times,
            prepared_transaction_offset,
            body,
            topic,
            properties,
        })
    }

    /// The TAGS property, found without allocating.
    pub fn tags(&self) -> Option<&'a str> {
        properties::find(self.properties, properties::TAGS)
    }

    /// The consume-queue tags code of this record.
    pub fn tags_code(&self) -> i64 {
        consume_unit::tags_code(self.tags())
    }

    pub fn keys(&self) -> Option<&'a str> {
        properties::find(self.properties, properties::KEYS)
    }

    pub fn unique_key(&self) -> Option<&'a str> {
        properties::find(self.properties, properties::UNIQ_KEY)
    }

    pub fn transaction_type(&self) -> sys_flag::TransactionType {
        sys_flag::TransactionType::of(self.sys_flag)
    }

    /// The id consumers derive from STOREHOST and PHYSICALOFFSET (gotcha 9).
    pub fn offset_msg_id(&self) -> OffsetMsgId {
        OffsetMsgId {
            store_host: self.store_host,
            commit_log_offset: self.commit_log_offset,
        }
    }

    pub fn to_record(&self) -> MessageRecord {
        MessageRecord {
            version: self.version,
            body_crc: self.body_crc,
            queue_id: self.queue_id,
            flag: self.flag,
            queue_offset: self.queue_offset,
            commit_log_offset: self.commit_log_offset,
            sys_flag: self.sys_flag,
            born_timestamp: self.born_timestamp,
            born_host: self.born_host,
            store_timestamp: self.store_timestamp,
            store_host: self.store_host,
            reconsume_times: self.reconsume_times,
            prepared_transaction_offset: self.prepared_transaction_offset,
            body: self.body.to_vec(),
            topic: self.topic.to_string(),
            properties: self.properties.to_string(),
        }
    }
}

impl MessageRecord {
    pub fn as_view(&self) -> RecordView<'_> {
        RecordView {
            version: self.version,
            body_crc: self.body_crc,
            queue_id: self.queue_id,
            flag: self.flag,
            queue_offset: self.queue_offset,
            commit_log_offset: self.commit_log_offset,
            sys_flag: self.sys_flag,
            born_timestamp: self.born_timestamp,
            born_host: self.born_host,
            store_timestamp: self.store_timestamp,
            store_host: self.store_host,
            reconsume_times: self.reconsume_times,
            prepared_transaction_offset: self.prepared_transaction_offset,
            body: &self.body,
            topic: &self.topic,
            properties: &self.properties,
        }
    }

    pub fn encoded_size(&self) -> usize {
        self.as_view().encoded_size()
    }

    /// See [`RecordView::encode`].
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), DecodeError> {
        self.as_view().encode(out)
    }

    /// See [`RecordView::decode`].
    pub fn decode(bytes: &[u8], check_crc: bool) -> Result<(Self, usize), DecodeError> {
        RecordView::decode(bytes, check_crc).map(|(view, size)| (view.to_record(), size))
    }

    /// The property string decoded into a map.
    pub fn properties_map(&self) -> Properties {
        properties::decode(&self.properties)
    }
}

/// The fields the store fills inside its append lock into a record encoded outside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendStamp {
    pub queue_offset: i64,
    pub commit_log_offset: i64,
    pub store_timestamp: i64,
}

/// Overwrites QUEUEOFFSET, PHYSICALOFFSET and STORETIMESTAMP of an encoded record in place.
pub fn stamp(record: &mut [u8], stamp: &AppendStamp) -> Result<(), DecodeError> {
    let header = peek(record)?;
    if !matches!(header.kind, RecordKind::Message(_)) {
        return Err(DecodeError::RecordMagicUnknown {
            magic: header.magic,
        });
    }
    if record.len() < header.size() {
        return Err(DecodeError::RecordTruncated {
            needed: header.size(),
            available: record.len(),
        });
    }
    let sys_flag = &record[SYS_FLAG_POSITION..SYS_FLAG_POSITION + 4];
    let born_v6 = i32::from_be_bytes([sys_flag[0], sys_flag[1], sys_flag[2], sys_flag[3]])
        & sys_flag::BORN_HOST_V6
        != 0;
    let store_timestamp_position = BORN_HOST_POSITION + if born_v6 { 20 } else { 8 };
    let fields = [
        (QUEUE_OFFSET_POSITION, stamp.queue_offset),
        (COMMIT_LOG_OFFSET_POSITION, stamp.commit_log_offset),
        (store_timestamp_position, stamp.store_timestamp),
    ];
    for (position, value) in fields {
        record[position..position + 8].copy_from_slice(&value.to_be_bytes());
    }
    Ok(())
}

fn put_host(out: &mut Vec<u8>, host: &SocketAddr) {
    match host.ip() {
        IpAddr::V4(ip) => out.extend_from_slice(&ip.octets()),
        IpAddr::V6(ip) => out.extend_from_slice(&ip.octets()),
    }
    out.extend_from_slice(&i32::from(host.port()).to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::encode_blank;
    use proptest::prelude::*;

    fn sample(version: MagicVersion, born_host: &str, store_host: &str) -> MessageRecord {
        let body = b"123456789".to_vec();
        let mut record = MessageRecord {
            version,
            body_crc: crc32_masked(&body),
            queue_id: 3,
            flag: 0x55,
            queue_offset: 42,
            commit_log_offset: 1 << 30,
            sys_flag: sys_flag::COMPRESSED,
            born_timestamp: 1_700_000_000_000,
            born_host: born_host.parse().unwrap(),
            store_timestamp: 1_700_000_000_123,
            store_host: store_host.parse().unwrap(),
            reconsume_times: 1,
            prepared_transaction_offset: 0,
            body,
            topic: "TopicTest".to_string(),
            properties: "TAGS\u{1}TagA\u{2}KEYS\u{1}k1 k2\u{2}UNIQ_KEY\u{1}AB".to_string(),
        };
        record.sys_flag = record.as_view().sys_flag_effective();
        record
    }

    fn encoded(record: &MessageRecord) -> Vec<u8> {
        let mut out = Vec::new();
        assert_eq!(record.encode(&mut out), Ok(()));
        out
    }

    fn v4() -> MessageRecord {
        sample(MagicVersion::V1, "10.0.0.2:50000", "10.0.0.1:10911")
    }

    #[test]
    fn v1_ipv4_layout_matches_table() {
        let record = v4();
        let bytes = encoded(&record);
        assert_eq!(bytes.len(), 91 + 9 + 9 + record.properties.len());
        assert_eq!(&bytes[..4], &(bytes.len() as i32).to_be_bytes());
        assert_eq!(&bytes[4..8], &[0xDA, 0xA3, 0x20, 0xA7]);
        assert_eq!(&bytes[28..36], &(1i64 << 30).to_be_bytes());
        assert_eq!(&bytes[48..56], &[10, 0, 0, 2, 0, 0, 0xC3, 0x50]);
        assert_eq!(&bytes[56..64], &1_700_000_000_123i64.to_be_bytes());
        assert_eq!(&bytes[84..88], &9i32.to_be_bytes());
        assert_eq!(bytes[97], 9, "TOPICLEN follows the body");
        assert_eq!(
            RecordView::decode(&bytes, true),
            Ok((record.as_view(), bytes.len()))
        );
        let (view, _) = RecordView::decode(&bytes, true).unwrap();
        assert_eq!(view.tags(), Some("TagA"));
        assert_eq!(view.tags_code(), 2_598_919);
        assert_eq!(view.keys(), Some("k1 k2"));
        assert_eq!(view.unique_key(), Some("AB"));
        assert_eq!(
            view.offset_msg_id().encode(),
            "0A00000100002A9F0000000040000000"
        );
        assert_eq!(record.properties_map().tags(), Some("TagA"));
    }

    #[test]
    fn gotcha_body_crc_is_masked() {
        // crc32("123456789") = 0xCBF43926 has the top bit set; RocketMQ stores it cleared.
        let mut bytes = encoded(&v4());
        assert_eq!(&bytes[8..12], &0x4BF4_3926u32.to_be_bytes());
        bytes[88] ^= 1;
        let expected = Err(DecodeError::RecordCrcMismatch {
            stored: 0x4BF4_3926,
            computed: crc32_masked(&bytes[88..97]),
        });
        assert_eq!(MessageRecord::decode(&bytes, true), expected);
        assert!(MessageRecord::decode(&bytes, false).is_ok());
    }

    #[test]
    fn gotcha_topic_len_is_signed_byte_v1() {
        let mut record = v4();
        record.topic = "t".repeat(127);
        assert_eq!(
            MessageRecord::decode(&encoded(&record), true).unwrap().0,
            record
        );
        record.topic.push('t');
        let too_long = Err(DecodeError::FieldTooLong {
            name: "TOPIC",
            size: 128,
            size_max: 127,
        });
        let mut out = vec![1];
        assert_eq!(record.encode(&mut out), too_long);
        assert_eq!(out, [1], "nothing written on error");
        // A TOPICLEN byte of 0x80 is -128 to Java, never 128.
        let mut bytes = encoded(&v4());
        bytes[97] = 0x80;
        let negative = Err(DecodeError::HeaderFieldLengthInvalid {
            field: "TOPICLEN",
            length: -128,
        });
        assert_eq!(RecordView::decode(&bytes, true), negative);
    }

    #[test]
    fn v2_carries_long_topics_up_to_i16_max() {
        let mut record = sample(MagicVersion::V2, "[::1]:1", "10.0.0.1:10911");
        record.topic = "t".repeat(300);
        let bytes = encoded(&record);
        assert_eq!(&bytes[4..8], &[0xDA, 0xA3, 0x20, 0xAB]);
        assert_eq!(bytes.len(), 92 + 12 + 9 + 300 + record.properties.len());
        assert_eq!(
            MessageRecord::decode(&bytes, true),
            Ok((record.clone(), bytes.len()))
        );
        record.topic = "t".repeat(32_768);
        assert!(matches!(
            record.encode(&mut Vec::new()),
            Err(DecodeError::FieldTooLong {
                size_max: 32_767,
                ..
            })
        ));
    }

    #[test]
    fn gotcha_v6_flags_change_record_length() {
        let mut record = sample(MagicVersion::V1, "[fe80::2]:50000", "[fe80::1]:10911");
        let bytes = encoded(&record);
        assert_eq!(bytes.len(), encoded(&v4()).len() + 24);
        let sys_flag = sys_flag::COMPRESSED | sys_flag::BORN_HOST_V6 | sys_flag::STORE_HOST_V6;
        assert_eq!(&bytes[36..40], &sys_flag.to_be_bytes());
        assert_eq!(
            MessageRecord::decode(&bytes, true).unwrap().0.sys_flag,
            sys_flag
        );
        // Bits that contradict the hosts are corrected, as the broker sets them from sockets.
        record.sys_flag = sys_flag::STORE_HOST_V6;
        record.store_host = "1.2.3.4:5".parse().unwrap();
        let decoded = MessageRecord::decode(&encoded(&record), true).unwrap().0;
        assert_eq!(decoded.sys_flag, sys_flag::BORN_HOST_V6);
    }

    #[test]
    fn properties_over_i16_max_are_refused() {
        let mut record = v4();
        record.properties = "p".repeat(PROPERTIES_SIZE_MAX);
        assert!(record.encode(&mut Vec::new()).is_ok());
        record.properties.push('p');
        let error = record.encode(&mut Vec::new()).unwrap_err();
        assert!(matches!(
            error,
            DecodeError::FieldTooLong {
                name: "PROPERTIES",
                ..
            }
        ));
    }

    #[test]
    fn lying_total_size_is_refused() {
        let good = encoded(&v4());
        let with_size = |size: i32| {
            let mut bytes = good.clone();
            bytes[..4].copy_from_slice(&size.to_be_bytes());
            bytes
        };
        let actual = good.len() as i32;
        let mut padded = with_size(actual + 1);
        padded.push(0);
        let short = RecordView::decode(&with_size(actual - 1), true).map(|_| ());
        assert!(matches!(short, Err(DecodeError::RecordSizeMismatch { .. })));
        let long = RecordView::decode(&padded, true);
        assert_eq!(
            long.map(|_| ()),
            Err(DecodeError::RecordSizeMismatch {
                declared: actual + 1,
                computed: good.len(),
            })
        );
        let past_end = RecordView::decode(&with_size(actual + 100), true).map(|_| ());
        assert_eq!(
            past_end,
            Err(DecodeError::RecordTruncated {
                needed: good.len() + 100,
                available: good.len(),
            })
        );
        let mut body_negative = good.clone();
        body_negative[84..88].copy_from_slice(&(-9i32).to_be_bytes());
        let negative = RecordView::decode(&body_negative, true).map(|_| ());
        assert!(matches!(
            negative,
            Err(DecodeError::HeaderFieldLengthInvalid { .. })
        ));
    }

    #[test]
    fn every_prefix_is_an_error() {
        let bytes = encoded(&sample(MagicVersion::V2, "[::1]:1", "[::2]:2"));
        for length in 0..bytes.len() {
            assert!(
                RecordView::decode(&bytes[..length], true).is_err(),
                "prefix {length}"
            );
        }
    }

    #[test]
    fn stamp_fills_append_fields() {
        let mut record = sample(MagicVersion::V1, "[::1]:1", "10.0.0.1:10911");
        let mut bytes = encoded(&record);
        let fields = AppendStamp {
            queue_offset: 7,
            commit_log_offset: 4096,
            store_timestamp: 99,
        };
        assert_eq!(stamp(&mut bytes, &fields), Ok(()));
        (record.queue_offset, record.commit_log_offset) = (7, 4096);
        record.store_timestamp = 99;
        assert_eq!(MessageRecord::decode(&bytes, true).unwrap().0, record);
        assert!(stamp(&mut bytes[..90], &fields).is_err());
        assert!(stamp(&mut encode_blank(8), &fields).is_err());
    }

    fn host() -> impl Strategy<Value = SocketAddr> {
        prop_oneof![
            (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| (ip, port).into()),
            (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, port)| (ip, port).into()),
        ]
    }

    prop_compose! {
        fn record()(v2 in any::<bool>(), ints in any::<(i32, i32, i32, i32)>(),
                    longs in any::<(i64, i64, i64, i64, i64)>(), born_host in host(),
                    store_host in host(), body in proptest::collection::vec(any::<u8>(), 0..64),
                    topic in "\\PC{0,40}", properties in "\\PC{0,40}") -> MessageRecord {
            let version = if v2 { MagicVersion::V2 } else { MagicVersion::V1 };
            let topic: String = topic.chars().take(if v2 { 40 } else { 30 }).collect();
            let mut record = MessageRecord {
                version, body_crc: crc32_masked(&body), queue_id: ints.0, flag: ints.1,
                queue_offset: longs.0, commit_log_offset: longs.1, sys_flag: ints.2,
                born_timestamp: longs.2, born_host, store_timestamp: longs.3, store_host,
                reconsume_times: ints.3, prepared_transaction_offset: longs.4, body, topic,
                properties,
            };
            record.sys_flag = record.as_view().sys_flag_effective();
            record
        }
    }

    proptest! {
        #[test]
        fn round_trip(record in record()) {
            let mut bytes = encoded(&record);
            prop_assert_eq!(bytes.len(), record.encoded_size());
            prop_assert!(matches!(peek(&bytes)?.kind, RecordKind::Message(_)));
            bytes.extend_from_slice(&encode_blank(8));
            prop_assert_eq!(MessageRecord::decode(&bytes, true), Ok((record, bytes.len() - 8)));
        }

        #[test]
        fn corrupted_records_never_panic(record in record(), index in any::<usize>(),
                                         value in any::<u8>()) {
            let mut bytes = encoded(&record);
            let index = index % bytes.len();
            bytes[index] = value;
            let _ = RecordView::decode(&bytes, true);
            let _ = stamp(&mut bytes, &AppendStamp { queue_offset: 0, commit_log_offset: 0,
                                                     store_timestamp: 0 });
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = peek(&bytes);
            prop_assert!(RecordView::decode(&bytes, true).is_err() || bytes.len() >= 91);
        }
    }
}
