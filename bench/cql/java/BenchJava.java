// The Apache Cassandra Java driver's side of bench/cql: prepared inserts of a
// small row with at most <concurrency> asynchronous requests outstanding,
// after a warm-up. Prints one line:
//   java <concurrency> <count> <seconds> <cpu seconds>
// where CPU is this JVM's process CPU time (every thread, JIT included) during
// the measured inserts.
import com.datastax.oss.driver.api.core.CqlSession;
import com.datastax.oss.driver.api.core.DefaultConsistencyLevel;
import com.datastax.oss.driver.api.core.cql.PreparedStatement;
import java.lang.management.ManagementFactory;
import java.net.InetSocketAddress;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicLong;

public class BenchJava {
    static String env(String name, String dflt) {
        String v = System.getenv(name);
        return v == null || v.isEmpty() ? dflt : v;
    }

    static long run(CqlSession s, PreparedStatement ps, int conc, long count, long base) throws InterruptedException {
        Semaphore room = new Semaphore(conc);
        AtomicLong failed = new AtomicLong();
        for (long i = 0; i < count; i++) {
            room.acquire();
            s.executeAsync(ps.bind(base + i, "value-" + i).setConsistencyLevel(DefaultConsistencyLevel.ONE))
                .whenComplete((r, e) -> {
                    if (e != null) failed.incrementAndGet();
                    room.release();
                });
        }
        room.acquire(conc);
        return failed.get();
    }

    public static void main(String[] args) throws Exception {
        int conc = Integer.parseInt(args[0]);
        long count = Long.parseLong(args[1]);
        try (CqlSession s = CqlSession.builder()
                 .addContactPoint(new InetSocketAddress(env("RV_CQL_HOST", "127.0.0.1"),
                                                        Integer.parseInt(env("RV_CQL_PORT", "9042"))))
                 .withLocalDatacenter("datacenter1")
                 .withAuthCredentials(env("RV_CQL_USER", "cassandra"), env("RV_CQL_PASSWORD", "cassandra"))
                 .withKeyspace("rv_bench")
                 .build()) {
            PreparedStatement ps = s.prepare("INSERT INTO small (k, v) VALUES (?, ?)");
            run(s, ps, conc, Math.min(20000, count), 20_000_000L); // warm-up (and JIT)
            com.sun.management.OperatingSystemMXBean os =
                (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
            long c0 = os.getProcessCpuTime(), t0 = System.nanoTime();
            long failed = run(s, ps, conc, count, 30_000_000L);
            long t1 = System.nanoTime(), c1 = os.getProcessCpuTime();
            if (failed > 0) {
                System.err.println("java: " + failed + " inserts failed");
                System.exit(1);
            }
            System.out.printf("java %d %d %.6f %.6f%n", conc, count, (t1 - t0) / 1e9, (c1 - c0) / 1e9);
        }
    }
}
