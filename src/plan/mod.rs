//! Planning: statement + rules → what the executor runs.

pub mod cache;
pub mod insert;
pub mod load_data;
pub mod merge;
pub mod move_rows;
pub mod planner;
pub mod route;
pub mod template;

pub use planner::Plan;
