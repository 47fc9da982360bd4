/**
 * gvproxy's configuration: the {@code -config} YAML file (spec 3.6) and its merge with the command line (spec 6).
 *
 * <h2>Theory of operation</h2>
 * {@link dev.gvproxy.config.YamlConfig} reads the file with snakeyaml-engine into untyped trees and converts every
 * known key by hand, so a value of the wrong shape fails with its path ({@code stack.mtu: expected an integer,
 * got "big"}); unknown keys are ignored, as gopkg.in/yaml.v3 does. {@link dev.gvproxy.config.GvproxyConfig#resolve}
 * merges it with {@link dev.gvproxy.config.CliArgs} under gvproxy's precedence rules and legacy/config mode;
 * {@link dev.gvproxy.config.GvproxyConfig#validate} and {@code addCliSshForwards} then run the start-up checks in
 * gvproxy's order with its messages, and produce the {@link dev.gvproxy.stack.StackConfig} and the service
 * settings (zones, forwards, leases, VPNKit MACs) the CLI wires into the network.
 *
 * <p>Differences from gvproxy: IPs in zones, NAT, leases, virtual IPs and forwards are checked at start-up
 * (gvproxy fails later or not at all); MTU must be 576..65520 (the stack's range).
 *
 * <p>gvproxy-java's own key {@code stack.egress} (the egress policy) is shape-checked here like the others (a
 * sequence of mappings of scalars) and its values are read by the one parser the HTTP API also uses,
 * {@code EgressPolicy.fromMaps}: one set of rules and messages ({@code stack.egress[1].cidr: ...}) for both; unlike
 * other keys, an unknown field inside a rule is an error, since a misspelt {@code port} would mean every port.
 */
package dev.gvproxy.config;
