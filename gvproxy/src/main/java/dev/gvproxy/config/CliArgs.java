package dev.gvproxy.config;

import java.util.ArrayList;
import java.util.List;

/**
 * The command-line values that take part in configuration (spec 6), with gvproxy's defaults. Mutable on
 * purpose: the CLI fills it from parsed flags, tests set only what they need.
 */
public final class CliArgs {
    public String config = "";
    public List<String> listen = new ArrayList<>();
    public String services = "";
    public String listenQemu = "";
    public String listenBess = "";
    public String listenVfkit = "";
    public String listenVpnkit = "";
    public String listenStdio = "";
    /** {@code -listen-tap}: a TAP interface the network's loop reads itself ({@code tap://IFACE?netns=NAME}). */
    public String listenTap = "";
    public long mtu;
    public String subnet = "192.168.127.0/24";
    public String gatewayIp = "";
    public String deviceIp = "";
    public String hostIp = "";
    public long sshPort = 2222;
    /** Whether {@code -ssh-port} appeared (config mode warns only then). */
    public boolean sshPortSet;
    public List<String> forwardSock = new ArrayList<>();
    public List<String> forwardDest = new ArrayList<>();
    public List<String> forwardUser = new ArrayList<>();
    public List<String> forwardIdentity = new ArrayList<>();
    public String pcap = "";
    public String pidFile = "";
    public String logFile = "";
    public String notification = "";
    public boolean debug;
    public boolean ec2MetadataAccess;
    public String apiTokenFile = "";
    public boolean guestApiStrict;
    public String guestUnixDir = "";
    public String stateDir = "";
    /** {@code -limit name=value}, in order (see {@link Limits}). */
    public List<String> limit = new ArrayList<>();

    // Issue 12: library options reachable from the command line.
    /** {@code -guest-api on|read-only|off} ("" when not given). */
    public String guestApi = "";
    /** {@code -preserve-client-address}: guests see the real client of a port forward (upstream PR #634). */
    public boolean preserveClientAddress;
    /** {@code -tcp-max-in-flight N} (upstream PR #698's {@code tcpMaxInFlight}); 0 when not given. */
    public long tcpMaxInFlight;
    /** {@code -tcp-connect-timeout 30s} (upstream PR #698's {@code tcpConnectTimeout}); "" when not given. */
    public String tcpConnectTimeout = "";
    /** {@code -busy-poll 50us}: the network's loop polls that long after its last work before it sleeps; "" when not given. */
    public String busyPoll = "";
}
