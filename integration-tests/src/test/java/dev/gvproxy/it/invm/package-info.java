/**
 * The in-VM API subset on gateway:80 (spec 4.1) used by a real Linux guest: a network-namespace guest
 * (gvforwarder-java, DHCP from the gateway) runs {@code curl http://192.168.127.1/services/forwarder/...}
 * against an in-process gvproxy-java ({@code GvproxyMain.run}). The HTTP connection is terminated by the stack
 * itself and served by the API's Netty pipeline over a {@code StackChannel}; an {@code expose} with an empty
 * remote host is filled with the guest's own address, and a host client on 127.0.0.1 then reaches the guest's
 * {@code socat} echo server through the new listener.
 */
package dev.gvproxy.it.invm;
