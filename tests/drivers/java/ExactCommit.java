// Connector/J transaction outcomes through shardgate (tests/driver_exact.rs).
//
// Usage: java -cp <connector-j jar>:<build dir> ExactCommit HOST PORT TABLE PS
//   PS = false: plain Statement INSERTs (text protocol)
//   PS = true : useServerPrepStmts=true, PreparedStatement INSERTs (COM_STMT_PREPARE/EXECUTE)
//
// TABLE (columns id BIGINT PRIMARY KEY, v VARCHAR) must exist, empty, sharded by `id` over both data sources.
// Connector/J's commit() and rollback() send COMMIT/ROLLBACK only when the last OK/EOF carried the server's
// IN_TRANS status flag, so a proxy that reports the flag wrongly loses the commit (or the rollback) silently.
//
// 1. setAutoCommit(false), INSERT ids 1..8 (a COUNT before the last), commit(), close(): a fresh connection
//    sees ids 1..8.
// 2. setAutoCommit(false), INSERT ids 101..108, rollback(), close(): a fresh connection sees none of them.
// Prints "ok ExactCommit <driver version> ps=<PS>" and exits 0, or one "FAIL ..." line per difference and exits 1.

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;

public class ExactCommit {
    static String url;
    static String table;
    static boolean ps;
    static final List<String> failures = new ArrayList<>();

    public static void main(String[] args) throws Exception {
        if (args.length != 4 || !args[2].matches("[A-Za-z_][A-Za-z0-9_]*") || !args[3].matches("true|false")) {
            System.out.println("usage: ExactCommit HOST PORT TABLE PS(true|false)");
            System.exit(2);
        }
        table = args[2];
        ps = args[3].equals("true");
        url = "jdbc:mariadb://" + args[0] + ":" + args[1] + "/demo?user=app&password=app"
                + "&useServerPrepStmts=" + ps + "&connectTimeout=10000&socketTimeout=30000";
        String version;
        try (Connection c = DriverManager.getConnection(url)) {
            version = c.getMetaData().getDriverVersion();
        }

        // 1. commit: all eight rows (keys on both shards) visible to a new connection afterwards
        try {
            writeThen(1, true);
            check("ids 1..8 after commit(), read by a new connection", range(1, 8), ids("id < 100"));
        } catch (Exception e) {
            failures.add("commit case: " + e);
        }
        // 2. rollback: none of them visible
        try {
            writeThen(101, false);
            check("ids 101..108 after rollback(), read by a new connection", new ArrayList<Long>(), ids("id > 100"));
        } catch (Exception e) {
            failures.add("rollback case: " + e);
        }

        if (failures.isEmpty()) {
            System.out.println("ok ExactCommit " + version + " ps=" + ps);
            System.exit(0);
        }
        for (String f : failures) System.out.println("FAIL " + f);
        System.exit(1);
    }

    /**
     * setAutoCommit(false), INSERT ids first..first+7, then commit() or rollback(), then close(). Before the last
     * INSERT the connection counts the rows it sees (a read merged over both shards inside the transaction), so
     * the statement right before commit()/rollback() is still an INSERT.
     */
    static void writeThen(long first, boolean commit) throws Exception {
        try (Connection c = DriverManager.getConnection(url)) {
            c.setAutoCommit(false);
            for (long id = first; id < first + 8; id++) {
                if (id == first + 7) check("rows visible inside the transaction", first == 1 ? 7L : 15L, count(c));
                check("INSERT id=" + id + " update count", 1, insert(c, id));
            }
            if (commit) c.commit(); else c.rollback();
        }
    }

    /** One INSERT: a plain Statement, or a (server-side, with PS) PreparedStatement. */
    static int insert(Connection c, long id) throws Exception {
        if (ps) {
            try (PreparedStatement st = c.prepareStatement("INSERT INTO " + table + " (id, v) VALUES (?, ?)")) {
                st.setLong(1, id);
                st.setString(2, "row-" + id);
                return st.executeUpdate();
            }
        }
        try (Statement st = c.createStatement()) {
            return st.executeUpdate("INSERT INTO " + table + " (id, v) VALUES (" + id + ", 'row-" + id + "')");
        }
    }

    /** The ids matching `where`, read by a fresh connection. */
    static List<Long> ids(String where) throws Exception {
        List<Long> out = new ArrayList<>();
        try (Connection c = DriverManager.getConnection(url);
             Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT id FROM " + table + " WHERE " + where + " ORDER BY id")) {
            while (rs.next()) out.add(rs.getLong(1));
        }
        return out;
    }

    static long count(Connection c) throws Exception {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT COUNT(*) FROM " + table)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    static List<Long> range(long from, long to) {
        List<Long> out = new ArrayList<>();
        for (long i = from; i <= to; i++) out.add(i);
        return out;
    }

    static void check(String what, Object want, Object got) {
        if (!want.equals(got)) failures.add(what + ": want " + want + ", got " + got);
    }
}
