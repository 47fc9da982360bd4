package dev.gvproxy.api;

import dev.gvproxy.forwarder.IcmpForwarder;
import dev.gvproxy.network.internal.NetworkInternals;
import dev.gvproxy.stack.link.SwitchPort;
import dev.gvproxy.stack.link.VirtualSwitch;
import dev.gvproxy.stack.tcp.TcpConnection;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Supplier;

/**
 * What {@code GET /metrics} reads from a network beyond {@code /stats}'s counters: per-port traffic, flows by
 * protocol and state, the CAM's size, the outbound connects in flight. Taken on the network's event loop (the
 * flow tables and the CAM are loop-only), then formatted off it: the record is immutable.
 *
 * @param ports every attached switch port's counters, by port id
 * @param flows protocol ({@code tcp}, {@code udp}, {@code icmp}) -> state -> number of flows; UDP and ICMP flows
 *              have the one state {@code open}
 * @param camSize MACs in the switch's CAM (learned and not aged out)
 * @param connectsInFlight outbound host connects of guest SYNs not yet completed
 */
public record NetworkObservation(List<Port> ports, Map<String, Map<String, Integer>> flows, int camSize,
                                 int connectsInFlight) {
    /** Nothing observed (an API without a network, e.g. a test of other routes). */
    public static final NetworkObservation EMPTY = new NetworkObservation(List.of(), Map.of(), 0, 0);

    /** One switch port's traffic as the switch counted it ({@code in}: from the VM, {@code out}: to it). */
    public record Port(int id, String name, long framesIn, long bytesIn, long framesOut, long bytesOut) {}

    public NetworkObservation {
        ports = List.copyOf(ports);
        TreeMap<String, Map<String, Integer>> copy = new TreeMap<>();
        flows.forEach((k, v) -> copy.put(k, Map.copyOf(v)));
        flows = java.util.Collections.unmodifiableMap(copy);
    }

    /** The observation of a running network; the supplier must be called on its event loop. */
    public static Supplier<NetworkObservation> of(NetworkInternals net) {
        return () -> observe(net);
    }

    private static NetworkObservation observe(NetworkInternals net) {
        VirtualSwitch sw = net.virtualSwitch();
        List<Port> ports = new ArrayList<>();
        for (SwitchPort p : sw.ports()) {
            ports.add(new Port(p.id(), p.name(), p.framesIn(), p.bytesIn(), p.framesOut(), p.bytesOut()));
        }
        TreeMap<String, Map<String, Integer>> flows = new TreeMap<>();
        TreeMap<String, Integer> tcp = new TreeMap<>();
        for (TcpConnection c : net.stack().tcp().connections()) {
            tcp.merge(c.state().toString(), 1, Integer::sum);
        }
        flows.put("tcp", tcp);
        flows.put("udp", Map.of("open", net.udpForwarder().flowCount()));
        IcmpForwarder icmp = net.icmpForwarder();
        flows.put("icmp", Map.of("open", icmp == null ? 0 : icmp.flowCount()));
        return new NetworkObservation(ports, flows, sw.camSize(), net.tcpForwarder().inFlight());
    }
}
