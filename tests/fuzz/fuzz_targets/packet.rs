//! Frame headers and reply scanning over arbitrary backend bytes: never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use shardgate::protocol::packet::frame_header;
use shardgate::protocol::reply::{ReplyKind, ReplyScanner};

fuzz_target!(|data: &[u8]| {
    for (kind, eof) in [(ReplyKind::ResultSets, false), (ReplyKind::ResultSets, true), (ReplyKind::Prepare, true), (ReplyKind::RowsOnly, false)] {
        let mut scanner = ReplyScanner::new(kind, eof);
        let mut rest = data;
        while let Some((len, _seq)) = frame_header(rest) {
            let Some(payload) = rest.get(4..4 + len) else { break };
            if scanner.feed(payload).is_err() || scanner.is_done() {
                break;
            }
            rest = &rest[4 + len..];
        }
    }
});
