// Client-compatibility scenario for shardgate with node mysql2 (promise API).
// Usage: node mysql2.js HOST PORT TABLE MODE   (MODE: query | execute)
// Prints "ok mysql2 <version>" and exits 0, or prints each difference and exits 1.
'use strict';
const mysql = require('mysql2/promise');
const version = require('mysql2/package.json').version;

const [host, port, table, mode] = process.argv.slice(2);
if (!host || !port || !table || !['query', 'execute'].includes(mode)) {
  console.error('usage: node mysql2.js HOST PORT TABLE query|execute');
  process.exit(2);
}
if (!/^\w+$/.test(table)) throw new Error(`bad table name ${table}`);

const failures = [];
function check(what, got, want) {
  const g = JSON.stringify(got), w = JSON.stringify(want);
  if (g !== w) failures.push(`${what}: got ${g}, want ${w}`);
}

async function main() {
  const conn = await mysql.createConnection({
    host, port: Number(port), user: 'app', password: 'app', database: 'demo',
    charset: 'utf8mb4', dateStrings: true, supportBigNumbers: true, bigNumberStrings: true,
    connectTimeout: 10000,
  });
  // query: client-side ? interpolation (COM_QUERY); execute: COM_STMT_PREPARE/EXECUTE.
  const run = async (sql, params = []) => {
    const [res] = mode === 'execute' ? await conn.execute(sql, params) : await conn.query(sql, params);
    return res;
  };
  const rows = async (sql, params) => (await run(sql, params)).map((r) => Object.values(r));
  const T = table;
  try {
    // 1. schema
    await run(`DROP TABLE IF EXISTS ${T}`);
    await run(`CREATE TABLE ${T} (id BIGINT PRIMARY KEY, name VARCHAR(50) CHARACTER SET utf8mb4, ` +
      `amount DECIMAL(10,2), created DATETIME)`);
    // 2. ten rows, one parameterised INSERT each
    for (let i = 1; i <= 10; i++) {
      const res = await run(`INSERT INTO ${T} (id, name, amount, created) VALUES (?, ?, ?, ?)`,
        [i, i === 7 ? 'Zoë ☃' : `name-${i}`, (i * 1.25).toFixed(2), `2026-11-23 10:00:${String(i).padStart(2, '0')}`]);
      check(`insert id ${i} affectedRows`, res.affectedRows, 1);
    }
    // 3. point select with a parameter
    check('select id=7', await rows(`SELECT name, amount FROM ${T} WHERE id = ?`, [7]), [['Zoë ☃', '8.75']]);
    // 4. aggregate over both shards
    check('count/sum', await rows(`SELECT COUNT(*), SUM(amount) FROM ${T}`), [['10', '68.75']]);
    // 5. merged ORDER BY ... LIMIT
    check('top 3 by amount', await rows(`SELECT id FROM ${T} ORDER BY amount DESC LIMIT 3`), [['10'], ['9'], ['8']]);
    // 6. IN list across shards
    check('id IN (2,3,4)', await rows(`SELECT id FROM ${T} WHERE id IN (?, ?, ?) ORDER BY id`, [2, 3, 4]),
      [['2'], ['3'], ['4']]);
    // 7. DML affected rows
    check('update id=5 affectedRows', (await run(`UPDATE ${T} SET amount = amount + 1 WHERE id = ?`, [5])).affectedRows, 1);
    check('delete id=6 affectedRows', (await run(`DELETE FROM ${T} WHERE id = ?`, [6])).affectedRows, 1);
    // 8. cross-shard transactions (ids 1 and 2 live on different shards)
    await conn.beginTransaction();
    await run(`UPDATE ${T} SET name = ? WHERE id = ?`, ['x', 1]);
    await run(`UPDATE ${T} SET name = ? WHERE id = ?`, ['y', 2]);
    await conn.rollback();
    check('names after rollback', await rows(`SELECT id, name FROM ${T} WHERE id IN (?, ?) ORDER BY id`, [1, 2]),
      [['1', 'name-1'], ['2', 'name-2']]);
    await conn.beginTransaction();
    await run(`UPDATE ${T} SET amount = ? WHERE id = ?`, [100, 1]);
    await run(`UPDATE ${T} SET amount = ? WHERE id = ?`, [200, 2]);
    await conn.commit();
    check('amounts after commit', await rows(`SELECT id, amount FROM ${T} WHERE id IN (?, ?) ORDER BY id`, [1, 2]),
      [['1', '100.00'], ['2', '200.00']]);
    // 9. final state: 68.75 + 1 (id 5) - 7.50 (id 6) - 1.25 - 2.50 + 100 + 200 = 358.50
    check('final count/sum', await rows(`SELECT COUNT(*), SUM(amount) FROM ${T}`), [['9', '358.50']]);
    check('created id=3', await rows(`SELECT created FROM ${T} WHERE id = ?`, [3]), [['2026-11-23 10:00:03']]);
    // 10. cleanup
    await run(`DROP TABLE ${T}`);
  } catch (e) {
    failures.push(`error: ${e.code || ''} ${e.errno || ''} ${e.sqlState || ''} ${e.message}` +
      (e.sql ? ` [statement: ${e.sql}]` : ''));
  } finally {
    await conn.end().catch(() => conn.destroy());
  }
}

// A hang is a failure too.
setTimeout(() => { console.log(`FAIL mysql2 ${mode}: timed out after 60 s`); process.exit(1); }, 60000).unref();

main().then(() => {
  if (failures.length) {
    failures.forEach((f) => console.log(`FAIL mysql2 ${mode}: ${f}`));
    process.exit(1);
  }
  console.log(`ok mysql2 ${version}`);
}, (e) => {
  console.log(`FAIL mysql2 ${mode}: ${e.code || ''} ${e.message}`);
  process.exit(1);
});
