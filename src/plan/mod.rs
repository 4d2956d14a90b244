//! Planning: statement + rules → what the executor runs.

pub mod planner;

pub use planner::Plan;
