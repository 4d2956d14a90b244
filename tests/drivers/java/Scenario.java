// JDBC (MariaDB Connector/J) client-compatibility scenario for shardgate.
//
// Usage: java -cp <connector-j jar>:<build dir> Scenario HOST PORT TABLE PS
//   PS = false: client-side prepared statements (text protocol)
//   PS = true : useServerPrepStmts=true (binary protocol, COM_STMT_PREPARE/EXECUTE)
//
// TABLE must be configured as a sharded table (split by `id`), so that ids 1 and 2
// live on different shards and step 8 is a cross-shard transaction.
//
// Prints "ok jdbc <driver version> ps=<PS>" and exits 0 when every check passes;
// otherwise prints one "FAIL ..." line per difference and exits 1.

import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.TreeMap;

public class Scenario {
    private final List<String> failures = new ArrayList<>();
    private final String url;
    private final String table;
    private final String ps;

    /** Expected contents of the table, id -> {name, amount}; updated as the scenario changes it. */
    private final TreeMap<Long, Object[]> model = new TreeMap<>();

    private Scenario(String url, String table, String ps) {
        this.url = url;
        this.table = table;
        this.ps = ps;
    }

    public static void main(String[] args) {
        if (args.length != 4) {
            System.out.println("usage: Scenario HOST PORT TABLE PS(true|false)");
            System.exit(2);
        }
        String host = args[0], port = args[1], table = args[2], ps = args[3];
        if (!table.matches("[A-Za-z_][A-Za-z0-9_]*")) {
            System.out.println("bad table name: " + table);
            System.exit(2);
        }
        if (!ps.equals("true") && !ps.equals("false")) {
            System.out.println("PS must be true or false, got: " + ps);
            System.exit(2);
        }
        // connectTimeout/socketTimeout turn a proxy hang into an error instead of a stuck test.
        String url = "jdbc:mariadb://" + host + ":" + port + "/demo?user=app&password=app"
                + "&useServerPrepStmts=" + ps + "&connectTimeout=10000&socketTimeout=30000";
        Scenario s = new Scenario(url, table, ps);
        String driverVersion = s.run();
        if (s.failures.isEmpty()) {
            System.out.println("ok jdbc " + driverVersion + " ps=" + ps);
            System.exit(0);
        }
        for (String f : s.failures) {
            System.out.println("FAIL " + f);
        }
        System.out.println("jdbc " + driverVersion + " ps=" + ps + ": " + s.failures.size() + " check(s) failed");
        System.exit(1);
    }

    // ---------------------------------------------------------------- helpers

    private void fail(String what) {
        failures.add(what);
    }

    private void check(String what, Object expected, Object actual) {
        if (!Objects.equals(expected, actual)) {
            fail(what + ": expected " + show(expected) + ", got " + show(actual));
        }
    }

    private static String show(Object o) {
        if (o == null) return "NULL";
        if (o instanceof BigDecimal) return "BigDecimal(" + ((BigDecimal) o).toPlainString() + ")";
        if (o instanceof String) return "\"" + o + "\"";
        return o + " (" + o.getClass().getSimpleName() + ")";
    }

    private static String describe(Throwable t) {
        if (t instanceof SQLException) {
            SQLException e = (SQLException) t;
            return "SQLException errno=" + e.getErrorCode() + " sqlstate=" + e.getSQLState() + " message=" + e.getMessage();
        }
        return t.toString();
    }

    interface Step {
        void run() throws Exception;
    }

    /** Runs one step; an exception is recorded as a failure (with the statement) and the scenario continues. */
    private void step(String name, Step body) {
        try {
            body.run();
        } catch (Throwable t) {
            fail(name + ": " + describe(t));
        }
    }

    private static BigDecimal amountOf(long i) {
        // i * 1.25, as the DECIMAL(10,2) column stores it (scale 2).
        return new BigDecimal("1.25").multiply(BigDecimal.valueOf(i)).setScale(2);
    }

    private static Timestamp createdOf(long i) {
        return Timestamp.valueOf(LocalDateTime.of(2026, 11, 23, 10, 0, (int) i));
    }

    private BigDecimal modelSum() {
        BigDecimal s = new BigDecimal("0.00");
        for (Object[] row : model.values()) s = s.add((BigDecimal) row[1]);
        return s;
    }

    private static List<Long> ids(ResultSet rs) throws SQLException {
        List<Long> out = new ArrayList<>();
        while (rs.next()) out.add(rs.getLong(1));
        return out;
    }

    private void checkCountSum(Connection c, String what) throws SQLException {
        String sql = "SELECT COUNT(*), SUM(amount) FROM " + table;
        try (PreparedStatement st = c.prepareStatement(sql); ResultSet rs = st.executeQuery()) {
            if (!rs.next()) {
                fail(what + " " + sql + ": no row");
                return;
            }
            Object cnt = rs.getObject(1);
            Object sum = rs.getObject(2);
            check(what + " " + sql + " COUNT(*) type", Long.class, cnt == null ? null : cnt.getClass());
            check(what + " " + sql + " COUNT(*)", (long) model.size(), rs.getLong(1));
            check(what + " " + sql + " SUM(amount)", modelSum(), sum);
            if (rs.next()) fail(what + " " + sql + ": more than one row");
        }
    }

    private void checkAmounts(Connection c, String what) throws SQLException {
        String sql = "SELECT id, name, amount FROM " + table + " WHERE id IN (?, ?) ORDER BY id";
        try (PreparedStatement st = c.prepareStatement(sql)) {
            st.setLong(1, 1);
            st.setLong(2, 2);
            try (ResultSet rs = st.executeQuery()) {
                List<String> got = new ArrayList<>();
                while (rs.next()) {
                    got.add(rs.getLong(1) + "|" + rs.getString(2) + "|" + rs.getBigDecimal(3).toPlainString());
                }
                List<String> want = new ArrayList<>();
                for (long id = 1; id <= 2; id++) {
                    Object[] row = model.get(id);
                    want.add(id + "|" + row[0] + "|" + ((BigDecimal) row[1]).toPlainString());
                }
                check(what + " " + sql + " [1,2]", want, got);
            }
        }
    }

    // ---------------------------------------------------------------- scenario

    private String run() {
        String driverVersion = "?";
        try (Connection conn = DriverManager.getConnection(url)) {
            DatabaseMetaData md = conn.getMetaData();
            driverVersion = md.getDriverVersion();
            scenario(conn);
        } catch (Throwable t) {
            fail("connect/close " + url + ": " + describe(t));
        }
        return driverVersion;
    }

    private void scenario(Connection conn) {
        final String T = table;

        // 1. DDL
        step("1 DROP/CREATE", () -> {
            try (Statement st = conn.createStatement()) {
                st.execute("DROP TABLE IF EXISTS " + T);
                st.execute("CREATE TABLE " + T + " (id BIGINT PRIMARY KEY, name VARCHAR(50) CHARACTER SET utf8mb4,"
                        + " amount DECIMAL(10,2), created DATETIME)");
            }
        });

        // 2. ten single-row inserts through one prepared statement
        step("2 INSERT", () -> {
            String sql = "INSERT INTO " + T + " (id, name, amount, created) VALUES (?, ?, ?, ?)";
            try (PreparedStatement st = conn.prepareStatement(sql)) {
                for (long i = 1; i <= 10; i++) {
                    String name = i == 7 ? "Zoë ☃" : "name-" + i;
                    st.setLong(1, i);
                    st.setString(2, name);
                    st.setBigDecimal(3, amountOf(i));
                    st.setTimestamp(4, createdOf(i));
                    check("2 " + sql + " id=" + i + " update count", 1, st.executeUpdate());
                    model.put(i, new Object[] {name, amountOf(i)});
                }
            }
        });

        // 3. point select of the non-ASCII row
        step("3 SELECT by id", () -> {
            String sql = "SELECT name, amount FROM " + T + " WHERE id = ?";
            try (PreparedStatement st = conn.prepareStatement(sql)) {
                st.setLong(1, 7);
                try (ResultSet rs = st.executeQuery()) {
                    if (!rs.next()) {
                        fail("3 " + sql + " [7]: no row");
                        return;
                    }
                    check("3 " + sql + " [7] name", "Zoë ☃", rs.getString(1));
                    check("3 " + sql + " [7] amount", new BigDecimal("8.75"), rs.getBigDecimal(2));
                    if (rs.next()) fail("3 " + sql + " [7]: more than one row");
                }
            }
        });

        // 4. aggregates merged across shards
        step("4 COUNT/SUM", () -> {
            checkCountSum(conn, "4");
            check("4 model sum sanity", new BigDecimal("68.75"), modelSum());
        });

        // 5. cross-shard ORDER BY + LIMIT
        step("5 ORDER BY LIMIT", () -> {
            String sql = "SELECT id FROM " + T + " ORDER BY amount DESC LIMIT 3";
            try (PreparedStatement st = conn.prepareStatement(sql); ResultSet rs = st.executeQuery()) {
                check("5 " + sql, Arrays.asList(10L, 9L, 8L), ids(rs));
            }
        });

        // 6. IN list with parameters spanning shards
        step("6 IN", () -> {
            String sql = "SELECT id FROM " + T + " WHERE id IN (?, ?, ?) ORDER BY id";
            try (PreparedStatement st = conn.prepareStatement(sql)) {
                st.setLong(1, 2);
                st.setLong(2, 3);
                st.setLong(3, 4);
                try (ResultSet rs = st.executeQuery()) {
                    check("6 " + sql + " [2,3,4]", Arrays.asList(2L, 3L, 4L), ids(rs));
                }
            }
        });

        // 7. UPDATE / DELETE by id
        step("7 UPDATE", () -> {
            String sql = "UPDATE " + T + " SET amount = amount + 1 WHERE id = ?";
            try (PreparedStatement st = conn.prepareStatement(sql)) {
                st.setLong(1, 5);
                check("7 " + sql + " [5] update count", 1, st.executeUpdate());
                Object[] row = model.get(5L);
                row[1] = ((BigDecimal) row[1]).add(BigDecimal.ONE);
            }
        });
        step("7 DELETE", () -> {
            String sql = "DELETE FROM " + T + " WHERE id = ?";
            try (PreparedStatement st = conn.prepareStatement(sql)) {
                st.setLong(1, 6);
                check("7 " + sql + " [6] update count", 1, st.executeUpdate());
                model.remove(6L);
            }
        });

        // 8. cross-shard transaction: rollback, then commit
        step("8 rollback", () -> {
            conn.setAutoCommit(false);
            String sql = "UPDATE " + T + " SET name = ? WHERE id = ?";
            try (PreparedStatement st = conn.prepareStatement(sql)) {
                st.setString(1, "x");
                st.setLong(2, 1);
                check("8 " + sql + " ['x',1] update count", 1, st.executeUpdate());
                st.setString(1, "y");
                st.setLong(2, 2);
                check("8 " + sql + " ['y',2] update count", 1, st.executeUpdate());
            }
            conn.rollback();
            checkAmounts(conn, "8 after rollback (same connection)");
        });
        step("8 commit", () -> {
            conn.setAutoCommit(false);
            String sql = "UPDATE " + T + " SET amount = ? WHERE id = ?";
            try (PreparedStatement st = conn.prepareStatement(sql)) {
                st.setBigDecimal(1, new BigDecimal("100"));
                st.setLong(2, 1);
                check("8 " + sql + " [100,1] update count", 1, st.executeUpdate());
                st.setBigDecimal(1, new BigDecimal("200"));
                st.setLong(2, 2);
                check("8 " + sql + " [200,2] update count", 1, st.executeUpdate());
            }
            conn.commit();
            model.get(1L)[1] = new BigDecimal("100.00");
            model.get(2L)[1] = new BigDecimal("200.00");
            checkAmounts(conn, "8 after commit (same connection)");
            // A second connection must see the committed values on both shards.
            try (Connection other = DriverManager.getConnection(url)) {
                checkAmounts(other, "8 after commit (second connection)");
            }
        });
        step("8 setAutoCommit(true)", () -> {
            conn.setAutoCommit(true);
            check("8 getAutoCommit", true, conn.getAutoCommit());
        });

        // 9. final aggregates and DATETIME round trip
        step("9 COUNT/SUM", () -> {
            checkCountSum(conn, "9");
            check("9 model sum sanity", new BigDecimal("358.50"), modelSum());
        });
        step("9 created", () -> {
            String sql = "SELECT created FROM " + T + " WHERE id = ?";
            try (PreparedStatement st = conn.prepareStatement(sql)) {
                st.setLong(1, 3);
                try (ResultSet rs = st.executeQuery()) {
                    if (!rs.next()) {
                        fail("9 " + sql + " [3]: no row");
                        return;
                    }
                    check("9 " + sql + " [3] getTimestamp", createdOf(3), rs.getTimestamp(1));
                    // (Connector/J 2.7's getString on DATETIME renders Timestamp.toString(), "...:03.0",
                    // also against MariaDB directly, so compare typed values and the column type.)
                    check("9 " + sql + " [3] getObject(LocalDateTime)", LocalDateTime.of(2026, 11, 23, 10, 0, 3),
                            rs.getObject(1, LocalDateTime.class));
                    check("9 " + sql + " column type", "DATETIME", rs.getMetaData().getColumnTypeName(1));
                    if (rs.next()) fail("9 " + sql + " [3]: more than one row");
                }
            }
        });

        // 10. cleanup + metadata
        step("10 DROP", () -> {
            try (Statement st = conn.createStatement()) {
                st.execute("DROP TABLE " + T);
            }
        });
        step("10 getDatabaseProductVersion", () -> {
            String v = conn.getMetaData().getDatabaseProductVersion();
            if (v == null || v.trim().isEmpty()) fail("10 getDatabaseProductVersion: empty (" + show(v) + ")");
        });
    }
}
