//! `ClientError`: every way a client call fails. Broker and namesrv refusals keep their
//! response code and remark, so callers (and the producer's retry rule) can tell them apart.

use std::fmt;
use std::io;
use std::net::SocketAddr;

use wire::ResponseCode;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientError {
    /// The connection could not be made or was lost before the answer.
    Connection { addr: SocketAddr, reason: String },
    /// No answer within the request's timeout.
    Timeout { addr: SocketAddr, timeout_ms: u64 },
    /// The server answered with an error code.
    Server { code: ResponseCode, remark: String },
    /// An answer that does not decode.
    Decode(String),
    /// No namesrv knows the topic (or no namesrv answered).
    NoRoute { topic: String },
    /// Bad input from the caller (empty topic, oversized body, ...).
    Invalid(String),
    /// A local I/O failure (starting the reactor thread, for instance).
    Io(String),
    /// The client was shut down.
    Shutdown,
}

impl ClientError {
    pub fn server(code: ResponseCode, remark: Option<&str>) -> ClientError {
        ClientError::Server {
            code,
            remark: remark.unwrap_or("").to_string(),
        }
    }

    /// The server's response code, when the server answered.
    pub fn code(&self) -> Option<ResponseCode> {
        match self {
            ClientError::Server { code, .. } => Some(*code),
            _ => None,
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Connection { addr, reason } => write!(f, "connection to {addr}: {reason}"),
            ClientError::Timeout { addr, timeout_ms } => {
                write!(f, "no answer from {addr} within {timeout_ms} ms")
            }
            ClientError::Server { code, remark } => {
                write!(f, "server answered {code:?} ({}): {remark}", code.as_i32())
            }
            ClientError::Decode(reason) => write!(f, "undecodable answer: {reason}"),
            ClientError::NoRoute { topic } => write!(f, "no route for topic {topic}"),
            ClientError::Invalid(reason) => write!(f, "invalid request: {reason}"),
            ClientError::Io(reason) => write!(f, "I/O error: {reason}"),
            ClientError::Shutdown => f.write_str("client shut down"),
        }
    }
}

impl std::error::Error for ClientError {}

impl From<wire::DecodeError> for ClientError {
    fn from(error: wire::DecodeError) -> Self {
        ClientError::Decode(error.to_string())
    }
}

impl From<io::Error> for ClientError {
    fn from(error: io::Error) -> Self {
        ClientError::Io(error.to_string())
    }
}
