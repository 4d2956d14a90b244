//! Online resharding (issue 15). So far: the plan — which keys of which tables move from which node to
//! which when the rules change to new ones, how many rows and bytes that is, and what is refused — and the
//! binlog reader catch-up will use. The phases that move the rows (copy, catch-up, cut-over, verify,
//! clean-up) are not built yet.

pub mod plan;
pub mod estimate;
pub mod binlog;
pub mod copy;
pub mod catchup;
