//! The MySQL client/server protocol: framing, handshake, authentication, generic responses, result sets,
//! and following a backend's reply without decoding it.

pub mod auth;
pub mod caching_sha2;
pub mod codec;
pub mod collation;
pub mod compress;
pub mod constants;
pub mod handshake;
pub mod multi_result;
pub mod packet;
pub mod reply;
pub mod response;
pub mod resultset;
pub mod row_binary;
pub mod row_text;
pub mod transport;
