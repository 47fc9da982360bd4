/**
 * gvproxy-java's command line and YAML file reaching the library's options (issue 12 item 1), each checked by
 * what a real namespace guest sees: an in-process gvproxy-java ({@code GvproxyMain.run}) started once with the
 * option as a flag and once as a {@code -config} YAML key, a gvforwarder-java guest in a network namespace, and
 * test-made namespaces on veth pairs standing for the host's LAN and for a link-local (169.254.x.y) service.
 */
package dev.gvproxy.it.cli;
