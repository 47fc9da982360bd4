/**
 * Real-guest tests of UDP and ICMP forwarding: a namespace guest ({@link dev.gvproxy.it.netns.NetnsGuest}) reaches
 * servers on the host's 127.0.0.1 through the gateway's NAT address 192.168.127.254. Ping sockets are opened inside a
 * test-made namespace where the test allows them (so the host's {@code net.ipv4.ping_group_range} is left alone);
 * UDP uses ordinary host sockets on 127.0.0.1.
 */
package dev.gvproxy.it.forward;
