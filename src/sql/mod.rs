//! Reading SQL: classification now; analysis and rewriting for sharding come next.

pub mod affinity;
pub mod analyze;
pub mod lexer;
pub mod load_data;
pub mod normalize;
pub mod reads;
pub mod split;
pub mod sysvars;
pub mod tokens;
pub mod transaction;
