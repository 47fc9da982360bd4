package dev.gvproxy.agent;

import dev.gvproxy.stack.link.Impairment;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Objects;

/**
 * Settings of one gvforwarder-java instance. Defaults are gvforwarder's (spec 2.1); the setters return {@code this}.
 */
public final class Options {
    /** gvforwarder's default {@code -url}. */
    public static final String DEFAULT_URL = "vsock://2:1024/connect";
    /** gvforwarder's default {@code -mac} (it has the default static DHCP lease 192.168.127.2). */
    public static final String DEFAULT_MAC = "5a:94:ef:e4:0c:ee";

    private String url = DEFAULT_URL;
    private String iface = "tap0";
    private List<String> stopIfExist = List.of("eth0", "ens3", "enp0s1");
    private String mac = DEFAULT_MAC;
    private int mtu = 4000;
    private boolean offload;
    private boolean preexisting;
    private boolean debug;
    private String netns;
    private Path resolvConf;
    private boolean resolvConfSet;
    private Duration retryDelay = Duration.ofSeconds(1);
    private DhcpClientKind dhcpClient = DhcpClientKind.AUTO;
    private Impairment impairToGvproxy;
    private Impairment impairToTap;

    /** Which DHCP client to run when not {@code preexisting}. */
    public enum DhcpClientKind {
        /** gvforwarder's choice: {@code udhcpc} (or busybox's applet) if present, else {@code dhclient}. */
        AUTO,
        /** busybox {@code udhcpc}. */
        UDHCPC,
        /** ISC {@code dhclient}. */
        DHCLIENT
    }

    /** @return gvforwarder's defaults */
    public static Options defaults() {
        return new Options();
    }

    public String url() {
        return url;
    }

    /** {@code -url}: {@code vsock://CID:PORT/path}, {@code unix:///path}, {@code tcp://host:port[/path]}, {@code stdio:/prog?k=v}. */
    public Options url(String url) {
        this.url = Objects.requireNonNull(url);
        return this;
    }

    public String iface() {
        return iface;
    }

    /** {@code -iface}: the TAP interface to create or open. */
    public Options iface(String iface) {
        this.iface = Objects.requireNonNull(iface);
        return this;
    }

    public List<String> stopIfExist() {
        return stopIfExist;
    }

    /** {@code -stop-if-exist}: interface names that make the program exit at start-up (checked by the main). */
    public Options stopIfExist(List<String> names) {
        this.stopIfExist = List.copyOf(names);
        return this;
    }

    public String mac() {
        return mac;
    }

    /** {@code -mac}: MAC to assign to the TAP; empty keeps the kernel's. */
    public Options mac(String mac) {
        this.mac = Objects.requireNonNull(mac);
        return this;
    }

    public int mtu() {
        return mtu;
    }

    /** {@code -mtu}: only sizes the TAP read buffer (MTU + 14), as in gvforwarder. */
    public Options mtu(int mtu) {
        if (mtu < 1 || mtu > 65535 - 14) {
            throw new IllegalArgumentException("mtu must be between 1 and 65521, got " + mtu);
        }
        this.mtu = mtu;
        return this;
    }

    public boolean preexisting() {
        return preexisting;
    }

    /** {@code -preexisting}: no MAC change, no link-up, no DHCP client. */
    public Options preexisting(boolean preexisting) {
        this.preexisting = preexisting;
        return this;
    }

    public boolean debug() {
        return debug;
    }

    public boolean offload() {
        return offload;
    }

    /**
     * {@code -offload}: open the TAP with a virtio-net header and checksum/TSO offloads and ask gvproxy for the
     * framing that carries them ({@code Upgrade: gvproxy-vnet-v1} on {@code /connect}). Only gvproxy-java
     * answers it; against another gvproxy the attempt fails (after 5 s without a reply) and is retried.
     */
    public Options offload(boolean offload) {
        this.offload = offload;
        return this;
    }

    /** {@code -debug}: log every frame. */
    public Options debug(boolean debug) {
        this.debug = debug;
        return this;
    }

    public String netns() {
        return netns;
    }

    /** {@code -netns}: open the TAP and run the DHCP client in {@code /var/run/netns/NAME}; {@code null} = current. */
    public Options netns(String netns) {
        this.netns = netns == null || netns.isEmpty() ? null : netns;
        return this;
    }

    /**
     * Where the DHCP script writes nameservers. Unless set explicitly: inside a netns,
     * {@code /etc/netns/NS/resolv.conf} when the directory {@code /etc/netns/NS} exists, otherwise nowhere (never
     * the host's file); without a netns (a real guest), {@code /etc/resolv.conf} as gvforwarder's image does.
     */
    public Path resolvConf() {
        if (resolvConfSet) {
            return resolvConf;
        }
        if (netns != null) {
            Path dir = Path.of("/etc/netns", netns);
            return java.nio.file.Files.isDirectory(dir) ? dir.resolve("resolv.conf") : null;
        }
        return Path.of("/etc/resolv.conf");
    }

    /** Overrides {@link #resolvConf()}; {@code null} means never write DNS settings. */
    public Options resolvConf(Path file) {
        this.resolvConf = file;
        this.resolvConfSet = true;
        return this;
    }

    public DhcpClientKind dhcpClient() {
        return dhcpClient;
    }

    /** Forces a DHCP client (default {@link DhcpClientKind#AUTO}, as gvforwarder). */
    public Options dhcpClient(DhcpClientKind kind) {
        this.dhcpClient = Objects.requireNonNull(kind);
        return this;
    }

    public Impairment impairToGvproxy() {
        return impairToGvproxy;
    }

    public Impairment impairToTap() {
        return impairToTap;
    }

    /**
     * Test hook: impair frames going to gvproxy (guest transmit) and/or coming from it (guest receive); {@code null}
     * for none (the default, and the fast path).
     */
    public Options impair(Impairment toGvproxy, Impairment toTap) {
        this.impairToGvproxy = toGvproxy;
        this.impairToTap = toTap;
        return this;
    }

    public Duration retryDelay() {
        return retryDelay;
    }

    /** Pause between reconnect attempts (gvforwarder: 1 s). */
    public Options retryDelay(Duration delay) {
        this.retryDelay = Objects.requireNonNull(delay);
        return this;
    }
}
