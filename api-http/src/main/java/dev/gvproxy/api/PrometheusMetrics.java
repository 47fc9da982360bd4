package dev.gvproxy.api;

import io.prometheus.metrics.config.EscapingScheme;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.instrumentation.jvm.JvmMetrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code GET /metrics} on the host API: the network's counters and gauges as Prometheus metric snapshots, written
 * by the Prometheus Java client's text exposition writer (format 0.0.4), together with the client's JVM metrics
 * ({@link JvmMetrics}: memory pools, threads, GC, classes, process).
 *
 * <p>Names. Every counter {@code /stats} shows, {@code <layer>.<reason>}, becomes the counter
 * {@code gvproxy_<layer>_<reason>_total}: dots become underscores, camelCase becomes snake_case, anything else
 * outside {@code [a-zA-Z0-9_]} becomes an underscore ({@code ipv4.badChecksum} -> {@code
 * gvproxy_ipv4_bad_checksum_total}, {@code tcp.out.resets} -> {@code gvproxy_tcp_out_resets_total}); a name that
 * would end in a suffix Prometheus reserves ({@code _total}, {@code _created}, {@code _bucket}, {@code _info})
 * gets {@code _events} appended first, and of two counters that map to one name the first in sorted order is
 * exported (the other stays in {@code /stats}). {@code BytesSent}/{@code BytesReceived} are
 * {@code gvproxy_bytes_sent_total}/{@code gvproxy_bytes_received_total}. The rest is in {@link #snapshots}.
 *
 * <p>Threads: the caller takes the counters and the {@link NetworkObservation} on the network's loop; this class
 * only formats, off the loop. One instance per API (its own registry, so two networks in one JVM do not clash).
 */
final class PrometheusMetrics {
    /** {@code text/plain; version=0.0.4; charset=utf-8}. */
    static final String CONTENT_TYPE = PrometheusTextFormatWriter.CONTENT_TYPE;
    private static final String[] RESERVED = {"_total", "_created", "_bucket", "_info"};

    private final PrometheusRegistry jvm = new PrometheusRegistry();
    private final PrometheusTextFormatWriter writer = PrometheusTextFormatWriter.create();

    PrometheusMetrics() {
        JvmMetrics.builder().register(jvm);
    }

    /** The Prometheus name (without {@code _total}) of a {@code <layer>.<reason>} counter. */
    static String counterName(String counter) {
        StringBuilder b = new StringBuilder("gvproxy_");
        char prev = '_';
        for (int i = 0; i < counter.length(); i++) {
            char ch = counter.charAt(i);
            if (ch >= 'A' && ch <= 'Z') {
                if (prev != '_' && !(prev >= 'A' && prev <= 'Z')) {
                    b.append('_');
                }
                ch = (char) (ch - 'A' + 'a');
            } else if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_')) {
                ch = '_';
            }
            b.append(ch);
            prev = counter.charAt(i) == '.' ? '_' : counter.charAt(i);
        }
        String name = b.toString();
        for (String r : RESERVED) {
            if (name.endsWith(r)) {
                return name + "_events";
            }
        }
        return name;
    }

    /**
     * The network's metrics (not the JVM's).
     *
     * <ul>
     * <li>{@code gvproxy_<layer>_<reason>_total}: every named counter (see the class comment);
     * <li>{@code gvproxy_bytes_sent_total}, {@code gvproxy_bytes_received_total}: gvproxy's two totals;
     * <li>{@code gvproxy_port_frames_total}, {@code gvproxy_port_bytes_total}, labels {@code port} (id),
     *     {@code name} and {@code direction} ({@code in}: from the VM, {@code out}: to it);
     * <li>{@code gvproxy_flows}, labels {@code protocol} and {@code state} (TCP's RFC 9293 state names, e.g.
     *     {@code ESTABLISHED}, {@code TIME-WAIT}; {@code open} for UDP and ICMP);
     * <li>{@code gvproxy_dhcp_leases}, {@code gvproxy_cam_entries}, {@code gvproxy_tcp_connects_in_flight},
     *     {@code gvproxy_switch_ports}.
     * </ul>
     */
    static List<MetricSnapshot> snapshots(Map<String, Long> counters, long bytesSent, long bytesReceived,
            int leases, NetworkObservation net) {
        List<MetricSnapshot> out = new ArrayList<>();
        Set<String> names = new HashSet<>();
        names.add("gvproxy_bytes_sent");
        names.add("gvproxy_bytes_received");
        out.add(counter("gvproxy_bytes_sent", "Bytes written to switch ports (gvproxy's BytesSent)", bytesSent));
        out.add(counter("gvproxy_bytes_received", "Bytes received from switch ports (gvproxy's BytesReceived)",
                bytesReceived));
        for (Map.Entry<String, Long> e : new java.util.TreeMap<>(counters).entrySet()) {
            String name = counterName(e.getKey());
            if (names.add(name)) {
                out.add(counter(name, "gvproxy counter " + e.getKey(), e.getValue()));
            }
        }
        CounterSnapshot.Builder frames = CounterSnapshot.builder().name("gvproxy_port_frames")
                .help("Frames through a switch port (in: from the VM, out: to it)");
        CounterSnapshot.Builder bytes = CounterSnapshot.builder().name("gvproxy_port_bytes")
                .help("Bytes through a switch port (in: from the VM, out: to it)");
        for (NetworkObservation.Port p : net.ports()) {
            String id = Integer.toString(p.id());
            frames.dataPoint(point(p.framesIn(), Labels.of("port", id, "name", p.name(), "direction", "in")));
            frames.dataPoint(point(p.framesOut(), Labels.of("port", id, "name", p.name(), "direction", "out")));
            bytes.dataPoint(point(p.bytesIn(), Labels.of("port", id, "name", p.name(), "direction", "in")));
            bytes.dataPoint(point(p.bytesOut(), Labels.of("port", id, "name", p.name(), "direction", "out")));
        }
        out.add(frames.build());
        out.add(bytes.build());
        GaugeSnapshot.Builder flows = GaugeSnapshot.builder().name("gvproxy_flows")
                .help("Flows in the network's tables by protocol and state");
        net.flows().forEach((proto, states) -> states.forEach((state, n) -> flows.dataPoint(
                GaugeSnapshot.GaugeDataPointSnapshot.builder().value(n)
                        .labels(Labels.of("protocol", proto, "state", state)).build())));
        out.add(flows.build());
        out.add(gauge("gvproxy_dhcp_leases", "DHCP leases, reservations included", leases));
        out.add(gauge("gvproxy_cam_entries", "MACs in the switch's CAM", net.camSize()));
        out.add(gauge("gvproxy_tcp_connects_in_flight", "Outbound host connects for guest SYNs not completed yet",
                net.connectsInFlight()));
        out.add(gauge("gvproxy_switch_ports", "Attached switch ports", net.ports().size()));
        return out;
    }

    /** The whole exposition: the network's metrics, then the JVM's. */
    byte[] format(Map<String, Long> counters, long bytesSent, long bytesReceived, int leases, NetworkObservation net) {
        MetricSnapshots.Builder all = MetricSnapshots.builder();
        for (MetricSnapshot s : snapshots(counters, bytesSent, bytesReceived, leases, net)) {
            all.metricSnapshot(s);
        }
        for (MetricSnapshot s : jvm.scrape()) {
            all.metricSnapshot(s);
        }
        ByteArrayOutputStream body = new ByteArrayOutputStream(16 * 1024);
        try {
            writer.write(body, all.build(), EscapingScheme.UNDERSCORE_ESCAPING);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return body.toByteArray();
    }

    private static CounterSnapshot counter(String name, String help, long value) {
        return CounterSnapshot.builder().name(name).help(help).dataPoint(point(value, Labels.EMPTY)).build();
    }

    private static CounterSnapshot.CounterDataPointSnapshot point(long value, Labels labels) {
        // Counters are unsigned in /stats; a double holds them exactly up to 2^53, far beyond any real count.
        double v = value >= 0 ? value : Double.parseDouble(Long.toUnsignedString(value));
        return CounterSnapshot.CounterDataPointSnapshot.builder().value(v).labels(labels).build();
    }

    private static GaugeSnapshot gauge(String name, String help, double value) {
        return GaugeSnapshot.builder().name(name).help(help)
                .dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder().value(value).build()).build();
    }
}
