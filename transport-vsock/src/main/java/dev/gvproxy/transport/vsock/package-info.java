/**
 * AF_VSOCK stream listeners on Netty's epoll transport.
 *
 * <p>Netty 4.2.18 ships {@code VSockAddress} and the {@code LinuxSocket} vsock calls ({@code newVSockStream},
 * {@code bindVSock}, {@code localVSockAddress}, {@code remoteVSockAddress}) but no channel that takes a
 * {@code VSockAddress}. {@link dev.gvproxy.transport.vsock.VsockServerChannel} is a small
 * {@code AbstractEpollServerChannel} subclass: it creates the socket, binds ({@code bindVSock}) and listens, and
 * hands accepted descriptors to {@link dev.gvproxy.transport.vsock.VsockChannel}, an
 * {@code AbstractEpollStreamChannel} subclass. What a subclass must supply (read from Netty's own
 * {@code EpollServerDomainSocketChannel}): {@code config()} (only {@code EpollChannelConfig}'s constructor is
 * accessible, so the server config adds {@code SO_BACKLOG} itself), {@code doBind} (bind, listen, set
 * {@code active}), {@code newChildChannel}, and {@code localAddress0}/{@code remoteAddress0}. Everything else,
 * accept loop, edge-triggered reads, gathering writes, close, is Netty's, and children are registered on the
 * network's loop by {@code ServerBootstrap} like unix and tcp children, so the same pipelines
 * ({@code Transports.framesChild/vpnkitChild/httpChild}) run on them.
 *
 * <p>Testing: these machines have no vsock loopback transport, so nothing may connect over vsock (a connect to CID
 * 1 or 2 leaves the machine). Tests bind and listen on AF_VSOCK for real (skipping where the kernel says
 * {@code Address family not supported}), and drive the accept/read path through the same two classes over an
 * AF_UNIX socket ({@link dev.gvproxy.transport.vsock.VsockServerChannel#unixStandIn()}).
 *
 * <p>Where the kernel lacks AF_VSOCK, {@code Transports.listen*} fail with {@code listen vsock :PORT: this kernel
 * has no AF_VSOCK support (...)}. {@code vsock://:PORT} binds {@code VMADDR_CID_ANY} (gvproxy binds the CID read
 * from {@code /dev/vsock}; ANY accepts connections addressed to any local CID).
 */
package dev.gvproxy.transport.vsock;
