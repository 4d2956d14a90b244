//! The compressed protocol (CLIENT_COMPRESS): after the handshake, the stream of MySQL frames travels in
//! compressed packets — 3-byte compressed length, 1-byte compressed sequence id, 3-byte length before
//! compression (0: sent as is) and the zlib data. A compressed packet may hold several frames or part of
//! one; its sequence id counts separately from the frames' and restarts with each command.

use std::io::{self, Read, Write};

use bytes::{Buf, BytesMut};

/// Payloads shorter than this go uncompressed (MySQL's MIN_COMPRESS_LENGTH).
const MIN_COMPRESS: usize = 50;
/// The most bytes one compressed packet carries (before compression).
const MAX_CHUNK: usize = 0xFF_FFFF;

/// The state of one direction pair of a compressed connection.
#[derive(Debug, Default)]
pub struct Compressed {
    /// Bytes read from the socket, not yet decompressed.
    pub raw: BytesMut,
    /// The compressed sequence id the next packet written carries.
    seq: u8,
}

impl Compressed {
    /// Takes the first whole compressed packet out of `raw` and appends its frames' bytes to `out`;
    /// `Ok(false)` when `raw` does not hold a whole packet yet.
    pub fn decode_one(&mut self, out: &mut BytesMut, max: usize) -> io::Result<bool> {
        if self.raw.len() < 7 {
            return Ok(false);
        }
        let len = usize::from(self.raw[0]) | usize::from(self.raw[1]) << 8 | usize::from(self.raw[2]) << 16;
        let seq = self.raw[3];
        let plain = usize::from(self.raw[4]) | usize::from(self.raw[5]) << 8 | usize::from(self.raw[6]) << 16;
        if plain > max || len > max {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "compressed packet bigger than max_allowed_packet"));
        }
        if self.raw.len() < 7 + len {
            self.raw.reserve(7 + len - self.raw.len());
            return Ok(false);
        }
        self.raw.advance(7);
        let body = self.raw.split_to(len);
        if plain == 0 {
            out.extend_from_slice(&body);
        } else {
            let start = out.len();
            out.reserve(plain);
            let mut inflated = Vec::with_capacity(plain);
            flate2::read::ZlibDecoder::new(&body[..]).take(plain as u64 + 1).read_to_end(&mut inflated)?;
            if inflated.len() != plain {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "compressed packet does not inflate to its stated length"));
            }
            out.extend_from_slice(&inflated);
            debug_assert_eq!(out.len() - start, plain);
        }
        // The reply to what was just read continues its sequence.
        self.seq = seq.wrapping_add(1);
        Ok(true)
    }

    /// `frames` (whole MySQL frames or a part of them) as compressed packets, appended to `out`.
    pub fn encode(&mut self, frames: &[u8], out: &mut Vec<u8>) {
        for chunk in frames.chunks(MAX_CHUNK) {
            let packed = (chunk.len() >= MIN_COMPRESS).then(|| {
                let mut z = flate2::write::ZlibEncoder::new(Vec::with_capacity(chunk.len() / 2), flate2::Compression::fast());
                z.write_all(chunk).and_then(|_| z.finish()).ok()
            });
            // Sent as is when compression does not make it smaller, as MySQL does.
            let (body, plain) = match packed.flatten() {
                Some(z) if z.len() < chunk.len() => (z, chunk.len()),
                _ => (chunk.to_vec(), 0),
            };
            out.extend_from_slice(&(body.len() as u32).to_le_bytes()[..3]);
            out.push(self.seq);
            out.extend_from_slice(&(plain as u32).to_le_bytes()[..3]);
            out.extend_from_slice(&body);
            self.seq = self.seq.wrapping_add(1);
        }
    }

    /// A new command starts (the proxy as a client sends with sequence id 0).
    pub fn restart(&mut self) {
        self.seq = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_small_large_and_split_data() {
        for size in [0usize, 10, 49, 50, 4096, (1 << 24) + 100] {
            let data: Vec<u8> = (0..size).map(|i| (i % 7) as u8).collect();
            let mut writer = Compressed::default();
            let mut wire = Vec::new();
            writer.encode(&data, &mut wire);
            let mut reader = Compressed::default();
            let mut out = BytesMut::new();
            // Fed a byte range at a time, as a socket would deliver it.
            for piece in wire.chunks(7000) {
                reader.raw.extend_from_slice(piece);
                while reader.decode_one(&mut out, 1 << 30).unwrap() {}
            }
            assert_eq!(&out[..], &data[..], "{size} bytes");
            assert!(reader.raw.is_empty());
            assert_eq!(reader.seq, writer.seq, "the reader answers with the next sequence id");
        }
    }

    #[test]
    fn short_payloads_travel_uncompressed() {
        let mut w = Compressed::default();
        let mut wire = Vec::new();
        w.encode(b"\x05\x00\x00\x00\x03ping", &mut wire);
        assert_eq!(&wire[4..7], &[0, 0, 0], "length before compression 0: not compressed");
        assert_eq!(&wire[7..], b"\x05\x00\x00\x00\x03ping");
    }

    #[test]
    fn lies_and_bombs_are_refused() {
        let mut r = Compressed::default();
        r.raw.extend_from_slice(&[3, 0, 0, 0, 0xFF, 0xFF, 0xFF, 1, 2, 3]);
        assert!(r.decode_one(&mut BytesMut::new(), 1 << 20).is_err(), "over the limit");
        let mut w = Compressed::default();
        let mut wire = Vec::new();
        w.encode(&[0u8; 1000], &mut wire);
        wire[4] = 10; // claims 10 bytes, inflates to 1000
        let mut r = Compressed::default();
        r.raw.extend_from_slice(&wire);
        assert!(r.decode_one(&mut BytesMut::new(), 1 << 20).is_err());
    }
}
