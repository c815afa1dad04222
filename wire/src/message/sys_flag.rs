//! The sysFlag word of a message (`MessageSysFlag.java`): compression, transaction type,
//! host address families. Producers set COMPRESSED (with the 4.9.4+ compression field) and
//! TRANSACTION_PREPARED; the broker sets the V6 bits per address family and rewrites the
//! transaction field. Stored sysFlags are kept untouched (gotcha 17).

pub const COMPRESSED: i32 = 0x1;
pub const MULTI_TAGS: i32 = 0x2;
/// The two transaction bits; see [`TransactionType`].
pub const TRANSACTION_MASK: i32 = 0xC;
pub const TRANSACTION_NOT: i32 = 0x0;
pub const TRANSACTION_PREPARED: i32 = 0x4;
pub const TRANSACTION_COMMIT: i32 = 0x8;
pub const TRANSACTION_ROLLBACK: i32 = 0xC;
/// BORNHOST holds a 16-byte IPv6 address.
pub const BORN_HOST_V6: i32 = 0x10;
/// STOREHOST holds a 16-byte IPv6 address.
pub const STORE_HOST_V6: i32 = 0x20;
/// 5.x auto-batch bits, carried untouched.
pub const NEED_UNWRAP: i32 = 0x40;
pub const INNER_BATCH: i32 = 0x80;
/// Bits 8-10: the compression algorithm of a COMPRESSED body (4.9.4+).
pub const COMPRESSION_TYPE_MASK: i32 = 0x700;

/// The transaction field of a sysFlag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransactionType {
    Not,
    Prepared,
    Commit,
    Rollback,
}

impl TransactionType {
    pub fn of(sys_flag: i32) -> Self {
        match sys_flag & TRANSACTION_MASK {
            TRANSACTION_PREPARED => TransactionType::Prepared,
            TRANSACTION_COMMIT => TransactionType::Commit,
            TRANSACTION_ROLLBACK => TransactionType::Rollback,
            _ => TransactionType::Not,
        }
    }

    pub fn bits(self) -> i32 {
        match self {
            TransactionType::Not => TRANSACTION_NOT,
            TransactionType::Prepared => TRANSACTION_PREPARED,
            TransactionType::Commit => TRANSACTION_COMMIT,
            TransactionType::Rollback => TRANSACTION_ROLLBACK,
        }
    }

    /// `sys_flag` with its transaction field replaced, as the broker rewrites it.
    pub fn apply(self, sys_flag: i32) -> i32 {
        (sys_flag & !TRANSACTION_MASK) | self.bits()
    }
}

/// The compression field of a sysFlag; a field of 0 is legacy and means zlib.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompressionType {
    Zlib,
    Lz4,
    Zstd,
}

impl CompressionType {
    /// `None` for field values 4..=7, which no client writes.
    pub fn of(sys_flag: i32) -> Option<Self> {
        match (sys_flag & COMPRESSION_TYPE_MASK) >> 8 {
            0 | 3 => Some(CompressionType::Zlib),
            1 => Some(CompressionType::Lz4),
            2 => Some(CompressionType::Zstd),
            _ => None,
        }
    }

    /// The field value 4.9.4+ Java writes (`0x300` for zlib).
    pub fn bits(self) -> i32 {
        match self {
            CompressionType::Lz4 => 0x100,
            CompressionType::Zstd => 0x200,
            CompressionType::Zlib => 0x300,
        }
    }
}

pub fn is_compressed(sys_flag: i32) -> bool {
    sys_flag & COMPRESSED != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transaction_field_round_trips_and_keeps_other_bits() {
        for kind in [
            TransactionType::Not,
            TransactionType::Prepared,
            TransactionType::Commit,
            TransactionType::Rollback,
        ] {
            let sys_flag = kind.apply(COMPRESSED | TRANSACTION_ROLLBACK | BORN_HOST_V6);
            assert_eq!(TransactionType::of(sys_flag), kind);
            assert_eq!(sys_flag & !TRANSACTION_MASK, COMPRESSED | BORN_HOST_V6);
        }
        assert_eq!(TransactionType::of(0x4), TransactionType::Prepared);
    }

    #[test]
    fn gotcha_compression_type_lives_in_bits_8_to_10() {
        // <= 4.9.3 Java and Go set only COMPRESSED: legacy means zlib.
        assert_eq!(CompressionType::of(COMPRESSED), Some(CompressionType::Zlib));
        assert_eq!(CompressionType::of(0x301), Some(CompressionType::Zlib));
        assert_eq!(CompressionType::of(0x101), Some(CompressionType::Lz4));
        assert_eq!(CompressionType::of(0x201), Some(CompressionType::Zstd));
        assert_eq!(CompressionType::of(0x401), None);
        assert_eq!(CompressionType::of(0x701), None);
        for kind in [
            CompressionType::Zlib,
            CompressionType::Lz4,
            CompressionType::Zstd,
        ] {
            assert_eq!(CompressionType::of(kind.bits() | COMPRESSED), Some(kind));
            assert_eq!(kind.bits() & !COMPRESSION_TYPE_MASK, 0);
        }
        assert!(is_compressed(0x301) && !is_compressed(0x300));
    }
}
