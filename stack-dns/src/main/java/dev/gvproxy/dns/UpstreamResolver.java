package dev.gvproxy.dns;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executor;
import org.xbill.DNS.Flags;
import org.xbill.DNS.Message;
import org.xbill.DNS.Name;
import org.xbill.DNS.NameTooLongException;
import org.xbill.DNS.OPTRecord;
import org.xbill.DNS.Rcode;
import org.xbill.DNS.Record;
import org.xbill.DNS.Section;
import org.xbill.DNS.SimpleResolver;
import org.xbill.DNS.TextParseException;

/**
 * Forwards one question to the host's resolvers the way the host's stub resolver would: every server in
 * order (or rotated), {@code attempts} rounds, {@code timeout} per try; a server answering SERVFAIL, REFUSED
 * or NOTIMP is skipped for the next one. Names with fewer than {@code ndots} dots are tried with each search
 * domain before the name itself.
 *
 * <p>I/O runs on dnsjava's own NIO selector thread; every completion is hopped back onto {@code loop}, so
 * callers observe results on the network's event loop only. A truncated UDP answer is retried over TCP by
 * dnsjava.
 */
final class UpstreamResolver {

    /**
     * An upstream answer.
     *
     * @param response the upstream's message (its ID is ours, not the client's)
     * @param alias when a search domain produced the answer, the name actually resolved, else {@code null}
     */
    record Answer(Message response, Name alias) {}

    private final List<SimpleResolver> servers = new ArrayList<>();
    private final int attempts;
    private final boolean rotate;
    private final List<Name> search = new ArrayList<>();
    private final int ndots;
    private final int ednsPayload;
    private final Executor loop;
    private final Duration timeout;
    private int next;

    UpstreamResolver(List<InetSocketAddress> upstreams, Duration timeout, int attempts, boolean rotate,
            List<String> searchDomains, int ndots, int ednsPayload, Executor loop) {
        for (InetSocketAddress a : upstreams) {
            SimpleResolver r = new SimpleResolver(a);
            r.setTimeout(timeout);
            servers.add(r);
        }
        for (String d : searchDomains) {
            try {
                search.add(Name.fromString(d, Name.root));
            } catch (TextParseException e) {
                // not a valid domain: glibc would send it anyway and fail; skipping is equivalent
            }
        }
        this.timeout = timeout;
        this.attempts = Math.max(1, attempts);
        this.rotate = rotate;
        this.ndots = ndots;
        this.ednsPayload = ednsPayload;
        this.loop = loop;
    }

    List<InetSocketAddress> servers() {
        List<InetSocketAddress> out = new ArrayList<>();
        for (SimpleResolver r : servers) {
            out.add(r.getAddress());
        }
        return out;
    }

    Duration timeout() {
        return timeout;
    }

    int attempts() {
        return attempts;
    }

    /**
     * Resolves {@code question}; completes on the loop, exceptionally when no server answered.
     *
     * @param dnssecOk set DO towards the upstream (the client asked for DNSSEC records)
     * @param checkingDisabled set CD towards the upstream
     */
    CompletionStage<Answer> resolve(Record question, boolean dnssecOk, boolean checkingDisabled) {
        CompletableFuture<Answer> result = new CompletableFuture<>();
        List<Name> candidates = candidates(question.getName());
        tryCandidate(question, candidates, 0, dnssecOk, checkingDisabled, result);
        return result;
    }

    /** The names to try, in order: search-expanded first for short names, the name itself last. */
    private List<Name> candidates(Name qname) {
        int dots = qname.labels() - 2; // absolute: "a.b." has 3 labels (root included) and 1 dot
        if (search.isEmpty() || dots < 0 || dots >= ndots) {
            return List.of(qname);
        }
        List<Name> out = new ArrayList<>();
        Name rel = qname.relativize(Name.root);
        for (Name d : search) {
            try {
                out.add(Name.concatenate(rel, d));
            } catch (NameTooLongException e) {
                // skip: the expanded name cannot exist
            }
        }
        out.add(qname);
        return out;
    }

    private void tryCandidate(Record question, List<Name> candidates, int i, boolean dnssecOk,
            boolean checkingDisabled, CompletableFuture<Answer> result) {
        Name name = candidates.get(i);
        boolean last = i == candidates.size() - 1;
        Message q = Message.newQuery(Record.newRecord(name, question.getType(), question.getDClass()));
        if (checkingDisabled) {
            q.getHeader().setFlag(Flags.CD);
        }
        q.addRecord(new OPTRecord(ednsPayload, 0, 0, dnssecOk ? Flags.DO : 0), Section.ADDITIONAL);
        send(q).whenCompleteAsync((resp, err) -> {
            if (err != null) {
                // No server reachable: further search names would only multiply the wait.
                result.completeExceptionally(err);
            } else if (last) {
                // The name itself (always last): its answer stands, whatever the rcode.
                result.complete(new Answer(resp, null));
            } else if (resp.getRcode() == Rcode.NOERROR && !resp.getSection(Section.ANSWER).isEmpty()) {
                result.complete(new Answer(resp, name));
            } else {
                tryCandidate(question, candidates, i + 1, dnssecOk, checkingDisabled, result);
            }
        }, loop);
    }

    /** One query over all servers and attempts; completes (on the loop) with the first usable response. */
    CompletionStage<Message> send(Message q) {
        CompletableFuture<Message> result = new CompletableFuture<>();
        int n = servers.size();
        if (n == 0) {
            result.completeExceptionally(new IllegalStateException("no upstream DNS servers"));
            return result;
        }
        int start = rotate ? next++ % n : 0;
        if (next < 0) {
            next = 0;
        }
        tryServer(q, start, 0, n * attempts, result);
        return result;
    }

    private void tryServer(Message q, int start, int tryNo, int tries, CompletableFuture<Message> result) {
        SimpleResolver r = servers.get((start + tryNo) % servers.size());
        r.sendAsync(q, loop).whenCompleteAsync((resp, err) -> {
            boolean lastTry = tryNo + 1 >= tries;
            if (err == null && (lastTry || !retryable(resp.getRcode()))) {
                result.complete(resp);
            } else if (lastTry) {
                result.completeExceptionally(err);
            } else {
                tryServer(q, start, tryNo + 1, tries, result);
            }
        }, loop);
    }

    private static boolean retryable(int rcode) {
        return rcode == Rcode.SERVFAIL || rcode == Rcode.REFUSED || rcode == Rcode.NOTIMP;
    }
}
