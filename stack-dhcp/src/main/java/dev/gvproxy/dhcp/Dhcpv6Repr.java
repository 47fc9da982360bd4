package dev.gvproxy.dhcp;

import dev.gvproxy.stack.wire.Ipv6Address;
import io.netty.buffer.ByteBuf;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A DHCPv6 message as a value: what the server reads from a client's message ({@link #parse}, after
 * {@link Dhcpv6Packet#check}) and what it writes as an Advertise or Reply ({@link #emit}). Options the server
 * does not use are skipped when parsing; absent ones are null/empty and not emitted.
 *
 * @param type message type ({@link Dhcpv6Option})
 * @param transactionId 24 bits
 * @param clientId option 1, or null
 * @param serverId option 2, or null
 * @param iaNa option 3s, in order
 * @param rapidCommit option 14 present
 * @param oro option 6's requested codes (empty when absent)
 * @param hasOro option 6 present
 * @param status top-level option 13, or null
 * @param dnsServers option 23 (empty: not emitted)
 * @param domainList option 24 data, already encoded (RFC 1035 names; null: not emitted)
 */
public record Dhcpv6Repr(
        int type,
        int transactionId,
        byte[] clientId,
        byte[] serverId,
        List<IaNa> iaNa,
        boolean rapidCommit,
        int[] oro,
        boolean hasOro,
        Status status,
        List<Ipv6Address> dnsServers,
        byte[] domainList) {

    /** A status code option (RFC 8415 section 21.13). */
    public record Status(int code, String message) {
        int len() {
            return 2 + message.getBytes(StandardCharsets.UTF_8).length;
        }

        void emit(ByteBuf b) {
            byte[] m = message.getBytes(StandardCharsets.UTF_8);
            b.writeShort(Dhcpv6Option.STATUS_CODE).writeShort(2 + m.length).writeShort(code).writeBytes(m);
        }
    }

    /** One IAADDR (RFC 8415 section 21.6); lifetimes in seconds. */
    public record IaAddr(Ipv6Address address, long preferred, long valid) {}

    /** One IA_NA (RFC 8415 section 21.4); {@code status} is its nested status code, or null. */
    public record IaNa(int iaid, long t1, long t2, List<IaAddr> addresses, Status status) {
        public IaNa {
            addresses = List.copyOf(addresses);
        }

        int len() {
            int n = Dhcpv6Packet.IA_NA_FIXED + addresses.size() * (4 + Dhcpv6Packet.IAADDR_FIXED);
            return status == null ? n : n + 4 + status.len();
        }
    }

    public Dhcpv6Repr {
        iaNa = List.copyOf(iaNa);
        dnsServers = List.copyOf(dnsServers);
        oro = oro == null ? new int[0] : oro.clone();
    }

    /** True when option {@code code} was asked for in option 6, or no option 6 was sent. */
    public boolean requested(int code) {
        if (!hasOro) {
            return true;
        }
        for (int c : oro) {
            if (c == code) {
                return true;
            }
        }
        return false;
    }

    /**
     * Reads a message {@link Dhcpv6Packet#check} accepted.
     *
     * @param buf <b>borrowed</b>
     */
    public static Dhcpv6Repr parse(ByteBuf buf, int off, int len) {
        int end = off + len;
        byte[] client = null;
        byte[] server = null;
        List<IaNa> ias = new ArrayList<>();
        boolean rapid = false;
        int[] oro = null;
        Status status = null;
        List<Ipv6Address> dns = new ArrayList<>();
        byte[] domains = null;
        for (int p = off + Dhcpv6Packet.HEADER_LEN; p < end; ) {
            int code = buf.getUnsignedShort(p);
            int olen = buf.getUnsignedShort(p + 2);
            int data = p + Dhcpv6Packet.OPTION_HEADER;
            switch (code) {
                case Dhcpv6Option.CLIENTID -> client = bytes(buf, data, olen);
                case Dhcpv6Option.SERVERID -> server = bytes(buf, data, olen);
                case Dhcpv6Option.IA_NA -> ias.add(parseIa(buf, data, olen));
                case Dhcpv6Option.RAPID_COMMIT -> rapid = true;
                case Dhcpv6Option.ORO -> {
                    oro = new int[olen / 2];
                    for (int i = 0; i < oro.length; i++) {
                        oro[i] = buf.getUnsignedShort(data + 2 * i);
                    }
                }
                case Dhcpv6Option.STATUS_CODE -> status = olen < 2 ? null : new Status(buf.getUnsignedShort(data),
                        buf.toString(data + 2, olen - 2, StandardCharsets.UTF_8));
                case Dhcpv6Option.DNS_SERVERS -> {
                    for (int i = 0; i + 16 <= olen; i += 16) {
                        dns.add(Ipv6Address.get(buf, data + i));
                    }
                }
                case Dhcpv6Option.DOMAIN_LIST -> domains = bytes(buf, data, olen);
                default -> { }
            }
            p = data + olen;
        }
        return new Dhcpv6Repr(Dhcpv6Packet.msgType(buf, off), Dhcpv6Packet.transactionId(buf, off), client, server,
                ias, rapid, oro, oro != null, status, dns, domains);
    }

    private static IaNa parseIa(ByteBuf buf, int off, int len) {
        List<IaAddr> addrs = new ArrayList<>();
        Status status = null;
        int end = off + len;
        for (int p = off + Dhcpv6Packet.IA_NA_FIXED; p < end; ) {
            int code = buf.getUnsignedShort(p);
            int olen = buf.getUnsignedShort(p + 2);
            int data = p + Dhcpv6Packet.OPTION_HEADER;
            if (code == Dhcpv6Option.IAADDR) {
                addrs.add(new IaAddr(Ipv6Address.get(buf, data), buf.getUnsignedInt(data + 16),
                        buf.getUnsignedInt(data + 20)));
            } else if (code == Dhcpv6Option.STATUS_CODE && olen >= 2) {
                status = new Status(buf.getUnsignedShort(data), buf.toString(data + 2, olen - 2,
                        StandardCharsets.UTF_8));
            }
            p = data + olen;
        }
        return new IaNa(buf.getInt(off), buf.getUnsignedInt(off + 4), buf.getUnsignedInt(off + 8), addrs, status);
    }

    private static byte[] bytes(ByteBuf buf, int off, int len) {
        byte[] b = new byte[len];
        buf.getBytes(off, b);
        return b;
    }

    /** Bytes {@link #emit} writes. */
    public int bufferLen() {
        int n = Dhcpv6Packet.HEADER_LEN;
        n += clientId == null ? 0 : 4 + clientId.length;
        n += serverId == null ? 0 : 4 + serverId.length;
        for (IaNa ia : iaNa) {
            n += 4 + ia.len();
        }
        n += rapidCommit ? 4 : 0;
        n += status == null ? 0 : 4 + status.len();
        n += dnsServers.isEmpty() ? 0 : 4 + 16 * dnsServers.size();
        n += domainList == null ? 0 : 4 + domainList.length;
        return n;
    }

    /** Writes the message (server order: ids, IAs, rapid commit, status, DNS, domains). */
    public void emit(ByteBuf b) {
        b.writeByte(type).writeMedium(transactionId);
        if (serverId != null) {
            b.writeShort(Dhcpv6Option.SERVERID).writeShort(serverId.length).writeBytes(serverId);
        }
        if (clientId != null) {
            b.writeShort(Dhcpv6Option.CLIENTID).writeShort(clientId.length).writeBytes(clientId);
        }
        for (IaNa ia : iaNa) {
            b.writeShort(Dhcpv6Option.IA_NA).writeShort(ia.len())
                    .writeInt(ia.iaid).writeInt((int) ia.t1).writeInt((int) ia.t2);
            for (IaAddr a : ia.addresses) {
                b.writeShort(Dhcpv6Option.IAADDR).writeShort(Dhcpv6Packet.IAADDR_FIXED);
                a.address.write(b);
                b.writeInt((int) a.preferred).writeInt((int) a.valid);
            }
            if (ia.status != null) {
                ia.status.emit(b);
            }
        }
        if (rapidCommit) {
            b.writeShort(Dhcpv6Option.RAPID_COMMIT).writeShort(0);
        }
        if (status != null) {
            status.emit(b);
        }
        if (!dnsServers.isEmpty()) {
            b.writeShort(Dhcpv6Option.DNS_SERVERS).writeShort(16 * dnsServers.size());
            for (Ipv6Address a : dnsServers) {
                a.write(b);
            }
        }
        if (domainList != null) {
            b.writeShort(Dhcpv6Option.DOMAIN_LIST).writeShort(domainList.length).writeBytes(domainList);
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Dhcpv6Repr r && type == r.type && transactionId == r.transactionId
                && Arrays.equals(clientId, r.clientId) && Arrays.equals(serverId, r.serverId) && iaNa.equals(r.iaNa)
                && rapidCommit == r.rapidCommit && Arrays.equals(oro, r.oro) && hasOro == r.hasOro
                && java.util.Objects.equals(status, r.status) && dnsServers.equals(r.dnsServers)
                && Arrays.equals(domainList, r.domainList);
    }

    @Override
    public int hashCode() {
        return 31 * type + transactionId;
    }
}
