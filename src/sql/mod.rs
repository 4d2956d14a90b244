//! Reading SQL text for the session and the planner: classifying a statement and reading its hints and
//! versioned comments (`lexer`), answering the session's questions about it (`reads`, `transaction`,
//! `affinity`, `sysvars`), the plan cache's key (`normalize`), rewriting names by span (`tokens`),
//! splitting multi-statements (`split`), LOAD DATA's clauses (`load_data`) and what sqlparser's tree
//! gives the planner (`analyze`). ARCHITECTURE.md, "The path of one statement".

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
