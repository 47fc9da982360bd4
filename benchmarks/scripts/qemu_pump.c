/*
 * qemu_pump: attaches a TAP device to a QEMU-style stream socket (passt's, or `qemu -netdev stream`'s): each
 * Ethernet frame on the socket is preceded by its length as a 4-byte big-endian integer. It plays the part QEMU
 * plays for a VM in e2e_bench.py's passt row, so it sits in the measurement path and is written to be cheap:
 *
 *   tap -> socket: one thread waits for the TAP, then reads every frame it already holds (up to BATCH bytes)
 *                  into one buffer, each behind its length prefix, and sends them all with one writev;
 *   socket -> tap: another thread reads the socket in large chunks and writes each whole frame to the TAP (a
 *                  TAP takes exactly one frame per write).
 *
 * Usage: qemu_pump TAP-NAME SOCKET-PATH   (run inside the namespace that holds the TAP; exits when the socket
 * closes). Build: gcc -O2 -pthread -o qemu_pump qemu_pump.c
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_FRAME 65536
#define BATCH (256 * 1024)
#define MAX_FRAMES 512 /* two iovecs each (prefix, frame): writev takes at most 1024 (IOV_MAX) */

static int tap, sock;

static void die(const char *what) {
    perror(what);
    exit(1);
}

/* Waits until fd is ready for `events` (the TAP is non-blocking so that a batch read stops when it is empty). */
static void wait_fd(int fd, short events) {
    struct pollfd p = {.fd = fd, .events = events};
    if (poll(&p, 1, -1) < 0 && errno != EINTR)
        die("poll");
}

/* Sends every iovec completely, resuming after a partial writev. */
static void writev_all(int fd, struct iovec *iov, int n) {
    while (n > 0) {
        ssize_t w = writev(fd, iov, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            die("writev socket");
        }
        while (n > 0 && (size_t)w >= iov->iov_len) {
            w -= iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= w;
        }
    }
}

static void *tap_to_socket(void *unused) {
    static char buf[BATCH + MAX_FRAME];
    static uint32_t lengths[MAX_FRAMES];
    static struct iovec iov[2 * MAX_FRAMES];
    (void)unused;
    for (;;) {
        size_t used = 0;
        int frames = 0;
        while (used < BATCH && frames < MAX_FRAMES) {
            ssize_t r = read(tap, buf + used, MAX_FRAME);
            if (r < 0) {
                if (errno == EAGAIN && frames == 0) {
                    wait_fd(tap, POLLIN);
                    continue;
                }
                if (errno == EAGAIN || errno == EINTR)
                    break;
                die("read tap");
            }
            lengths[frames] = htonl((uint32_t)r);
            iov[2 * frames] = (struct iovec){.iov_base = &lengths[frames], .iov_len = 4};
            iov[2 * frames + 1] = (struct iovec){.iov_base = buf + used, .iov_len = (size_t)r};
            used += (size_t)r;
            frames++;
        }
        writev_all(sock, iov, 2 * frames);
    }
    return NULL;
}

static void socket_to_tap(void) {
    static char buf[4 * MAX_FRAME];
    size_t have = 0, start = 0;
    for (;;) {
        ssize_t r = read(sock, buf + have, sizeof buf - have);
        if (r == 0)
            exit(0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            die("read socket");
        }
        have += (size_t)r;
        for (;;) {
            uint32_t len;
            if (have - start < 4)
                break;
            memcpy(&len, buf + start, 4);
            len = ntohl(len);
            if (len > MAX_FRAME) {
                fprintf(stderr, "frame of %u bytes\n", len);
                exit(1);
            }
            if (have - start < 4 + len)
                break;
            while (write(tap, buf + start + 4, len) < 0) {
                if (errno == EAGAIN)
                    wait_fd(tap, POLLOUT);
                else if (errno != EINTR)
                    die("write tap");
            }
            start += 4 + len;
        }
        /* Keep the partial frame at the front so that the next read can complete it. */
        memmove(buf, buf + start, have - start);
        have -= start;
        start = 0;
    }
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s TAP-NAME SOCKET-PATH\n", argv[0]);
        return 2;
    }
    tap = open("/dev/net/tun", O_RDWR | O_NONBLOCK);
    if (tap < 0)
        die("/dev/net/tun");
    struct ifreq ifr = {.ifr_flags = IFF_TAP | IFF_NO_PI};
    strncpy(ifr.ifr_name, argv[1], IFNAMSIZ - 1);
    if (ioctl(tap, TUNSETIFF, &ifr) < 0)
        die("TUNSETIFF");

    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    strncpy(addr.sun_path, argv[2], sizeof addr.sun_path - 1);
    sock = socket(AF_UNIX, SOCK_STREAM, 0);
    if (sock < 0 || connect(sock, (struct sockaddr *)&addr, sizeof addr) < 0)
        die(argv[2]);

    pthread_t t;
    if (pthread_create(&t, NULL, tap_to_socket, NULL) != 0)
        die("pthread_create");
    socket_to_tap();
    return 0;
}
