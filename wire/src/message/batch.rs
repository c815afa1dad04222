//! The body of SEND_BATCH_MESSAGE: inner messages back to back, each with its own TOTALSIZE.
//!
//! ```text
//! +-----------+-------+---------+------+-------------+------+-------------+------------+
//! | TOTALSIZE | MAGIC | BODYCRC | FLAG | BODYLEN i32 | body | PROPLEN i16 | properties |
//! +-----------+-------+---------+------+-------------+------+-------------+------------+
//!   i32 BE      0       0         i32                                     UTF-8
//! ```
//!
//! Clients write MAGIC and BODYCRC as 0 and the broker ignores them; the broker recomputes the
//! CRC when it stores each message. Every TOTALSIZE must equal the sum of its item's fields and
//! fit in what is left of the body, so a lying size is refused before it is used.

use super::{check_size, utf8, Reader};
use crate::error::DecodeError;
use crate::properties::PROPERTIES_SIZE_MAX;

/// One message of a batch body, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchItem {
    pub flag: i32,
    pub body: Vec<u8>,
    pub properties: String,
}

/// One message of a batch body, borrowed from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchItemView<'a> {
    pub flag: i32,
    pub body: &'a [u8],
    pub properties: &'a str,
}

/// Smallest inner message of a batch: five i32 words and PROPLEN.
pub const BATCH_ITEM_SIZE_MIN: usize = 22;

/// Splits a SEND_BATCH_MESSAGE body without copying. Every TOTALSIZE must equal the sizes of
/// its fields and fit in what is left; an empty body gives no items (the caller decides
/// whether that is legal).
pub fn decode_batch_views(body: &[u8]) -> Result<Vec<BatchItemView<'_>>, DecodeError> {
    let mut items = Vec::new();
    let mut position = 0;
    while position < body.len() {
        let rest = &body[position..];
        let Some(word) = rest.first_chunk::<4>() else {
            return Err(DecodeError::RecordTruncated {
                needed: BATCH_ITEM_SIZE_MIN,
                available: rest.len(),
            });
        };
        let declared = i32::from_be_bytes(*word);
        if i64::from(declared) < BATCH_ITEM_SIZE_MIN as i64 {
            return Err(DecodeError::RecordSizeMismatch {
                declared,
                computed: BATCH_ITEM_SIZE_MIN,
            });
        }
        let total_size = declared as usize;
        let Some(item) = rest.get(..total_size) else {
            return Err(DecodeError::RecordTruncated {
                needed: total_size,
                available: rest.len(),
            });
        };
        // MAGIC and BODYCRC (bytes 4..12) are ignored, as the broker ignores them.
        let mut reader = Reader {
            bytes: item,
            position: 12,
            declared,
        };
        let flag = reader.i32()?;
        let body_size = reader.i32()?;
        let item_body = reader.sized("BODYLEN", i64::from(body_size))?;
        let properties_size = i64::from(reader.i16()?);
        let properties = utf8("PROPERTIES", reader.sized("PROPLEN", properties_size)?)?;
        if reader.position != total_size {
            return Err(DecodeError::RecordSizeMismatch {
                declared,
                computed: reader.position,
            });
        }
        items.push(BatchItemView {
            flag,
            body: item_body,
            properties,
        });
        position += total_size;
    }
    Ok(items)
}

/// [`decode_batch_views`] with owned items.
pub fn decode_batch(body: &[u8]) -> Result<Vec<BatchItem>, DecodeError> {
    let views = decode_batch_views(body)?;
    Ok(views
        .into_iter()
        .map(|view| BatchItem {
            flag: view.flag,
            body: view.body.to_vec(),
            properties: view.properties.to_string(),
        })
        .collect())
}

/// Appends a batch body the way the Java client writes it (MAGIC and BODYCRC 0); on error
/// `out` is left as it was.
pub fn encode_batch(items: &[BatchItem], out: &mut Vec<u8>) -> Result<(), DecodeError> {
    let start = out.len();
    for item in items {
        let properties_size = item.properties.len();
        let checked =
            check_size("PROPERTIES", properties_size, PROPERTIES_SIZE_MAX).and_then(|_| {
                let total_size = BATCH_ITEM_SIZE_MIN + item.body.len() + properties_size;
                check_size("TOTALSIZE", total_size, i32::MAX as usize).map(|_| total_size)
            });
        let total_size = match checked {
            Ok(total_size) => total_size,
            Err(error) => {
                out.truncate(start);
                return Err(error);
            }
        };
        out.extend_from_slice(&(total_size as i32).to_be_bytes());
        out.extend_from_slice(&[0u8; 8]);
        out.extend_from_slice(&item.flag.to_be_bytes());
        out.extend_from_slice(&(item.body.len() as i32).to_be_bytes());
        out.extend_from_slice(&item.body);
        out.extend_from_slice(&(properties_size as u16).to_be_bytes());
        out.extend_from_slice(item.properties.as_bytes());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn item(flag: i32, body: &[u8], properties: &str) -> BatchItem {
        BatchItem {
            flag,
            body: body.to_vec(),
            properties: properties.to_string(),
        }
    }

    fn encoded(items: &[BatchItem]) -> Vec<u8> {
        let mut out = Vec::new();
        assert_eq!(encode_batch(items, &mut out), Ok(()));
        out
    }

    #[test]
    fn java_layout() {
        let bytes = encoded(&[item(7, b"hi", "A\u{1}b")]);
        let expected: Vec<u8> = [
            &27i32.to_be_bytes()[..],
            &[0; 8],
            &7i32.to_be_bytes(),
            &2i32.to_be_bytes(),
            b"hi",
            &3i16.to_be_bytes(),
            b"A\x01b",
        ]
        .concat();
        assert_eq!(bytes, expected);
        let views = decode_batch_views(&bytes).unwrap();
        assert_eq!(views[0].properties, "A\u{1}b");
        assert_eq!(views[0].body, b"hi");
    }

    #[test]
    fn empty_body_is_no_items() {
        assert_eq!(decode_batch(&[]), Ok(vec![]));
    }

    #[test]
    fn magic_and_crc_are_ignored() {
        let mut bytes = encoded(&[item(1, b"x", "")]);
        bytes[4..12].copy_from_slice(&[0xAB; 8]);
        assert_eq!(decode_batch(&bytes), Ok(vec![item(1, b"x", "")]));
    }

    #[test]
    fn lying_sizes_are_rejected() {
        let good = encoded(&[item(1, b"body", "K\u{1}v"), item(2, b"", "")]);
        let first_size: i32 = 22 + 4 + 3;
        let mut total_negative = good.clone();
        total_negative[..4].copy_from_slice(&(-1i32).to_be_bytes());
        let mut total_small = good.clone();
        total_small[..4].copy_from_slice(&21i32.to_be_bytes());
        let mut total_short_of_fields = good.clone();
        total_short_of_fields[..4].copy_from_slice(&(first_size - 1).to_be_bytes());
        let mut total_past_fields = good.clone();
        total_past_fields[..4].copy_from_slice(&(first_size + 1).to_be_bytes());
        let mut total_past_end = good.clone();
        total_past_end[..4].copy_from_slice(&i32::MAX.to_be_bytes());
        let mut body_negative = good.clone();
        body_negative[16..20].copy_from_slice(&(-4i32).to_be_bytes());
        let mut properties_negative = good.clone();
        properties_negative[24..26].copy_from_slice(&(-3i16).to_be_bytes());
        let mut trailing = good.clone();
        trailing.extend_from_slice(&[0, 0, 0]);
        for (name, bytes) in [
            ("total -1", total_negative),
            ("total 21", total_small),
            ("total short of fields", total_short_of_fields),
            ("total past fields", total_past_fields),
            ("total past end", total_past_end),
            ("BODYLEN -4", body_negative),
            ("PROPLEN -3", properties_negative),
            ("trailing bytes", trailing),
        ] {
            let result = decode_batch(&bytes);
            assert!(
                matches!(
                    result,
                    Err(DecodeError::RecordSizeMismatch { .. }
                        | DecodeError::RecordTruncated { .. }
                        | DecodeError::HeaderFieldLengthInvalid { .. })
                ),
                "{name}: {result:?}"
            );
        }
        assert_eq!(decode_batch(&good).map(|items| items.len()), Ok(2));
    }

    #[test]
    fn oversized_properties_leave_out_untouched() {
        let mut out = vec![9];
        let items = [item(0, b"", "k\u{1}v"), item(0, b"", &"p".repeat(32_768))];
        let result = encode_batch(&items, &mut out);
        assert!(matches!(
            result,
            Err(DecodeError::FieldTooLong {
                name: "PROPERTIES",
                ..
            })
        ));
        assert_eq!(out, [9]);
    }

    fn arbitrary_item() -> impl Strategy<Value = BatchItem> {
        (
            any::<i32>(),
            proptest::collection::vec(any::<u8>(), 0..64),
            "\\PC{0,24}",
        )
            .prop_map(|(flag, body, properties)| BatchItem {
                flag,
                body,
                properties,
            })
    }

    proptest! {
        #[test]
        fn round_trip(items in proptest::collection::vec(arbitrary_item(), 0..6)) {
            let bytes = encoded(&items);
            prop_assert_eq!(decode_batch(&bytes), Ok(items));
        }

        #[test]
        fn every_prefix_is_an_error(items in proptest::collection::vec(arbitrary_item(), 1..4)) {
            let bytes = encoded(&items);
            for length in 1..bytes.len() {
                let prefix = decode_batch(&bytes[..length]);
                // A prefix ending exactly at an item boundary is a shorter valid batch.
                if let Ok(decoded) = prefix {
                    prop_assert!(decoded.len() < items.len());
                    prop_assert_eq!(&decoded[..], &items[..decoded.len()]);
                }
            }
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            // Whatever decodes must re-encode to the same size (only MAGIC and BODYCRC differ).
            if let Ok(items) = decode_batch(&bytes) {
                prop_assert_eq!(encoded(&items).len(), bytes.len());
            }
        }
    }
}
