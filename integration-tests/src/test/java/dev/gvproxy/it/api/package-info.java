/**
 * The HTTP API of a running gvproxy-java driven with the real {@code curl --unix-socket} (spec 4 and the
 * guest-less scenarios of spec 7.1): stats, cam, leases, DNS add/list, expose/list/unexpose with real host
 * listeners, error statuses and bodies, and {@code /tunnel}'s raw {@code OK}. gvproxy-java runs in-process
 * ({@code GvproxyMain.run}) with temporary unix sockets; only 127.0.0.1 is used.
 */
package dev.gvproxy.it.api;
