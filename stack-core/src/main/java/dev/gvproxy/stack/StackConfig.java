package dev.gvproxy.stack;

import dev.gvproxy.stack.wire.Ipv4Address;
import dev.gvproxy.stack.wire.Ipv6Address;
import dev.gvproxy.stack.wire.MacAddress;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Addresses and limits of one virtual network (spec section 3.1 defaults). Immutable; build with
 * {@link #builder()}. Addresses are ints (see {@link Ipv4Address}), MACs longs (see {@link MacAddress}).
 *
 * @param network subnet address (canonical), e.g. 192.168.127.0
 * @param prefixLength subnet prefix, at most 29 (at least three host bits)
 * @param gatewayIp the stack's own address, default network+1
 * @param gatewayMac the stack's MAC, default 5a:94:ef:e4:0c:dd
 * @param deviceIp the default guest address (DHCP static lease), default network+2
 * @param hostIp the virtual address NAT'ed to the host's loopback, default broadcast-1
 * @param mtu IP MTU of the virtual link, 576..65520, default 1500
 * @param gatewayVirtualIps extra addresses the gateway answers ARP for (default: the host IP)
 * @param nat destination rewrites for new outbound flows (default hostIp -> 127.0.0.1)
 * @param dhcpStaticLeases IP -> MAC
 * @param reassemblyTimeoutNanos how long fragments of an incomplete datagram are kept
 * @param reassemblyMaxBytes memory bound over all incomplete datagrams
 * @param portSecurity what guests may claim: MAC limits and ageing of the switch, strict source validation
 * @param ipv6 the IPv6 prefix, the gateway's IPv6 addresses and router advertisements (default on, see
 *             {@link Ipv6Config})
 */
public record StackConfig(
        int network,
        int prefixLength,
        int gatewayIp,
        long gatewayMac,
        int deviceIp,
        int hostIp,
        int mtu,
        List<Integer> gatewayVirtualIps,
        Map<Integer, Integer> nat,
        Map<Integer, Long> dhcpStaticLeases,
        long reassemblyTimeoutNanos,
        int reassemblyMaxBytes,
        PortSecurity portSecurity,
        Ipv6Config ipv6) {

    public static final int DEFAULT_MTU = 1500;
    public static final int MAX_MTU = 65520;
    public static final int MIN_MTU = 576;
    public static final long DEFAULT_GATEWAY_MAC = 0x5a94efe40cddL;
    public static final long DEFAULT_DEVICE_MAC = 0x5a94efe40ceeL;

    public StackConfig {
        gatewayVirtualIps = List.copyOf(gatewayVirtualIps);
        nat = Map.copyOf(nat);
        dhcpStaticLeases = Map.copyOf(dhcpStaticLeases);
        java.util.Objects.requireNonNull(portSecurity, "portSecurity");
        java.util.Objects.requireNonNull(ipv6, "ipv6");
        if (prefixLength < 1 || prefixLength > 29) {
            throw new IllegalArgumentException("subnet too small");
        }
        if (mtu < MIN_MTU || mtu > MAX_MTU) {
            throw new IllegalArgumentException("mtu must be between " + MIN_MTU + " and " + MAX_MTU + ": " + mtu);
        }
    }

    public int netmask() {
        return Ipv4Address.mask(prefixLength);
    }

    public int broadcast() {
        return network | ~netmask();
    }

    public boolean inSubnet(int ip) {
        return (ip & netmask()) == network;
    }

    /** True for the gateway IP and the gateway's virtual IPs: the addresses ARP is answered for. */
    public boolean isGatewayAddress(int ip) {
        if (ip == gatewayIp) {
            return true;
        }
        // Compared unboxed: contains(ip) would box the address of every guest frame the ingress guard checks.
        for (int i = 0; i < gatewayVirtualIps.size(); i++) {
            if (gatewayVirtualIps.get(i) == ip) {
                return true;
            }
        }
        return false;
    }

    /**
     * True for the gateway's own addresses of either family: an IPv4-mapped address is an IPv4 one
     * ({@link #isGatewayAddress(int)}), an IPv6 one the gateway's link-local, prefix or host alias address
     * (when IPv6 is on).
     */
    public boolean isGatewayAddress(Ipv6Address ip) {
        return ip.isIpv4Mapped() ? isGatewayAddress(ip.ipv4()) : ipv6.isGatewayAddress(ip);
    }

    /** The NAT'ed destination for a new outbound flow (identity when no rule matches). */
    public int translate(int dst) {
        Integer t = nat.get(dst);
        return t == null ? dst : t;
    }

    public static StackConfig defaults() {
        return builder().build();
    }

    public static Builder builder() {
        return new Builder();
    }

    public Builder toBuilder() {
        Builder b = new Builder();
        b.subnet = Ipv4Address.format(network) + "/" + prefixLength;
        b.gatewayIp = gatewayIp;
        b.gatewayMac = gatewayMac;
        b.deviceIp = deviceIp;
        b.hostIp = hostIp;
        b.mtu = mtu;
        b.gatewayVirtualIps = gatewayVirtualIps;
        b.nat = new LinkedHashMap<>(nat);
        b.dhcpStaticLeases = new LinkedHashMap<>(dhcpStaticLeases);
        b.reassemblyTimeoutNanos = reassemblyTimeoutNanos;
        b.reassemblyMaxBytes = reassemblyMaxBytes;
        b.portSecurity = portSecurity;
        b.ipv6 = ipv6;
        return b;
    }

    /** Builder with gvproxy's legacy-mode defaults; unset addresses are derived from the subnet. */
    public static final class Builder {
        private String subnet = "192.168.127.0/24";
        private Integer gatewayIp;
        private long gatewayMac = DEFAULT_GATEWAY_MAC;
        private Integer deviceIp;
        private Integer hostIp;
        private int mtu = DEFAULT_MTU;
        private List<Integer> gatewayVirtualIps;
        private Map<Integer, Integer> nat;
        private Map<Integer, Long> dhcpStaticLeases;
        private long reassemblyTimeoutNanos = 30_000_000_000L;
        private int reassemblyMaxBytes = 4 << 20;
        private PortSecurity portSecurity = PortSecurity.defaults();
        private Ipv6Config ipv6 = Ipv6Config.defaults();

        public Builder subnet(String cidr) {
            this.subnet = cidr;
            return this;
        }

        public Builder gatewayIp(String ip) {
            this.gatewayIp = Ipv4Address.parse(ip);
            return this;
        }

        public Builder gatewayMac(long mac) {
            this.gatewayMac = mac;
            return this;
        }

        public Builder deviceIp(String ip) {
            this.deviceIp = Ipv4Address.parse(ip);
            return this;
        }

        public Builder hostIp(String ip) {
            this.hostIp = Ipv4Address.parse(ip);
            return this;
        }

        public Builder mtu(int mtu) {
            this.mtu = mtu;
            return this;
        }

        public Builder gatewayVirtualIps(List<Integer> ips) {
            this.gatewayVirtualIps = ips;
            return this;
        }

        public Builder nat(Map<Integer, Integer> nat) {
            this.nat = nat;
            return this;
        }

        public Builder dhcpStaticLeases(Map<Integer, Long> leases) {
            this.dhcpStaticLeases = leases;
            return this;
        }

        public Builder reassembly(long timeoutNanos, int maxBytes) {
            this.reassemblyTimeoutNanos = timeoutNanos;
            this.reassemblyMaxBytes = maxBytes;
            return this;
        }

        /** MAC limits and ageing of the switch, strict source validation (default {@link PortSecurity#defaults}). */
        public Builder portSecurity(PortSecurity p) {
            this.portSecurity = p;
            return this;
        }

        /** The IPv6 side (default {@link Ipv6Config#defaults()}: on, {@code fd00:5a94:efe4::/64}). */
        public Builder ipv6(Ipv6Config ipv6) {
            this.ipv6 = ipv6;
            return this;
        }

        public StackConfig build() {
            int slash = subnet.indexOf('/');
            if (slash < 0) {
                throw new IllegalArgumentException("invalid CIDR address: " + subnet);
            }
            int net = Ipv4Address.parse(subnet.substring(0, slash));
            int prefix;
            try {
                prefix = Integer.parseInt(subnet.substring(slash + 1));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("invalid CIDR address: " + subnet, e);
            }
            if (prefix < 0 || prefix > 32) {
                throw new IllegalArgumentException("invalid CIDR address: " + subnet);
            }
            if (prefix > 29) {
                throw new IllegalArgumentException("subnet too small");
            }
            int mask = Ipv4Address.mask(prefix);
            net &= mask;
            int bcast = net | ~mask;
            int gw = gatewayIp != null ? gatewayIp : net + 1;
            int dev = deviceIp != null ? deviceIp : gw + 1;
            int host = hostIp != null ? hostIp : bcast - 1;
            for (int ip : new int[] {gw, dev, host}) {
                String s = Ipv4Address.format(ip);
                if ((ip & mask) != net) {
                    throw new IllegalArgumentException("failed to validate configuration IPs: IP (" + s
                            + ") not in subnet (" + Ipv4Address.format(net) + "/" + prefix + ")");
                }
                if (ip == net) {
                    throw new IllegalArgumentException(
                            "failed to validate configuration IPs: IP must not be address of subnet: " + s);
                }
                if (ip == bcast) {
                    throw new IllegalArgumentException(
                            "failed to validate configuration IPs: IP must not be broadcast address: " + s);
                }
            }
            if (gw == dev || gw == host || dev == host) {
                throw new IllegalArgumentException("failed to validate configuration IPs: IP addresses need to be distinct");
            }
            List<Integer> vips = gatewayVirtualIps != null ? gatewayVirtualIps : List.of(host);
            Map<Integer, Integer> n = nat != null ? nat : Map.of(host, Ipv4Address.parse("127.0.0.1"));
            Map<Integer, Long> leases = dhcpStaticLeases != null ? dhcpStaticLeases : Map.of(dev, DEFAULT_DEVICE_MAC);
            return new StackConfig(net, prefix, gw, gatewayMac, dev, host, mtu, vips, n, leases,
                    reassemblyTimeoutNanos, reassemblyMaxBytes, portSecurity, ipv6);
        }
    }
}
