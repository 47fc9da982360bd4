/**
 * The gateway's DNS server seen by a real resolver client ({@code dig}) in a network namespace guest. The
 * server always forwards to {@link dev.gvproxy.dns.FakeUpstream} on 127.0.0.1 and reads test resolv.conf
 * and hosts files, so no query ever reaches a real resolver.
 */
package dev.gvproxy.it.dns;
