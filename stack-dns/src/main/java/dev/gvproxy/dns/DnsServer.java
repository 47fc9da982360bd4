package dev.gvproxy.dns;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.NetworkStack;
import dev.gvproxy.stack.udp.UdpDatagram;
import dev.gvproxy.stack.udp.UdpHandler;
import dev.gvproxy.stack.wire.Ipv4Address;
import dev.gvproxy.stack.wire.Ipv6Address;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import java.io.IOException;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executor;
import java.util.function.LongSupplier;
import org.xbill.DNS.AAAARecord;
import org.xbill.DNS.ARecord;
import org.xbill.DNS.CNAMERecord;
import org.xbill.DNS.DClass;
import org.xbill.DNS.ExtendedFlags;
import org.xbill.DNS.Flags;
import org.xbill.DNS.Header;
import org.xbill.DNS.Message;
import org.xbill.DNS.Name;
import org.xbill.DNS.OPTRecord;
import org.xbill.DNS.Opcode;
import org.xbill.DNS.PTRRecord;
import org.xbill.DNS.Rcode;
import org.xbill.DNS.Record;
import org.xbill.DNS.Section;
import org.xbill.DNS.TSIGRecord;
import org.xbill.DNS.TextParseException;
import org.xbill.DNS.Type;

/**
 * The gateway's DNS server (spec 3.5, with gvproxy's bugs fixed; see the package documentation for the
 * theory of operation).
 *
 * <p>{@link #answer} is the transport-independent core: raw query in, raw response out (or {@code null}
 * for "send nothing"). The UDP front-end is this class itself, bound to gateway:53 by {@link #install};
 * a TCP front-end frames with {@link DnsTcpFraming} and calls {@link #answer} with {@code tcp = true}.
 *
 * <p>Threading: everything except {@link #addZone}/{@link #zones} runs on the network's event loop; answers
 * that need the upstream complete there too (dnsjava's I/O thread hops back through {@code loop}).
 */
public final class DnsServer implements UdpHandler, AutoCloseable {
    public static final int PORT = 53;
    static final int TCP_MAX = 65535;
    static final int UDP_MIN = 512;
    private static final CompletionStage<byte[]> DROP = CompletableFuture.completedFuture(null);
    private static final InetSocketAddress GLIBC_DEFAULT_SERVER = new InetSocketAddress(InetAddress.getLoopbackAddress(), 53);

    private final DnsConfig config;
    private final Executor loop;
    private final LongSupplier clock;
    private final ZoneTable zones;
    private NetworkStack stack;
    private final List<Ipv6Address> bound = new java.util.ArrayList<>();
    private volatile boolean closed;

    // Host resolver state, re-read when the files change (loop only).
    private HostsFile hosts = HostsFile.EMPTY;
    private UpstreamResolver upstream;
    private Object resolvStamp;
    private Object hostsStamp;
    private long nextReloadCheck;
    private int inFlight;
    /** Upstream queries outstanding per guest source address (loop only). */
    private final java.util.HashMap<Ipv6Address, Integer> inFlightByClient = new java.util.HashMap<>();
    /** The guest whose query {@link #answer} is working on (set around the synchronous part), 0 for none. */
    private Ipv6Address currentClient;

    private final Counters.Counter queries;
    private final Counters.Counter udpQueries;
    private final Counters.Counter tcpQueries;
    private final Counters.Counter runt;
    private final Counters.Counter notQuery;
    private final Counters.Counter formErr;
    private final Counters.Counter notImp;
    private final Counters.Counter refused;
    private final Counters.Counter badVers;
    private final Counters.Counter zoneAnswers;
    private final Counters.Counter zoneNoData;
    private final Counters.Counter zoneNxDomain;
    private final Counters.Counter hostsAnswers;
    private final Counters.Counter forwarded;
    private final Counters.Counter upstreamFailures;
    private final Counters.Counter upstreamErrorRcode;
    private final Counters.Counter inFlightLimit;
    private final Counters.Counter inFlightPerClientLimit;
    private final Counters.Counter truncated;
    private final Counters.Counter closedDrop;
    private final Counters.Counter internalError;
    private final Counters.Counter reloads;

    /**
     * A server not yet attached to any transport (tests, or a TCP-only front-end). Use {@link #install} for
     * the gateway.
     *
     * @param loop the network's event loop: upstream results are handed back through it
     * @param nanoClock monotonic nanoseconds (only paces re-reading resolv.conf and the hosts file)
     */
    public DnsServer(DnsConfig config, Counters counters, Executor loop, LongSupplier nanoClock) {
        this.config = config;
        this.loop = loop;
        this.clock = nanoClock;
        this.zones = new ZoneTable(config.zones());
        this.queries = counters.counter("dns.queries");
        this.udpQueries = counters.counter("dns.udp.queries");
        this.tcpQueries = counters.counter("dns.tcp.queries");
        this.runt = counters.counter("dns.runt");
        this.notQuery = counters.counter("dns.notQuery");
        this.formErr = counters.counter("dns.formErr");
        this.notImp = counters.counter("dns.notImp");
        this.refused = counters.counter("dns.refused");
        this.badVers = counters.counter("dns.badVers");
        this.zoneAnswers = counters.counter("dns.zone.answers");
        this.zoneNoData = counters.counter("dns.zone.noData");
        this.zoneNxDomain = counters.counter("dns.zone.nxDomain");
        this.hostsAnswers = counters.counter("dns.hosts.answers");
        this.forwarded = counters.counter("dns.forwarded");
        this.upstreamFailures = counters.counter("dns.upstream.failures");
        this.upstreamErrorRcode = counters.counter("dns.upstream.errorRcode");
        this.inFlightLimit = counters.counter("dns.inFlightLimit");
        this.inFlightPerClientLimit = counters.counter("dns.inFlightPerClientLimit");
        this.truncated = counters.counter("dns.truncated");
        this.closedDrop = counters.counter("dns.closedDrop");
        this.internalError = counters.counter("dns.internalError");
        this.reloads = counters.counter("dns.hostConfigReloads");
        reloadHostConfig(true);
        this.nextReloadCheck = clock.getAsLong() + config.reloadInterval().toNanos();
    }

    /**
     * Creates a server and binds it to UDP port 53 of the stack's gateway IP and, when the stack speaks IPv6, of
     * the gateway's IPv6 address and {@code fe80::1}. Call on the network's loop
     * (or before the loop runs).
     *
     * @param loop the network's event loop
     */
    public static DnsServer install(NetworkStack stack, DnsConfig config, Executor loop) {
        DnsServer s = new DnsServer(config, stack.counters(), loop, stack::now);
        s.stack = stack;
        s.bound.add(Ipv6Address.ofIpv4(stack.config().gatewayIp()));
        dev.gvproxy.stack.Ipv6Config v6 = stack.config().ipv6();
        if (v6.enabled()) {
            // Over IPv6 too: the gateway's ULA address (what RDNSS and DHCPv6 option 23 announce) and fe80::1.
            s.bound.add(v6.gateway());
            s.bound.add(v6.linkLocal());
        }
        for (Ipv6Address a : s.bound) {
            stack.udp().bind(a, PORT, s);
        }
        return s;
    }

    // ---------------------------------------------------------------- zones (any thread)

    /** The static zones in evaluation order ({@code GET /services/dns/all}). Any thread. */
    public List<Zone> zones() {
        return zones.zones();
    }

    /**
     * Adds or merges a zone ({@code POST /services/dns/add}, spec 3.5 merge rule). Any thread.
     *
     * @throws IllegalArgumentException for an invalid record regexp (nothing changes)
     */
    public void addZone(Zone zone) {
        zones.add(zone);
    }

    // ---------------------------------------------------------------- UDP front-end

    /** @param payload <b>borrowed</b>: the DNS message; copied, since an answer may come later */
    @Override
    public void datagram(UdpDatagram d, ByteBuf payload, long now) {
        if (closed) {
            closedDrop.inc();
            return;
        }
        CompletableFuture<byte[]> f = answer(ByteBufUtil.getBytes(payload), false, d.src()).toCompletableFuture();
        f.thenAccept(resp -> {
            if (resp == null) {
                return;
            }
            if (closed) {
                closedDrop.inc();
                return;
            }
            // An answer that comes later (forwarded upstream) is flushed by the network's driver like any output.
            stack.udp().send(d.dst(), d.dstPort(), d.src(), d.srcPort(), Unpooled.wrappedBuffer(resp), stack.now());
        });
    }

    /** Unbinds UDP 53 and drops answers still pending upstream. Call on the loop. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (stack != null) {
            for (Ipv6Address a : bound) {
                stack.udp().unbind(a, PORT);
            }
        }
    }

    /** Upstream queries outstanding now (loop only). */
    public int inFlight() {
        return inFlight;
    }

    // ---------------------------------------------------------------- the core

    /**
     * Answers one DNS message. Call on the loop; the stage completes on the loop (immediately for local
     * answers). Never completes exceptionally.
     *
     * @param query the raw message (not retained beyond this call's parsing)
     * @param tcp whether the answer goes back over TCP (65535-byte limit) or UDP (512 bytes, or the
     *     client's EDNS size capped by {@link DnsConfig#maxUdpPayload()}, with TC set when it does not fit)
     * @return the raw response, or {@code null} when nothing must be sent (counted)
     */
    public CompletionStage<byte[]> answer(byte[] query, boolean tcp) {
        return answer(query, tcp, 0);
    }

    /**
     * {@link #answer(byte[], boolean)} for a guest: its forwarded queries count against
     * {@link DnsConfig#maxInFlightPerClient()} ({@code dns.inFlightPerClientLimit} when it is full).
     *
     * @param clientIp the guest's source address, 0 for none
     */
    public CompletionStage<byte[]> answer(byte[] query, boolean tcp, int clientIp) {
        return answer(query, tcp, clientIp == 0 ? null : Ipv6Address.ofIpv4(clientIp));
    }

    /**
     * {@link #answer(byte[], boolean, int)} for a guest of either family (IPv4 as IPv4-mapped).
     *
     * @param client the guest's source address, null for none
     */
    public CompletionStage<byte[]> answer(byte[] query, boolean tcp, Ipv6Address client) {
        currentClient = client;
        try {
            return answerCounted(query, tcp);
        } finally {
            currentClient = null;
        }
    }

    private CompletionStage<byte[]> answerCounted(byte[] query, boolean tcp) {
        queries.inc();
        (tcp ? tcpQueries : udpQueries).inc();
        try {
            return answer0(query, tcp);
        } catch (RuntimeException e) {
            // A bug, not bad input: answer SERVFAIL rather than leave the client waiting.
            internalError.inc();
            return query.length >= Header.LENGTH ? done(rawError(query, Rcode.SERVFAIL)) : DROP;
        }
    }

    private CompletionStage<byte[]> answer0(byte[] raw, boolean tcp) {
        if (raw.length < Header.LENGTH) {
            runt.inc();
            return DROP;
        }
        if ((raw[2] & 0x80) != 0) {
            // A response sent to us: answering could loop between two servers.
            notQuery.inc();
            return DROP;
        }
        Message q;
        try {
            q = new Message(raw);
        } catch (IOException | RuntimeException e) {
            formErr.inc();
            return done(rawError(raw, Rcode.FORMERR));
        }
        if (q.getHeader().getOpcode() != Opcode.QUERY) {
            notImp.inc();
            return done(reply(q, Rcode.NOTIMP).toWire(UDP_MIN));
        }
        List<Record> questions = q.getSection(Section.QUESTION);
        int optCount = 0;
        for (Record r : q.getSection(Section.ADDITIONAL)) {
            if (r.getType() == Type.OPT) {
                optCount++;
            }
        }
        if (questions.size() != 1 || optCount > 1) {
            formErr.inc();
            return done(rawError(raw, Rcode.FORMERR));
        }
        Record question = questions.getFirst();
        int type = question.getType();
        OPTRecord opt = q.getOPT();
        int maxLen = tcp ? TCP_MAX
                : opt == null ? UDP_MIN
                : Math.max(UDP_MIN, Math.min(opt.getPayloadSize(), config.maxUdpPayload()));
        if (opt != null && opt.getVersion() != 0) {
            badVers.inc();
            Message m = reply(q, Rcode.BADVERS);
            m.removeAllRecords(Section.QUESTION);
            return done(wire(m, maxLen));
        }
        if (type == Type.OPT || (type >= Type.TKEY && type <= Type.MAILA)) {
            // AXFR/IXFR/MAILA/MAILB/TSIG... as a question: not something a forwarder serves.
            refused.inc();
            return done(wire(reply(q, Rcode.REFUSED), maxLen));
        }
        if (q.getTSIG() != null) {
            refused.inc();
            return done(wire(reply(q, Rcode.REFUSED), maxLen));
        }
        maybeReload();
        Message local = local(q, question);
        if (local != null) {
            return done(wire(local, maxLen));
        }
        return forward(q, question, maxLen);
    }

    /** The local answer (zones, then the hosts file), or {@code null} to forward. */
    private Message local(Message q, Record question) {
        int type = question.getType();
        int dclass = question.getDClass();
        if (dclass != DClass.IN && dclass != DClass.ANY) {
            return null;
        }
        Name name = question.getName();
        switch (zones.lookup(name.toString())) {
            case ZoneTable.Result.NotLocal n -> { }
            case ZoneTable.Result.NxDomain n -> {
                zoneNxDomain.inc();
                return reply(q, Rcode.NXDOMAIN);
            }
            case ZoneTable.Result.Address a -> {
                Message m = reply(q, Rcode.NOERROR);
                boolean answered = false;
                if ((type == Type.A || type == Type.ANY) && a.hasIpv4()) {
                    m.addRecord(new ARecord(name, DClass.IN, 0, Ipv4Address.toInet(a.ip())), Section.ANSWER);
                    answered = true;
                }
                if ((type == Type.AAAA || type == Type.ANY) && a.ip6() != null) {
                    m.addRecord(new AAAARecord(name, DClass.IN, 0, a.ip6().toInet()), Section.ANSWER);
                    answered = true;
                }
                (answered ? zoneAnswers : zoneNoData).inc();
                return m;
            }
        }
        if (type == Type.A || type == Type.AAAA) {
            List<InetAddress> addrs = hosts.addresses(name.toString());
            if (addrs == null) {
                return null;
            }
            // As the host's resolver does: a name in the hosts file is answered from it alone, even when it
            // has no address of the asked family (then: no data).
            hostsAnswers.inc();
            Message m = reply(q, Rcode.NOERROR);
            for (InetAddress a : addrs) {
                if (type == Type.A && a instanceof Inet4Address v4) {
                    m.addRecord(new ARecord(name, DClass.IN, 0, v4), Section.ANSWER);
                } else if (type == Type.AAAA && a instanceof Inet6Address v6) {
                    m.addRecord(new AAAARecord(name, DClass.IN, 0, v6), Section.ANSWER);
                }
            }
            return m;
        }
        if (type == Type.PTR) {
            Inet4Address a = reverseV4(name);
            String host = a == null ? null : hosts.name(a);
            if (host == null) {
                return null;
            }
            try {
                Message m = reply(q, Rcode.NOERROR);
                m.addRecord(new PTRRecord(name, DClass.IN, 0, Name.fromString(host, Name.root)), Section.ANSWER);
                hostsAnswers.inc();
                return m;
            } catch (TextParseException e) {
                return null;
            }
        }
        return null;
    }

    private CompletionStage<byte[]> forward(Message q, Record question, int maxLen) {
        if (inFlight >= config.maxInFlight()) {
            inFlightLimit.inc();
            return done(wire(reply(q, Rcode.SERVFAIL), maxLen));
        }
        Ipv6Address client = currentClient;
        if (client != null && inFlightByClient.getOrDefault(client, 0) >= config.maxInFlightPerClient()) {
            inFlightPerClientLimit.inc();
            return done(wire(reply(q, Rcode.SERVFAIL), maxLen));
        }
        if (client != null) {
            inFlightByClient.merge(client, 1, Integer::sum);
        }
        inFlight++;
        forwarded.inc();
        OPTRecord opt = q.getOPT();
        boolean dnssecOk = opt != null && (opt.getFlags() & ExtendedFlags.DO) != 0;
        boolean ad = q.getHeader().getFlag(Flags.AD);
        boolean cd = q.getHeader().getFlag(Flags.CD);
        return upstream.resolve(question, dnssecOk, cd).handle((ans, err) -> {
            inFlight--;
            if (client != null) {
                inFlightByClient.computeIfPresent(client, (k, n) -> n <= 1 ? null : n - 1);
            }
            if (closed) {
                closedDrop.inc();
                return null;
            }
            try {
                if (err != null) {
                    upstreamFailures.inc();
                    return wire(reply(q, Rcode.SERVFAIL), maxLen);
                }
                return wire(fromUpstream(q, question, ans, dnssecOk || ad), maxLen);
            } catch (RuntimeException e) {
                internalError.inc();
                return wire(reply(q, Rcode.SERVFAIL), maxLen);
            }
        });
    }

    private Message fromUpstream(Message q, Record question, UpstreamResolver.Answer ans, boolean wantAd) {
        Message resp = ans.response();
        int rcode = resp.getRcode();
        if (rcode == Rcode.SERVFAIL || rcode == Rcode.REFUSED || rcode == Rcode.NOTIMP || rcode == Rcode.FORMERR
                || rcode > 15) {
            // The upstream's refusal or failure concerns our query, not the client's: report a server failure.
            upstreamErrorRcode.inc();
            return reply(q, Rcode.SERVFAIL);
        }
        Message m = reply(q, rcode);
        if (wantAd && resp.getHeader().getFlag(Flags.AD)) {
            m.getHeader().setFlag(Flags.AD);
        }
        if (ans.alias() != null) {
            // A search domain produced the answer: alias the asked name to it so stub resolvers accept it.
            m.addRecord(new CNAMERecord(question.getName(), question.getDClass(), 0, ans.alias()), Section.ANSWER);
        }
        for (int s : new int[] {Section.ANSWER, Section.AUTHORITY, Section.ADDITIONAL}) {
            for (Record r : resp.getSection(s)) {
                if (r instanceof OPTRecord || r instanceof TSIGRecord) {
                    continue;
                }
                m.addRecord(r, s);
            }
        }
        return m;
    }

    /** A response skeleton: the query's ID, opcode, RD and CD, RA set, question echoed, OPT if the query had one. */
    private Message reply(Message q, int rcode) {
        Message m = new Message(q.getHeader().getID());
        Header h = m.getHeader();
        h.setFlag(Flags.QR);
        h.setFlag(Flags.RA);
        h.setOpcode(q.getHeader().getOpcode());
        if (q.getHeader().getFlag(Flags.RD)) {
            h.setFlag(Flags.RD);
        }
        if (q.getHeader().getFlag(Flags.CD)) {
            h.setFlag(Flags.CD);
        }
        Record question = q.getQuestion();
        if (question != null) {
            m.addRecord(question, Section.QUESTION);
        }
        OPTRecord opt = q.getOPT();
        if (opt != null) {
            h.setRcode(rcode & 0xF);
            int flags = opt.getFlags() & ExtendedFlags.DO;
            m.addRecord(new OPTRecord(config.maxUdpPayload(), rcode >>> 4, 0, flags), Section.ADDITIONAL);
        } else {
            h.setRcode(rcode > 15 ? Rcode.SERVFAIL : rcode);
        }
        return m;
    }

    private byte[] wire(Message m, int maxLen) {
        byte[] w = m.toWire(maxLen);
        if (w.length >= Header.LENGTH && (w[2] & 0x02) != 0) {
            truncated.inc();
        }
        return w;
    }

    /** An error response built from the raw header alone (the rest did not parse): no sections. */
    private static byte[] rawError(byte[] raw, int rcode) {
        byte[] out = new byte[Header.LENGTH];
        out[0] = raw[0];
        out[1] = raw[1];
        out[2] = (byte) (0x80 | (raw[2] & 0x79)); // QR, opcode and RD from the query; AA, TC cleared
        out[3] = (byte) (0x80 | (raw[3] & 0x10) | (rcode & 0xF)); // RA, CD echoed
        return out;
    }

    private static CompletionStage<byte[]> done(byte[] b) {
        return CompletableFuture.completedFuture(b);
    }

    /** {@code d.c.b.a.in-addr.arpa.} -> a.b.c.d, or {@code null} for any other name. */
    static Inet4Address reverseV4(Name name) {
        if (name.labels() != 7 || !name.getLabelString(4).equalsIgnoreCase("in-addr")
                || !name.getLabelString(5).equalsIgnoreCase("arpa")) {
            return null;
        }
        int ip = 0;
        for (int i = 3; i >= 0; i--) {
            String l = name.getLabelString(i);
            if (l.isEmpty() || l.length() > 3 || (l.length() > 1 && l.charAt(0) == '0')) {
                return null;
            }
            int v = 0;
            for (int k = 0; k < l.length(); k++) {
                char c = l.charAt(k);
                if (c < '0' || c > '9') {
                    return null;
                }
                v = v * 10 + (c - '0');
            }
            if (v > 255) {
                return null;
            }
            ip = (ip << 8) | v;
        }
        return Ipv4Address.toInet(ip);
    }

    // ---------------------------------------------------------------- host configuration

    private void maybeReload() {
        long now = clock.getAsLong();
        if (now - nextReloadCheck < 0) {
            return;
        }
        nextReloadCheck = now + config.reloadInterval().toNanos();
        reloadHostConfig(false);
    }

    /** Re-reads resolv.conf and the hosts file if they changed (size, mtime or inode). */
    private void reloadHostConfig(boolean force) {
        Object rs = stamp(config.resolvConf());
        if (force || !Objects.equals(rs, resolvStamp)) {
            resolvStamp = rs;
            ResolvConf rc = config.resolvConf() == null ? ResolvConf.defaults() : ResolvConf.load(config.resolvConf());
            List<InetSocketAddress> servers = !config.upstreams().isEmpty() ? config.upstreams()
                    : !rc.nameservers().isEmpty() ? rc.nameservers()
                    : List.of(GLIBC_DEFAULT_SERVER);
            Duration timeout = config.timeout() != null ? config.timeout() : rc.timeout();
            int attempts = config.attempts() > 0 ? config.attempts() : rc.attempts();
            List<String> search = config.useSearch() ? rc.search() : List.of();
            upstream = new UpstreamResolver(servers, timeout, attempts, rc.rotate(), search, rc.ndots(),
                    config.upstreamUdpPayload(), loop);
            if (!force) {
                reloads.inc();
            }
        }
        Object hs = stamp(config.hostsFile());
        if (force || !Objects.equals(hs, hostsStamp)) {
            hostsStamp = hs;
            hosts = config.hostsFile() == null ? HostsFile.EMPTY : HostsFile.load(config.hostsFile());
            if (!force) {
                reloads.inc();
            }
        }
    }

    private static Object stamp(Path p) {
        if (p == null) {
            return null;
        }
        try {
            BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class);
            return List.of(a.lastModifiedTime(), a.size(), String.valueOf(a.fileKey()));
        } catch (IOException | RuntimeException e) {
            return "missing";
        }
    }

    /** The upstream servers currently in use (for logs and tests). */
    public List<InetSocketAddress> upstreamServers() {
        return upstream.servers();
    }
}
