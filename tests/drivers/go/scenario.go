// Client-compatibility scenario for shardgate with github.com/go-sql-driver/mysql.
// Usage: go run scenario.go HOST PORT TABLE   (built in GOPATH mode by run.sh)
// Runs the scenario twice on TABLE: with server-side prepares (interpolateParams=false)
// and with client-side interpolation (interpolateParams=true).
// Prints "ok go-sql-driver/mysql <version>" and exits 0, or prints each difference and exits 1.
package main

import (
	"database/sql"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Set by run.sh from the installed Debian package (-ldflags -X main.driverVersion=...).
var driverVersion = "unknown"

var failures []string

func check(pass, what string, got, want interface{}) {
	if !reflect.DeepEqual(got, want) {
		failures = append(failures, fmt.Sprintf("[%s] %s: got %#v, want %#v", pass, what, got, want))
	}
}

// scenario runs every step; the first SQL error ends the pass and is reported with its statement.
func scenario(db *sql.DB, pass, T string) (err error) {
	var stmt string
	defer func() {
		if err != nil {
			if me, ok := err.(*mysql.MySQLError); ok {
				err = fmt.Errorf("error %d: %s [statement: %s]", me.Number, me.Message, stmt)
			} else {
				err = fmt.Errorf("%v [statement: %s]", err, stmt)
			}
		}
	}()
	expect := func(what string, got, want interface{}) {
		if err == nil {
			check(pass, what, got, want)
		}
	}
	exec := func(q string, args ...interface{}) int64 {
		if err != nil {
			return -1
		}
		stmt = q
		var res sql.Result
		if res, err = db.Exec(q, args...); err != nil {
			return -1
		}
		n, e := res.RowsAffected()
		if e != nil {
			err = e
		}
		return n
	}
	// strings runs a query and returns its rows, each column scanned as a string
	// (DECIMAL compared as text; DATETIME rendered via time.Time from parseTime=true).
	rows := func(q string, args ...interface{}) [][]string {
		if err != nil {
			return nil
		}
		stmt = q
		var rs *sql.Rows
		if rs, err = db.Query(q, args...); err != nil {
			return nil
		}
		defer rs.Close()
		cols, _ := rs.Columns()
		out := [][]string{}
		for rs.Next() {
			vals := make([]interface{}, len(cols))
			for i := range vals {
				vals[i] = new(interface{})
			}
			if err = rs.Scan(vals...); err != nil {
				return nil
			}
			row := make([]string, len(cols))
			for i, v := range vals {
				switch x := (*v.(*interface{})).(type) {
				case []byte:
					row[i] = string(x)
				case time.Time:
					row[i] = x.Format("2006-01-02 15:04:05 MST")
				case nil:
					row[i] = "NULL"
				default:
					row[i] = fmt.Sprint(x)
				}
			}
			out = append(out, row)
		}
		err = rs.Err()
		return out
	}

	// 1. schema
	exec("DROP TABLE IF EXISTS " + T)
	exec("CREATE TABLE " + T + " (id BIGINT PRIMARY KEY, name VARCHAR(50) CHARACTER SET utf8mb4, " +
		"amount DECIMAL(10,2), created DATETIME)")
	// 2. ten rows, one parameterised INSERT each
	for i := int64(1); i <= 10; i++ {
		name := fmt.Sprintf("name-%d", i)
		if i == 7 {
			name = "Zoë ☃"
		}
		created := time.Date(2026, 11, 23, 10, 0, int(i), 0, time.UTC)
		n := exec("INSERT INTO "+T+" (id, name, amount, created) VALUES (?, ?, ?, ?)",
			i, name, fmt.Sprintf("%.2f", float64(i)*1.25), created)
		expect(fmt.Sprintf("insert id %d affected rows", i), n, int64(1))
	}
	// 3. point select with a parameter
	expect("select id=7", rows("SELECT name, amount FROM "+T+" WHERE id = ?", 7), [][]string{{"Zoë ☃", "8.75"}})
	// 4. aggregate over both shards
	expect("count/sum", rows("SELECT COUNT(*), SUM(amount) FROM "+T), [][]string{{"10", "68.75"}})
	// 5. merged ORDER BY ... LIMIT
	expect("top 3 by amount", rows("SELECT id FROM "+T+" ORDER BY amount DESC LIMIT 3"),
		[][]string{{"10"}, {"9"}, {"8"}})
	// 6. IN list across shards
	expect("id IN (2,3,4)", rows("SELECT id FROM "+T+" WHERE id IN (?, ?, ?) ORDER BY id", 2, 3, 4),
		[][]string{{"2"}, {"3"}, {"4"}})
	// 7. DML affected rows
	expect("update id=5 affected rows", exec("UPDATE "+T+" SET amount = amount + 1 WHERE id = ?", 5), int64(1))
	expect("delete id=6 affected rows", exec("DELETE FROM "+T+" WHERE id = ?", 6), int64(1))
	if err != nil {
		return err
	}
	// 8. cross-shard transactions (ids 1 and 2 live on different shards); a Tx pins one pooled connection.
	txn := func(commit bool, q string, a1, a2 interface{}) {
		var tx *sql.Tx
		stmt = "BEGIN"
		if tx, err = db.Begin(); err != nil {
			return
		}
		stmt = q
		if _, err = tx.Exec(q, a1, 1); err == nil {
			_, err = tx.Exec(q, a2, 2)
		}
		if err != nil {
			tx.Rollback()
			return
		}
		if commit {
			stmt = "COMMIT"
			err = tx.Commit()
		} else {
			stmt = "ROLLBACK"
			err = tx.Rollback()
		}
	}
	txn(false, "UPDATE "+T+" SET name = ? WHERE id = ?", "x", "y")
	expect("names after rollback", rows("SELECT id, name FROM "+T+" WHERE id IN (?, ?) ORDER BY id", 1, 2),
		[][]string{{"1", "name-1"}, {"2", "name-2"}})
	txn(true, "UPDATE "+T+" SET amount = ? WHERE id = ?", 100, 200)
	expect("amounts after commit", rows("SELECT id, amount FROM "+T+" WHERE id IN (?, ?) ORDER BY id", 1, 2),
		[][]string{{"1", "100.00"}, {"2", "200.00"}})
	// 9. final state: 68.75 + 1 (id 5) - 7.50 (id 6) - 1.25 - 2.50 + 100 + 200 = 358.50
	expect("final count/sum", rows("SELECT COUNT(*), SUM(amount) FROM "+T), [][]string{{"9", "358.50"}})
	expect("created id=3", rows("SELECT created FROM "+T+" WHERE id = ?", 3),
		[][]string{{"2026-11-23 10:00:03 UTC"}})
	// 10. cleanup
	exec("DROP TABLE " + T)
	return err
}

func main() {
	if len(os.Args) != 4 || !regexp.MustCompile(`^\w+$`).MatchString(os.Args[3]) {
		fmt.Println("usage: scenario HOST PORT TABLE")
		os.Exit(2)
	}
	host, port, table := os.Args[1], os.Args[2], os.Args[3]
	for _, interpolate := range []bool{false, true} {
		pass := fmt.Sprintf("interpolateParams=%v", interpolate)
		dsn := fmt.Sprintf("app:app@tcp(%s:%s)/demo?parseTime=true&charset=utf8mb4&timeout=10s&readTimeout=30s&writeTimeout=30s&interpolateParams=%v",
			host, port, interpolate)
		db, err := sql.Open("mysql", dsn)
		if err == nil {
			err = scenario(db, pass, table)
			db.Close()
		}
		if err != nil {
			failures = append(failures, fmt.Sprintf("[%s] %v", pass, err))
		}
	}
	if len(failures) > 0 {
		for _, f := range failures {
			fmt.Println("FAIL go-sql-driver/mysql " + f)
		}
		os.Exit(1)
	}
	fmt.Println("ok go-sql-driver/mysql " + driverVersion)
}
