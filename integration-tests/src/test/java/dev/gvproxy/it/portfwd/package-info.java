/**
 * Real-guest tests of host -> guest port forwards ({@code dev.gvproxy.forwarder.PortForwarder}): a namespace guest
 * configured by DHCP runs socat servers; host clients on 127.0.0.1 or a unix socket reach them through exposed
 * forwards and through the {@code /tunnel} relay.
 */
package dev.gvproxy.it.portfwd;
