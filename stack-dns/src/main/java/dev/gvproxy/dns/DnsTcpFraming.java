package dev.gvproxy.dns;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import java.util.ArrayList;
import java.util.List;

/**
 * DNS over TCP framing (RFC 1035 4.2.2, RFC 7766 8): each message is preceded by its length as a 2-byte
 * big-endian integer. Pure functions plus an incremental decoder; no I/O, no Netty pipeline, so any TCP
 * front-end (the stack's TCP endpoint, or a host socket) can use it.
 */
public final class DnsTcpFraming {
    public static final int MAX_MESSAGE = 65535;

    private DnsTcpFraming() {}

    /**
     * Prefixes {@code message} with its length.
     *
     * @return a new buffer the caller owns
     * @throws IllegalArgumentException for a message longer than 65535 bytes
     */
    public static ByteBuf encode(ByteBufAllocator alloc, byte[] message) {
        if (message.length > MAX_MESSAGE) {
            throw new IllegalArgumentException("DNS message too long for TCP: " + message.length);
        }
        ByteBuf b = alloc.buffer(2 + message.length);
        b.writeShort(message.length);
        b.writeBytes(message);
        return b;
    }

    /**
     * Splits a byte stream into messages, whatever the segmentation: a message may arrive byte by byte or
     * many messages in one read. Holds at most one partial message (at most 65537 bytes). Not thread-safe:
     * one per connection, used on its loop.
     */
    public static final class Decoder {
        private int headerHave;
        private int length;
        private byte[] body;
        private int bodyHave;

        /**
         * Consumes {@code data} entirely.
         *
         * @param data <b>borrowed</b>; its reader index is advanced to the end
         * @return the messages completed by these bytes, in order (a zero-length frame yields an empty array)
         */
        public List<byte[]> decode(ByteBuf data) {
            List<byte[]> out = new ArrayList<>(1);
            while (data.isReadable()) {
                if (headerHave < 2) {
                    length = (length << 8) | data.readUnsignedByte();
                    if (++headerHave == 2) {
                        body = new byte[length];
                        bodyHave = 0;
                    }
                } else {
                    int n = Math.min(data.readableBytes(), length - bodyHave);
                    data.readBytes(body, bodyHave, n);
                    bodyHave += n;
                }
                if (headerHave == 2 && bodyHave == length) {
                    out.add(body);
                    body = null;
                    headerHave = 0;
                    length = 0;
                    bodyHave = 0;
                }
            }
            return out;
        }

        /** Bytes of an incomplete message held (length prefix included). */
        public int buffered() {
            return headerHave + bodyHave;
        }
    }
}
