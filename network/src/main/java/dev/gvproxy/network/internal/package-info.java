/**
 * Not API: the parts of a virtual network that gvproxy-java's own modules (api-http, gvproxy, tests, benchmarks)
 * wire together; may change without notice. Embedders use {@link dev.gvproxy.network.VirtualNetwork}'s facade.
 */
package dev.gvproxy.network.internal;
