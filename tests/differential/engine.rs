//! The differential corpus's queries that the shards cannot answer as they are (issue 25): derived tables,
//! IN / NOT IN / EXISTS / scalar / ALL / ANY subqueries (correlated or not), CTEs (recursive too), UNION,
//! INTERSECT, EXCEPT, aggregates inside expressions, DISTINCT aggregates, GROUP_CONCAT, BIT_* aggregates,
//! WITH ROLLUP, window functions and joins of tables that are not co-located. shardgate runs them on the
//! compute data source over copies of the sharded tables (src/plan/compute.rs); each must answer exactly as
//! the unsharded reference does. `true` marks queries whose ORDER BY is total (compared in order).
//! Floating-point aggregates whose result depends on the order rows are summed in (STD, VARIANCE over
//! DECIMAL) are left out: one server gives different last digits for different plans too.

use super::corpus::Names;

pub fn queries(n: &Names) -> Vec<(String, bool)> {
    let Names { p, o, i, c, u } = n;
    let list: Vec<(String, bool)> = vec![
        // Derived tables (ORM paginators count through one).
        (format!("SELECT COUNT(*) FROM (SELECT id FROM {p} WHERE qty > 10) d"), true),
        (format!("SELECT COUNT(*), SUM(n) FROM (SELECT customer_id, COUNT(*) AS n FROM {o} GROUP BY customer_id) d"), true),
        (format!("SELECT d.city, d.s FROM (SELECT city, SUM(amount) AS s FROM {p} GROUP BY city) d ORDER BY d.s DESC, d.city"), true),
        (format!("SELECT * FROM (SELECT id, name FROM {p} ORDER BY id DESC LIMIT 5) d ORDER BY id"), true),
        (format!("SELECT COUNT(*) AS cnt FROM (SELECT o.id FROM {o} o JOIN {p} p ON p.id = o.customer_id WHERE p.city = 'Paris') AS x"), true),
        (format!("SELECT COUNT(*) FROM (SELECT DISTINCT customer_id FROM {o}) d"), true),
        (format!("SELECT MAX(cnt), MIN(cnt) FROM (SELECT COUNT(*) AS cnt FROM {o} GROUP BY customer_id) d"), true),
        // Derived tables each shard answers for its own rows: merged like a table.
        (format!("SELECT d.c, COUNT(*) FROM (SELECT city AS c FROM {p} WHERE qty > 5) d GROUP BY d.c ORDER BY d.c"), true),
        (format!("SELECT * FROM (SELECT id, name FROM {p} WHERE id < 30) d ORDER BY id"), true),
        (format!("SELECT MAX(x), MIN(x), COUNT(x) FROM (SELECT amount * 2 AS x FROM {p}) d"), true),
        (format!("SELECT DISTINCT code FROM (SELECT code FROM {i} WHERE stock > 50) d"), false),
        (format!("SELECT * FROM (SELECT sku, label FROM {i} WHERE sku > 1000) AS d WHERE d.sku < 3000"), false),
        // Subqueries over sharded tables, correlated or not.
        (format!("SELECT id, name FROM {p} WHERE id IN (SELECT customer_id FROM {o} WHERE total > 4900) ORDER BY id"), true),
        (format!("SELECT COUNT(*) FROM {p} WHERE id NOT IN (SELECT customer_id FROM {o})"), true),
        (format!("SELECT id FROM {p} p WHERE EXISTS (SELECT 1 FROM {o} o WHERE o.customer_id = p.id AND o.note = 'c') ORDER BY id"), true),
        (format!("SELECT COUNT(*) FROM {p} p WHERE NOT EXISTS (SELECT 1 FROM {o} o WHERE o.customer_id = p.id)"), true),
        (format!("SELECT id, (SELECT COUNT(*) FROM {o} o WHERE o.customer_id = p.id) AS n FROM {p} p WHERE id <= 20 ORDER BY id"), true),
        (format!("SELECT sku FROM {i} WHERE price > ALL (SELECT total FROM {o} WHERE total IS NOT NULL) ORDER BY sku"), true),
        (format!("SELECT sku, price FROM {i} WHERE price > (SELECT AVG(total) FROM {o}) ORDER BY sku"), true),
        (format!("SELECT COUNT(*) FROM {i} WHERE code = ANY (SELECT code FROM {p} WHERE qty = 7)"), true),
        (format!("SELECT name FROM {p} WHERE amount = (SELECT MAX(amount) FROM {p})"), false),
        // A table without rules inside a statement over a sharded one.
        (format!("SELECT id FROM {p} WHERE code IN (SELECT code FROM {u} WHERE n > 5) ORDER BY id"), true),
        (format!("SELECT u.id, p.name FROM {u} u JOIN {p} p ON p.id = u.id ORDER BY u.id"), true),
        // CTEs.
        (format!("WITH big AS (SELECT customer_id, SUM(total) AS s FROM {o} GROUP BY customer_id) SELECT COUNT(*), MAX(s) FROM big"), true),
        (format!("WITH x AS (SELECT id, city FROM {p} WHERE qty > 40) SELECT x.id, o.total FROM x JOIN {o} o ON o.customer_id = x.id ORDER BY o.id"), true),
        (format!("WITH RECURSIVE seq (k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM seq WHERE k < 10) SELECT k, (SELECT COUNT(*) FROM {p} WHERE qty = k) AS n FROM seq ORDER BY k"), true),
        // Set operations.
        (format!("SELECT code FROM {p} UNION SELECT code FROM {i}"), false),
        (format!("SELECT city FROM {p} WHERE qty > 30 UNION ALL SELECT cname FROM {c}"), false),
        (format!("(SELECT id FROM {p} ORDER BY id LIMIT 3) UNION ALL (SELECT id FROM {o} ORDER BY id DESC LIMIT 3)"), false),
        (format!("SELECT code FROM {p} INTERSECT SELECT code FROM {i}"), false),
        (format!("SELECT code FROM {i} EXCEPT SELECT code FROM {c}"), false),
        (format!("SELECT id FROM {p} WHERE id < 50 UNION SELECT customer_id FROM {o} WHERE id < 50 ORDER BY 1"), true),
        // Aggregates inside expressions; HAVING with BETWEEN.
        (format!("SELECT SUM(amount) / COUNT(*), ROUND(AVG(qty), 2), MAX(amount) - MIN(amount), COUNT(*) * 2, COUNT(*) - COUNT(city) FROM {p}"), true),
        (format!("SELECT city, SUM(qty) / COUNT(*) AS r FROM {p} GROUP BY city ORDER BY city"), true),
        (format!("SELECT code, COUNT(*) FROM {p} GROUP BY code HAVING COUNT(*) BETWEEN 50 AND 300 ORDER BY code"), true),
        // DISTINCT aggregates, GROUP_CONCAT, BIT_*, ROLLUP.
        (format!("SELECT SUM(DISTINCT qty), AVG(DISTINCT qty), COUNT(DISTINCT city, code) FROM {p}"), true),
        (format!("SELECT SUM(DISTINCT qty) FROM {p} WHERE id IN (3, 30, 300, 1300)"), true),
        (format!("SELECT code, GROUP_CONCAT(id ORDER BY id SEPARATOR ',') FROM {p} WHERE id < 200 GROUP BY code ORDER BY code"), true),
        (format!("SELECT BIT_AND(qty), BIT_OR(qty), BIT_XOR(qty) FROM {p}"), true),
        (format!("SELECT code, city, COUNT(*) FROM {p} GROUP BY code, city WITH ROLLUP"), false),
        // Window functions.
        (format!("SELECT id, ROW_NUMBER() OVER (ORDER BY amount DESC, id) AS rn FROM {p} WHERE id < 100 ORDER BY id"), true),
        (format!("SELECT id, city, SUM(amount) OVER (PARTITION BY city ORDER BY id) AS running FROM {p} WHERE id < 300 ORDER BY id"), true),
        (format!("SELECT customer_id, id, RANK() OVER (PARTITION BY customer_id ORDER BY total DESC) AS r FROM {o} WHERE customer_id < 50 ORDER BY customer_id, id"), true),
        // Joins of tables that are not co-located.
        (format!("SELECT p.id, i.sku FROM {p} p JOIN {i} i ON i.sku = p.id ORDER BY p.id"), true),
        (format!("SELECT p.city, COUNT(*) FROM {p} p JOIN {o} o ON o.id = p.id GROUP BY p.city ORDER BY p.city"), true),
        (format!("SELECT COUNT(*) FROM {o} o LEFT JOIN {i} i ON i.sku = o.customer_id WHERE i.sku IS NULL"), true),
        (format!("SELECT c.code, COUNT(p.id) FROM {c} c LEFT JOIN {p} p ON p.code = c.code GROUP BY c.code ORDER BY c.code"), true),
        // A HAVING comparing text: the merge finds it inexact for the shards' column types and runs the fallback.
        (format!("SELECT code, MIN(name) FROM {p} GROUP BY code HAVING MIN(name) > 'b' ORDER BY code"), true),
        (format!("SELECT city, MAX(born) FROM {p} GROUP BY city HAVING MAX(born) > 20000101 ORDER BY city"), true),
        // Conditions the shards apply while copying (plan/pushdown.rs), one of them warning on every row.
        (format!("SELECT city, SUM(qty) / COUNT(*) FROM {p} WHERE qty > 20 AND city IS NOT NULL GROUP BY city ORDER BY city"), true),
        (format!("SELECT p.city, COUNT(*) FROM {p} p JOIN {i} i ON i.sku = p.id WHERE p.qty > 10 AND i.stock < 50 AND (i.code IN ('FR', 'DE') OR i.code IS NULL) GROUP BY p.city ORDER BY p.city"), true),
        (format!("SELECT SUM(DISTINCT qty) FROM {p} WHERE code = 5"), true),
        (format!("SELECT id FROM {p} WHERE name LIKE 'a%' AND id IN (SELECT customer_id FROM {o} o WHERE o.note = 'b' AND o.total BETWEEN 100 AND 900) ORDER BY id"), true),
    ];
    list
}
