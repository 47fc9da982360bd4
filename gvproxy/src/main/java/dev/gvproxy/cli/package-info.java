/**
 * The {@code gvproxy-java} binary: gvproxy's command line (spec section 6) over one
 * {@link dev.gvproxy.network.VirtualNetwork}.
 *
 * <h2>Theory of operation</h2>
 * {@link dev.gvproxy.cli.GvproxyMain} parses Go-style flags ({@link dev.gvproxy.platform.cli.GoFlagSet}), merges
 * them with the YAML ({@link dev.gvproxy.config}), builds the network, opens the configured forwards through the
 * one port-forward registry, starts the listeners and the HTTP API (module api-http), SSH socket forwards
 * ({@link dev.gvproxy.ssh}) and the {@code ready} notification ({@link dev.gvproxy.notify}), and on SIGINT/SIGTERM
 * closes them in reverse. {@link dev.gvproxy.cli.PersistentState} keeps API-made changes across restarts;
 * {@link dev.gvproxy.cli.AotTraining} is the distribution's AOT-cache training run.
 *
 * <h2>Where the module stands</h2>
 * Top of the module graph: it depends on network and api-http, and is the only module with the binary's own
 * libraries (snakeyaml-engine, JSch, the slf4j binding that routes dnsjava's logging into java.util.logging).
 * The guest agent (module gvforwarder) is packed into the same {@code gvproxy-java.jar} through a runtime-only
 * dependency: no code here compiles against it, and it knows nothing of this module.
 */
package dev.gvproxy.cli;
