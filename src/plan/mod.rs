//! Planning: statement + rules → what the executor runs.

pub mod insert;
pub mod merge;
pub mod planner;
pub mod route;

pub use planner::Plan;
