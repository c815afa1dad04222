//! The two message ids: the broker's offset msgId and the client's unique key (UNIQ_KEY).
//!
//! ```text
//! offset msgId (broker "msgId", client "offsetMsgId"):
//! +--------------------------+----------+---------------------------+
//! | store host IP  4 | 16 B  | port i32 | commit-log offset    i64  |  16 | 28 bytes
//! +--------------------------+----------+---------------------------+
//!
//! unique key (UNIQ_KEY property, client "msgId"):
//! +--------------------------+---------+-----------------+------------------+-------------+
//! | client IP      4 | 16 B  | pid i16 | classloader i32 | ms in month  u32 | counter i16 |
//! +--------------------------+---------+-----------------+------------------+-------------+
//!
//! both: big-endian bytes as hex, 32 chars (IPv4) or 56 chars (IPv6)
//! ```
//!
//! Encoders write uppercase hex like Java's `UtilAll.bytes2string`. Decoders accept either case,
//! as Java's `string2bytes` does, because the Go client writes the time and counter of its
//! unique keys in lowercase. The IP width follows from the length alone: 32 chars mean IPv4.
//! No clocks here: callers pass times in, and [`month_start_ms`] does the calendar arithmetic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::error::DecodeError;

/// Hex length of an id with an IPv4 address.
pub const ID_HEX_SIZE_V4: usize = 32;
/// Hex length of an id with an IPv6 address.
pub const ID_HEX_SIZE_V6: usize = 56;

const MS_PER_DAY: i64 = 86_400_000;

/// Where a stored message lives: the broker that stored it and its commit-log offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OffsetMsgId {
    pub store_host: SocketAddr,
    pub commit_log_offset: i64,
}

impl OffsetMsgId {
    pub fn encode(&self) -> String {
        let mut bytes = Vec::with_capacity(28);
        push_ip(&mut bytes, self.store_host.ip());
        bytes.extend_from_slice(&i32::from(self.store_host.port()).to_be_bytes());
        bytes.extend_from_slice(&self.commit_log_offset.to_be_bytes());
        hex_upper(&bytes)
    }

    /// Parses an offset msgId; a wrong length, a non-hex character or a port outside
    /// `0..=65535` is [`DecodeError::FieldInvalid`] named `msgId`.
    pub fn decode(text: &str) -> Result<Self, DecodeError> {
        let (ip, rest) = split_ip(text, "msgId")?;
        let port = read_i32(&rest[0..4]);
        let port = u16::try_from(port).map_err(|_| invalid("msgId", text))?;
        Ok(OffsetMsgId {
            store_host: SocketAddr::new(ip, port),
            commit_log_offset: read_i64(&rest[4..12]),
        })
    }
}

/// The components of a client unique key, as Java's `MessageClientIDSetter` lays them out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UniqueKeyParts {
    /// The client's IP (Java falls back to a fake 4-byte one taken from the clock).
    pub ip: IpAddr,
    /// The process id truncated to 16 bits.
    pub pid: i16,
    /// Java: the client class loader's `hashCode()`; Go: 0.
    pub class_loader_hash: i32,
    /// Milliseconds since the start of the month the client last observed. Unsigned because a
    /// 31-day month holds more than `i32::MAX` ms: Java writes `(int) diff` and reads the four
    /// bytes back as an unsigned long (`getNearlyTimeFromID`), so the bits are what matter.
    pub time_since_month_start_ms: u32,
    /// A per-process counter truncated to 16 bits.
    pub counter: i16,
}

impl UniqueKeyParts {
    pub fn encode(&self) -> String {
        let mut bytes = Vec::with_capacity(28);
        push_ip(&mut bytes, self.ip);
        bytes.extend_from_slice(&self.pid.to_be_bytes());
        bytes.extend_from_slice(&self.class_loader_hash.to_be_bytes());
        bytes.extend_from_slice(&self.time_since_month_start_ms.to_be_bytes());
        bytes.extend_from_slice(&self.counter.to_be_bytes());
        hex_upper(&bytes)
    }

    /// Parses a unique key of either case; errors are [`DecodeError::FieldInvalid`] named
    /// `UNIQ_KEY`.
    pub fn decode(text: &str) -> Result<Self, DecodeError> {
        let (ip, rest) = split_ip(text, "UNIQ_KEY")?;
        Ok(UniqueKeyParts {
            ip,
            pid: i16::from_be_bytes([rest[0], rest[1]]),
            class_loader_hash: read_i32(&rest[2..6]),
            time_since_month_start_ms: u32::from_be_bytes([rest[6], rest[7], rest[8], rest[9]]),
            counter: i16::from_be_bytes([rest[10], rest[11]]),
        })
    }

    /// The approximate creation time, as Java's `getNearlyTimeFromID` computes it: the offset is
    /// taken from the start of `now_ms`'s month, or of the previous month when that would put
    /// the message at or after `now_ms`.
    pub fn born_time_ms(&self, now_ms: i64) -> i64 {
        let span_ms = i64::from(self.time_since_month_start_ms);
        let month_start = month_start_ms(now_ms);
        if month_start.saturating_add(span_ms) >= now_ms {
            month_start_ms(month_start.saturating_sub(1)).saturating_add(span_ms)
        } else {
            month_start + span_ms
        }
    }
}

/// The time field Java writes for a key created at `now_ms`: `(int)(now - monthStart)`.
pub fn time_since_month_start_ms(now_ms: i64) -> u32 {
    // Truncation on purpose: it reproduces Java's int cast bit for bit.
    now_ms.wrapping_sub(month_start_ms(now_ms)) as u32
}

/// The first millisecond of the month containing `unix_ms`, in UTC. Java uses the JVM's default
/// time zone, so keys from a client in another zone carry offsets from a different midnight;
/// only [`UniqueKeyParts::born_time_ms`] cares, and it is approximate by name.
pub fn month_start_ms(unix_ms: i64) -> i64 {
    let days = unix_ms.div_euclid(MS_PER_DAY);
    let (year, month, _) = civil_from_days(days);
    days_from_civil(year, month, 1).saturating_mul(MS_PER_DAY)
}

/// The first millisecond of the month after the one containing `unix_ms`, in UTC: when a
/// client must move its month start forward.
pub fn next_month_start_ms(unix_ms: i64) -> i64 {
    let (year, month, _) = civil_from_days(unix_ms.div_euclid(MS_PER_DAY));
    let (year, month) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    days_from_civil(year, month, 1).saturating_mul(MS_PER_DAY)
}

/// Days since 1970-01-01 to (year, month 1..=12, day 1..=31), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Inverse of [`civil_from_days`].
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = year - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month_index = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn push_ip(bytes: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(ip) => bytes.extend_from_slice(&ip.octets()),
        IpAddr::V6(ip) => bytes.extend_from_slice(&ip.octets()),
    }
}

/// Decodes the hex of a 16- or 28-byte id and splits off its IP; the remaining 12 bytes are
/// returned in a fixed array so callers index without bounds worries.
fn split_ip(text: &str, name: &'static str) -> Result<(IpAddr, [u8; 12]), DecodeError> {
    if text.len() != ID_HEX_SIZE_V4 && text.len() != ID_HEX_SIZE_V6 {
        return Err(invalid(name, text));
    }
    let mut bytes = [0u8; 28];
    let size = text.len() / 2;
    for (index, pair) in text.as_bytes().chunks_exact(2).enumerate() {
        let high = hex_value(pair[0]).ok_or_else(|| invalid(name, text))?;
        let low = hex_value(pair[1]).ok_or_else(|| invalid(name, text))?;
        bytes[index] = high << 4 | low;
    }
    let ip_size = size - 12;
    let ip = if ip_size == 4 {
        IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]))
    } else {
        let mut octets = [0u8; 16];
        octets.copy_from_slice(&bytes[..16]);
        IpAddr::V6(Ipv6Addr::from(octets))
    };
    let mut rest = [0u8; 12];
    rest.copy_from_slice(&bytes[ip_size..size]);
    Ok((ip, rest))
}

fn invalid(name: &'static str, text: &str) -> DecodeError {
    // Bounded copy: the text may be anything a peer sent.
    let value: String = text.chars().take(ID_HEX_SIZE_V6 + 8).collect();
    DecodeError::FieldInvalid { name, value }
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

fn hex_upper(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0F)]));
    }
    text
}

fn read_i32(bytes: &[u8]) -> i32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(bytes);
    i32::from_be_bytes(word)
}

fn read_i64(bytes: &[u8]) -> i64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(bytes);
    i64::from_be_bytes(word)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn offset_msg_id_matches_java_layout() {
        let id = OffsetMsgId {
            store_host: "10.0.0.1:10911".parse().unwrap(),
            commit_log_offset: 0x1234,
        };
        let text = id.encode();
        assert_eq!(text, "0A00000100002A9F0000000000001234");
        assert_eq!(OffsetMsgId::decode(&text), Ok(id));
        assert_eq!(OffsetMsgId::decode(&text.to_lowercase()), Ok(id));
    }

    #[test]
    fn offset_msg_id_ipv6_is_56_chars() {
        let id = OffsetMsgId {
            store_host: "[fe80::1]:10911".parse().unwrap(),
            commit_log_offset: i64::MAX,
        };
        let text = id.encode();
        assert_eq!(text.len(), ID_HEX_SIZE_V6);
        assert!(text.starts_with("FE800000"));
        assert_eq!(OffsetMsgId::decode(&text), Ok(id));
    }

    #[test]
    fn bad_ids_are_typed_errors() {
        let good = "0A00000100002A9F0000000000001234";
        let cases = [
            String::new(),
            good[..31].to_string(),
            format!("{good}00"),
            good.replace('A', "G"),
            good.replacen("00", "é", 1),
            "0A000001FFFFFFFF0000000000001234".to_string(), // port -1
            "0A000001000100000000000000001234".to_string(), // port 65536
        ];
        for text in cases {
            let result = OffsetMsgId::decode(&text);
            assert!(
                matches!(result, Err(DecodeError::FieldInvalid { name: "msgId", .. })),
                "{text:?} gave {result:?}"
            );
        }
        assert!(UniqueKeyParts::decode(&good[1..]).is_err());
    }

    #[test]
    fn unique_key_matches_java_layout() {
        let parts = UniqueKeyParts {
            ip: IpAddr::V4(Ipv4Addr::new(192, 168, 0, 7)),
            pid: 0x1F2E,
            class_loader_hash: -1,
            time_since_month_start_ms: 0x8000_0001,
            counter: -2,
        };
        let text = parts.encode();
        assert_eq!(text, "C0A800071F2EFFFFFFFF80000001FFFE");
        assert_eq!(UniqueKeyParts::decode(&text), Ok(parts));
    }

    #[test]
    fn gotcha_go_unique_key_lowercase_tail() {
        // Go writes the fixed prefix in uppercase and the time and counter in lowercase.
        let parts = UniqueKeyParts::decode("C0A800071F2E00000000abcdef01ff0a").unwrap();
        assert_eq!(parts.class_loader_hash, 0);
        assert_eq!(parts.time_since_month_start_ms, 0xABCD_EF01);
        assert_eq!(parts.counter, -246);
    }

    #[test]
    fn month_start_in_utc() {
        // 2024-02-29T13:14:15.678Z -> 2024-02-01T00:00:00Z, next 2024-03-01.
        assert_eq!(month_start_ms(1_709_212_455_678), 1_706_745_600_000);
        assert_eq!(next_month_start_ms(1_709_212_455_678), 1_709_251_200_000);
        // 2023-12-31T23:59:59.999Z -> 2023-12-01, next 2024-01-01.
        assert_eq!(month_start_ms(1_704_067_199_999), 1_701_388_800_000);
        assert_eq!(next_month_start_ms(1_704_067_199_999), 1_704_067_200_000);
        assert_eq!(month_start_ms(0), 0);
        // 1969-12-31T23:59:59.999Z -> 1969-12-01.
        assert_eq!(month_start_ms(-1), -2_678_400_000);
        assert_eq!(month_start_ms(i64::MIN), i64::MIN);
    }

    #[test]
    fn gotcha_month_time_overflows_java_int_late_in_long_months() {
        // 2024-01-31T12:00Z is 2_635_200_000 ms into January: more than i32::MAX.
        let now = 1_706_702_400_000;
        let parts = UniqueKeyParts {
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            pid: 1,
            class_loader_hash: 2,
            time_since_month_start_ms: time_since_month_start_ms(now),
            counter: 3,
        };
        assert_eq!(parts.time_since_month_start_ms, 2_635_200_000);
        assert_eq!(parts.born_time_ms(now + 5), now);
        // Read back early next month, the offset refers to the previous month.
        assert_eq!(parts.born_time_ms(now + 86_400_000), now);
    }

    fn ip() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            any::<[u8; 4]>().prop_map(|o| IpAddr::V4(Ipv4Addr::from(o))),
            any::<[u8; 16]>().prop_map(|o| IpAddr::V6(Ipv6Addr::from(o))),
        ]
    }

    proptest! {
        #[test]
        fn offset_msg_id_round_trip(ip in ip(), port in any::<u16>(), offset in any::<i64>()) {
            let store_host = SocketAddr::new(ip, port);
            let id = OffsetMsgId { store_host, commit_log_offset: offset };
            let text = id.encode();
            prop_assert_eq!(text.len(), if ip.is_ipv4() { 32 } else { 56 });
            prop_assert_eq!(text.to_uppercase(), text.clone());
            prop_assert_eq!(OffsetMsgId::decode(&text), Ok(id));
        }

        #[test]
        fn unique_key_round_trip(ip in ip(), pid in any::<i16>(), hash in any::<i32>(),
                                 time in any::<u32>(), counter in any::<i16>()) {
            let parts = UniqueKeyParts {
                ip, pid, class_loader_hash: hash, time_since_month_start_ms: time, counter,
            };
            prop_assert_eq!(UniqueKeyParts::decode(&parts.encode()), Ok(parts));
        }

        #[test]
        fn random_text_never_panics(text in "\\PC{0,60}|[0-9a-fA-F]{32}|[0-9a-fA-F]{56}") {
            let _ = OffsetMsgId::decode(&text);
            prop_assert_eq!(UniqueKeyParts::decode(&text).is_ok(), [32, 56]
                .contains(&text.len()) && text.bytes().all(|b| b.is_ascii_hexdigit()));
        }

        #[test]
        fn month_start_is_day_one_midnight(now in -10_000_000_000_000i64..10_000_000_000_000) {
            let start = month_start_ms(now);
            let next = next_month_start_ms(now);
            prop_assert!(start <= now && now < next);
            prop_assert!((28 * MS_PER_DAY..=31 * MS_PER_DAY).contains(&(next - start)));
            prop_assert_eq!(start.rem_euclid(MS_PER_DAY), 0);
            prop_assert_eq!(month_start_ms(start - 1), month_start_ms(start - MS_PER_DAY));
            prop_assert_eq!(next_month_start_ms(start - 1), start);
        }
    }
}
