package dev.gvproxy.dns;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.xbill.DNS.DClass;
import org.xbill.DNS.Flags;
import org.xbill.DNS.Message;
import org.xbill.DNS.Name;
import org.xbill.DNS.OPTRecord;
import org.xbill.DNS.Rcode;
import org.xbill.DNS.Record;
import org.xbill.DNS.SOARecord;
import org.xbill.DNS.Section;
import org.xbill.DNS.Type;

/**
 * An authoritative DNS server on 127.0.0.1 (UDP and TCP on the same port) answering from an in-memory record
 * list, for tests only: never talks to anything but its clients on loopback.
 */
public final class FakeUpstream implements AutoCloseable {
    private final DatagramSocket udp;
    private final ServerSocket tcp;
    private final Map<String, List<Record>> records = new ConcurrentHashMap<>();
    private final Map<String, Boolean> names = new ConcurrentHashMap<>();
    final AtomicInteger udpQueries = new AtomicInteger();
    final AtomicInteger tcpQueries = new AtomicInteger();
    final List<Message> received = new CopyOnWriteArrayList<>();
    /** When not -1, every query is answered with this rcode and no records. */
    volatile int forcedRcode = -1;
    private volatile boolean closed;
    private final InetAddress bind;

    public FakeUpstream() throws IOException {
        this(InetAddress.getLoopbackAddress());
    }

    /** @param bind a loopback address (127.0.0.1 or ::1) */
    public FakeUpstream(InetAddress bind) throws IOException {
        this.bind = bind;
        DatagramSocket u = null;
        ServerSocket t = null;
        for (int i = 0; i < 20 && t == null; i++) {
            u = new DatagramSocket(new InetSocketAddress(bind, 0));
            try {
                t = new ServerSocket();
                t.bind(new InetSocketAddress(bind, u.getLocalPort()));
            } catch (IOException e) {
                t.close();
                t = null;
                u.close();
            }
        }
        if (t == null) {
            throw new IOException("no port free for both UDP and TCP");
        }
        this.udp = u;
        this.tcp = t;
        Thread.ofPlatform().daemon().name("fake-dns-udp").start(this::serveUdp);
        Thread.ofPlatform().daemon().name("fake-dns-tcp").start(this::serveTcp);
    }

    public InetSocketAddress address() {
        return new InetSocketAddress(bind, udp.getLocalPort());
    }

    void add(Record r) {
        records.computeIfAbsent(key(r.getName(), r.getType()), k -> new CopyOnWriteArrayList<>()).add(r);
        names.put(r.getName().toString().toLowerCase(Locale.ROOT), true);
    }

    void add(String zoneText) throws IOException {
        for (String line : zoneText.split("\n")) {
            if (!line.isBlank()) {
                add(parse(line));
            }
        }
    }

    private static Record parse(String line) throws IOException {
        // "name ttl type rdata..."
        String[] f = line.strip().split("\\s+", 4);
        return Record.fromString(Name.fromString(f[0]), Type.value(f[2]), DClass.IN, Long.parseLong(f[1]), f[3], Name.root);
    }

    /** The records every test uses (names under {@code test.}, addresses from 198.18.0.0/15). */
    public static FakeUpstream standard() throws IOException {
        return standard(InetAddress.getLoopbackAddress());
    }

    /** {@link #standard()} listening on {@code bind} (127.0.0.1 or ::1). */
    public static FakeUpstream standard(InetAddress bind) throws IOException {
        FakeUpstream u = new FakeUpstream(bind);
        u.add("""
                a.test. 300 A 198.18.0.10
                a.test. 300 A 198.18.0.11
                a.test. 300 AAAA 2001:db8::10
                mx.test. 300 MX 10 mail.test.
                mail.test. 300 A 198.18.0.25
                _imaps._tcp.test. 300 SRV 0 1 993 mail.test.
                10.0.18.198.in-addr.arpa. 300 PTR a.test.
                cname.test. 300 CNAME a.test.
                host.corp.test. 300 A 198.18.0.20
                caa.test. 300 CAA 0 issue "letsencrypt.org"
                """);
        String long1 = "x".repeat(255) + "\" \"" + "y".repeat(100);
        u.add("txt.test. 300 TXT \"" + long1 + "\"");
        u.add("txt.test. 300 TXT \"v=spf1 -all\" \"second string\"");
        for (int i = 0; i < 60; i++) {
            u.add("big.test. 300 A 198.18.1." + i);
        }
        return u;
    }

    /** The records this server holds for a name and type (what a forwarded answer must equal). */
    List<Record> get(String name, int type) throws IOException {
        return records.getOrDefault(key(Name.fromString(name), type), List.of());
    }

    private static String key(Name n, int type) {
        return n.toString().toLowerCase(Locale.ROOT) + "/" + type;
    }

    Message respond(Message q) {
        received.add(q);
        Message r = new Message(q.getHeader().getID());
        r.getHeader().setFlag(Flags.QR);
        r.getHeader().setFlag(Flags.AA);
        if (q.getHeader().getFlag(Flags.RD)) {
            r.getHeader().setFlag(Flags.RD);
        }
        Record question = q.getQuestion();
        r.addRecord(question, Section.QUESTION);
        if (q.getOPT() != null) {
            r.addRecord(new OPTRecord(4096, 0, 0), Section.ADDITIONAL);
        }
        if (forcedRcode >= 0) {
            r.getHeader().setRcode(forcedRcode);
            return r;
        }
        Name name = question.getName();
        if (!names.containsKey(name.toString().toLowerCase(Locale.ROOT))) {
            r.getHeader().setRcode(Rcode.NXDOMAIN);
            r.addRecord(soa(), Section.AUTHORITY);
            return r;
        }
        List<Record> rrs = new ArrayList<>(records.getOrDefault(key(name, question.getType()), List.of()));
        if (rrs.isEmpty()) {
            rrs.addAll(records.getOrDefault(key(name, Type.CNAME), List.of()));
        }
        for (Record rr : rrs) {
            r.addRecord(rr, Section.ANSWER);
        }
        if (rrs.isEmpty()) {
            r.addRecord(soa(), Section.AUTHORITY);
        }
        return r;
    }

    private static Record soa() {
        try {
            return new SOARecord(Name.fromString("test."), DClass.IN, 60, Name.fromString("ns.test."),
                    Name.fromString("admin.test."), 1, 60, 60, 60, 60);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private void serveUdp() {
        byte[] buf = new byte[65535];
        while (!closed) {
            DatagramPacket p = new DatagramPacket(buf, buf.length);
            try {
                udp.receive(p);
            } catch (IOException e) {
                return;
            }
            udpQueries.incrementAndGet();
            try {
                Message q = new Message(java.util.Arrays.copyOf(p.getData(), p.getLength()));
                OPTRecord opt = q.getOPT();
                int max = opt == null ? 512 : Math.max(512, opt.getPayloadSize());
                byte[] out = respond(q).toWire(max);
                udp.send(new DatagramPacket(out, out.length, p.getSocketAddress()));
            } catch (IOException | RuntimeException e) {
                // malformed: no answer
            }
        }
    }

    private void serveTcp() {
        while (!closed) {
            Socket s;
            try {
                s = tcp.accept();
            } catch (IOException e) {
                return;
            }
            Thread.ofPlatform().daemon().name("fake-dns-tcp-conn").start(() -> serveConnection(s));
        }
    }

    private void serveConnection(Socket s) {
        try (s; DataInputStream in = new DataInputStream(s.getInputStream());
                DataOutputStream out = new DataOutputStream(s.getOutputStream())) {
            while (true) {
                int len = in.readUnsignedShort();
                byte[] b = in.readNBytes(len);
                tcpQueries.incrementAndGet();
                byte[] resp = respond(new Message(b)).toWire(65535);
                out.writeShort(resp.length);
                out.write(resp);
                out.flush();
            }
        } catch (IOException | RuntimeException e) {
            // connection done
        }
    }

    public int queries() {
        return udpQueries.get() + tcpQueries.get();
    }

    @Override
    public void close() {
        closed = true;
        udp.close();
        try {
            tcp.close();
        } catch (IOException e) {
            // closing
        }
    }

    /** A UDP socket on 127.0.0.1 that never answers. */
    public static DatagramSocket deadServer() throws SocketException {
        return new DatagramSocket(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
    }
}
