//! The plan cache: statements that differ only in the key values they route by share one template, found by
//! their normalised text, so the hot path skips sqlparser (ARCHITECTURE.md, Measurements: a hit costs ~0.1 µs, a parse 2–5 µs
//! and more). One cache per logical schema, shared by every session.
//!
//! A template is learnt from the first statement of a shape: it is planned as written; then its literals
//! become slots and the slotted text is planned again; the template is kept only if, bound to the first
//! statement's values, it gives exactly the first plan. Every literal is a slot when the proxy only routes
//! the statement (the other literals are copied into each node's text); when it merges rows, only the
//! literals of key conditions are, and every other one (a LIMIT, a HAVING bound) must match verbatim.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::sharding::key::Literal;
use crate::sharding::table::SchemaLayout;
use crate::sql::normalize::{literal_value, normalize, Normalized};

use super::planner::Plan;
use super::route::build;
use super::template::Template;

/// Normalised texts kept before the cache starts over.
const CAPACITY: usize = 4096;
/// Entries (different verbatim literals) kept per normalised text.
const VARIANTS: usize = 8;

/// One learnt template.
#[derive(Debug)]
struct Entry {
    /// (literal number, text) of the literals that must match verbatim.
    fixed: Vec<(usize, Box<str>)>,
    /// Literal numbers that fill the template's slots, in order, and whether the key reads its value.
    slots: Vec<(usize, bool)>,
    template: Template,
}

/// Each schema's plan cache, by schema name; built with the layouts and replaced with them by a reload.
pub type PlanCaches = HashMap<String, PlanCache>;

/// Templates by normalised text.
#[derive(Debug, Default)]
pub struct PlanCache {
    map: RwLock<HashMap<String, Vec<Arc<Entry>>>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl PlanCache {
    /// Plans `sql` (a text-protocol statement in `layout`'s schema; `forced` is its shard-key hint) from a
    /// cached template when one fits, learning one otherwise.
    pub fn plan(&self, sql: &str, layout: &SchemaLayout, forced: Option<&Literal>) -> Plan {
        let Some(norm) = normalize(sql) else { return build(sql, layout, forced, &[], false).bind(&[], &[]) };
        if let Some(plan) = self.lookup(sql, &norm) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return plan;
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let (plan, entry) = learn(sql, &norm, layout, forced);
        if let Some(entry) = entry {
            let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
            if map.len() >= CAPACITY && !map.contains_key(&norm.key) {
                map.clear();
            }
            let variants = map.entry(norm.key).or_default();
            if variants.len() < VARIANTS {
                variants.push(Arc::new(entry));
            }
        }
        plan
    }

    /// (hits, misses) so far.
    pub fn counts(&self) -> (u64, u64) {
        (self.hits.load(Ordering::Relaxed), self.misses.load(Ordering::Relaxed))
    }

    fn lookup(&self, sql: &str, norm: &Normalized) -> Option<Plan> {
        let text = |i: usize| &sql[norm.literals[i].clone()];
        let entry = {
            let map = self.map.read().unwrap_or_else(|e| e.into_inner());
            let variants = map.get(&norm.key)?;
            variants.iter().find(|e| e.fixed.iter().all(|(i, t)| text(*i) == &**t))?.clone()
        };
        let texts: Vec<&str> = entry.slots.iter().map(|&(i, _)| text(i)).collect();
        // A key string with escapes: its value is the parser's business (the statement is planned in full).
        let values = values(&entry.slots, &texts)?;
        Some(entry.template.bind(&values, &texts))
    }
}

/// The values of the slots the key reads (the others are only copied: `Literal::Other`).
fn values(slots: &[(usize, bool)], texts: &[&str]) -> Option<Vec<Literal>> {
    slots.iter().zip(texts).map(|(&(_, keyed), t)| if keyed { literal_value(t) } else { Some(Literal::Other) }).collect()
}

/// Plans `sql` in full and, when it fits a template, returns the cache entry for its shape.
fn learn(sql: &str, norm: &Normalized, layout: &SchemaLayout, forced: Option<&Literal>) -> (Plan, Option<Entry>) {
    let first = build(sql, layout, forced, &[], false);
    let plan = first.bind(&[], &[]);
    if !first.reusable() {
        return (plan, None);
    }
    let literals = &norm.literals;
    let (keyed, routes_only): (Vec<usize>, bool) = match &first {
        Template::Routed(r) => ((0..literals.len()).filter(|&i| r.literal_starts.contains(&literals[i].start)).collect(), r.merge.is_none()),
        _ => (Vec::new(), false),
    };
    let mut attempts = vec![keyed.clone()];
    if routes_only && keyed.len() < literals.len() {
        attempts.insert(0, (0..literals.len()).collect());
    }
    for slotted_literals in attempts {
        let template = if slotted_literals.is_empty() {
            first.clone()
        } else {
            let mut slotted = String::with_capacity(sql.len());
            let mut at = 0;
            for &i in &slotted_literals {
                slotted.push_str(&sql[at..literals[i].start]);
                slotted.push('?');
                at = literals[i].end;
            }
            slotted.push_str(&sql[at..]);
            build(&slotted, layout, forced, &[], true)
        };
        // Which slots the template's key reads: by slot number in the slotted text.
        let mut read = Vec::new();
        if let Template::Routed(r) = &template {
            r.key.for_each_term(&mut |t| {
                if let crate::sql::analyze::Term::Slot { index, .. } = t {
                    read.push(*index);
                }
            });
        }
        let slots: Vec<(usize, bool)> = slotted_literals.iter().enumerate().map(|(n, &i)| (i, read.contains(&n))).collect();
        let texts: Vec<&str> = slots.iter().map(|&(i, _)| &sql[literals[i].clone()]).collect();
        let Some(values) = values(&slots, &texts) else { continue };
        // The template must give this very statement the plan it was just given, or it is not kept.
        if template.reusable() && format!("{:?}", template.bind(&values, &texts)) == format!("{plan:?}") {
            let fixed = (0..literals.len()).filter(|i| !slotted_literals.contains(i)).map(|i| (i, sql[literals[i].clone()].into())).collect();
            return (plan, Some(Entry { fixed, slots, template }));
        }
    }
    (plan, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::route::route;

    fn layout() -> SchemaLayout {
        crate::plan::test_layouts(
            "[schemas.s]\ndata_source = \"ds_0\"\n\
             [schemas.s.tables.t]\nsharding_column = \"id\"\nactual_nodes = \"ds_${0..1}.t_${0..1}\"\n\
             [schemas.s.tables.r]\nsharding_column = \"k\"\nalgorithm = \"range\"\nboundaries = [100, 200, 300]\nactual_nodes = \"ds_${0..1}.r_${0..1}\"\n",
        )
        .remove("s")
        .expect("schema s")
    }

    /// Statements of one shape with different values: the cached plan (a miss, then hits) must be exactly
    /// the uncached one for every statement.
    #[test]
    fn cached_plans_equal_full_plans() {
        let plans = PlanCache::default();
        let layout = layout();
        let shapes = [
            "SELECT c FROM t WHERE id = {a}",
            "SELECT c FROM t WHERE id IN ({a}, {b}) ORDER BY c",
            "SELECT c FROM t WHERE id BETWEEN {a} AND {b} ORDER BY c LIMIT 5",
            "SELECT SUM(k) FROM t WHERE id BETWEEN {a} AND {b}",
            "SELECT DISTINCT c FROM t WHERE id >= {a} AND id <= {b} ORDER BY c",
            "SELECT c FROM t WHERE id = {a} OR id = {b}",
            "SELECT c, 'x{a}' FROM t WHERE c = 'v' AND id = -{a}",
            "UPDATE t SET k = k + 1 WHERE id = {a}",
            "DELETE FROM t WHERE id IN ({a}, {b})",
            "SELECT * FROM r WHERE k < {a}",
            "SELECT * FROM r WHERE k BETWEEN {a} AND {b} ORDER BY k DESC LIMIT 2, 3",
            "SELECT * FROM t WHERE id = '{a}'",
            "SELECT * FROM t WHERE id = 'it''s {a}'",
            "SELECT * FROM t /* shard_key={a} */ WHERE c = 1",
            "SELECT * FROM t WHERE id = {a} FOR UPDATE",
            "SELECT c FROM t WHERE id IN ({a}, {b}) UNION SELECT c FROM t WHERE id = 1",
            "UPDATE t SET id = {a} WHERE id = {b}",
            "UPDATE t SET c = 'v{b}', pad = 'it\\'s {a}' WHERE id = {a}",
            "SELECT c FROM t WHERE id = {a} LIMIT {b}",
            "SELECT CAST(c AS DECIMAL(10, {b})) FROM t WHERE id = {a}",
        ];
        let values = [(1, 2), (7, 7), (150, 250), (-3, 90000), (250, 120), (1, 1)];
        for shape in shapes {
            for (a, b) in values {
                let sql = shape.replace("{a}", &a.to_string()).replace("{b}", &b.to_string());
                let forced = crate::sql::lexer::hint(&sql).and_then(|h| h.ok()).and_then(|h| h.shard_key).map(crate::plan::planner::forced_key);
                let expected = format!("{:?}", route(&sql, &layout, forced.as_ref(), &[]));
                assert_eq!(format!("{:?}", plans.plan(&sql, &layout, forced.as_ref())), expected, "{sql}");
            }
        }
        let (hits, misses) = plans.counts();
        // Per shape: a miss for the first statement and for the first negative value (`-?` is another shape);
        // verbatim literals (hints, escaped key strings, refusals, a LIMIT the proxy may have to merge,
        // `DECIMAL(10, ?)` which does not parse) miss unless repeated exactly.
        assert_eq!((hits, misses), (58, 62), "hits and misses");
    }

    #[test]
    fn verbatim_literals_are_part_of_the_entry() {
        let plans = PlanCache::default();
        let layout = layout();
        let a = plans.plan("SELECT c FROM t WHERE id BETWEEN 1 AND 500 ORDER BY c LIMIT 5", &layout, None);
        let b = plans.plan("SELECT c FROM t WHERE id BETWEEN 1 AND 500 ORDER BY c LIMIT 7", &layout, None);
        let limit = |p: &Plan| match p {
            Plan::Merge { spec, .. } => spec.limit,
            other => panic!("a merge: {other:?}"),
        };
        assert_eq!((limit(&a), limit(&b)), (Some(5), Some(7)));
        let c = plans.plan("SELECT c FROM t WHERE id BETWEEN 3 AND 900 ORDER BY c LIMIT 7", &layout, None);
        assert_eq!(limit(&c), Some(7));
        assert_eq!(plans.counts(), (1, 2), "the LIMIT 7 shape was learnt once and then hit");
    }
}
