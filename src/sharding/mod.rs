//! Sharding: canonical keys, the algorithms that map them to nodes, key generators, and each schema's
//! layout of sharded, broadcast and default tables.

pub mod algorithm;
pub mod consistent_hash;
pub mod golden;
pub mod key;
pub mod keygen;
pub mod modulo;
pub mod range;
pub mod table;
