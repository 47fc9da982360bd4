/**
 * The value types and small interfaces that the library, the HTTP API and the command line share: port forwards
 * and their one registry, DNS zones and records, lease and tunnel sources, and the writer and parsers of Go's
 * shapes (JSON, {@code net} addresses and error texts).
 *
 * <h2>Theory of operation</h2>
 * {@link dev.gvproxy.model.PortForwardRegistry} is the one place a forward is keyed, checked (duplicates, guest
 * ownership and policy), recorded and listed, whoever asks (YAML, command line, host API, in-VM API, SSH
 * forwards, an embedder); it opens forwards through an {@link dev.gvproxy.model.PortForwardRegistry.Opener} such
 * as {@link dev.gvproxy.model.PortForwarderOpener} over the network's forwarder, which owns only the live
 * listeners (no keys, no list). {@link dev.gvproxy.model.GoJson#string} is the project's one writer of JSON
 * strings as Go escapes them. {@link dev.gvproxy.model.GoJson} and {@link dev.gvproxy.model.GoNet} reproduce Go's
 * {@code encoding/json} and {@code net} behaviour and error texts, because gvproxy's clients show those texts to
 * users.
 *
 * <h2>Why it is its own package</h2>
 * These types used to live in the HTTP API's package, so the YAML configuration, notifications and SSH forwards
 * imported the API to name a port forward. Here they sit below every front end, in the embedding module, and
 * carry no HTTP.
 */
package dev.gvproxy.model;
