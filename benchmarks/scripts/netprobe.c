/*
 * Tiny TCP probes for the end-to-end and start-up benchmarks (see benchmarks/README.md), in C so that the
 * probe's own cost stays far below the stack's: a Python loop spent ~70 µs of CPU per connect on each side,
 * as much as the stack under test.
 *
 *   netprobe server HOST PORT         host side: epoll echo server, one thread; runs until killed
 *   netprobe connects HOST PORT SECS  guest side: connect + close in a loop; prints
 *                                     {"connects_per_s", "connects", "failures", "connect_p50_us", "connect_p99_us"}
 *   netprobe connects-n HOST PORT N   guest side: the same loop for N connects (startup_bench.py's 1,000)
 *   netprobe rr HOST PORT SECS        guest side: 1-byte request/response on one connection; prints
 *                                     {"rr_p50_us", "rr_p99_us", "count"}
 *
 * Only ever pointed at 127.0.0.1 or ::1 (server) and the stack's host alias from inside a benchmark namespace
 * (clients). HOST is a numeric IPv4 or IPv6 address.
 */
#define _GNU_SOURCE
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static struct sockaddr_storage addr;
static socklen_t addrlen;

static void resolve(const char *host, const char *port) {
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM}, *ai;
    int e = getaddrinfo(host, port, &hints, &ai);
    if (e) {
        fprintf(stderr, "netprobe: %s port %s: %s\n", host, port, gai_strerror(e));
        exit(2);
    }
    memcpy(&addr, ai->ai_addr, ai->ai_addrlen);
    addrlen = ai->ai_addrlen;
    freeaddrinfo(ai);
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

/* Latency samples, microseconds; the last slot is overwritten once full. */
static double *lat;
static long nlat, caplat = 1 << 22;

static void sample(double secs) {
    lat[nlat < caplat ? nlat++ : caplat - 1] = secs * 1e6;
}

static double pct(double p) {
    return nlat ? lat[(long) (p * (nlat - 1))] : 0.0 / 0.0;
}

/* A client socket with a 2 s timeout on connect and I/O (SO_SNDTIMEO bounds connect on Linux). */
static int client(void) {
    int s = socket(addr.ss_family, SOCK_STREAM, 0), one = 1;
    struct timeval tv = {.tv_sec = 2};
    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return s;
}

static int server(void) {
    int l = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(l, (struct sockaddr *) &addr, addrlen) || listen(l, 4096)) {
        perror("netprobe server");
        return 1;
    }
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = l}, evs[256];
    epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
    static char buf[65536];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == l) {
                for (int c; (c = accept4(l, NULL, NULL, SOCK_NONBLOCK)) >= 0;) {
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
                }
                continue;
            }
            ssize_t r = read(fd, buf, sizeof buf);
            if (r > 0) {
                if (write(fd, buf, r) < 0) {
                    close(fd);
                }
            } else {
                close(fd); /* EOF or error (a reset): closing also removes it from the epoll set */
            }
        }
    }
}

static int connects(double secs, long limit) {
    long n = 0, fails = 0;
    double t0 = now(), end = t0 + secs;
    while (now() < end && (limit < 0 || n + fails < limit)) {
        int s = client();
        double t = now();
        if (connect(s, (struct sockaddr *) &addr, addrlen) == 0) {
            sample(now() - t);
            n++;
        } else {
            fails++;
        }
        close(s);
    }
    double el = now() - t0;
    qsort(lat, nlat, sizeof *lat, cmp);
    printf("{\"connects_per_s\": %.1f, \"connects\": %ld, \"failures\": %ld, \"connect_p50_us\": %.1f, "
           "\"connect_p99_us\": %.1f}\n", n / el, n, fails, pct(0.5), pct(0.99));
    return 0;
}

static int rr(double secs) {
    int s = client();
    if (connect(s, (struct sockaddr *) &addr, addrlen)) {
        perror("netprobe rr");
        return 1;
    }
    char b = 'x';
    double end = now() + secs;
    while (now() < end) {
        double t = now();
        if (write(s, &b, 1) != 1 || read(s, &b, 1) != 1) {
            break;
        }
        sample(now() - t);
    }
    close(s);
    qsort(lat, nlat, sizeof *lat, cmp);
    printf("{\"rr_p50_us\": %.1f, \"rr_p99_us\": %.1f, \"count\": %ld}\n", pct(0.5), pct(0.99), nlat);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: netprobe server|connects|connects-n|rr HOST PORT [SECS|N]\n");
        return 2;
    }
    resolve(argv[2], argv[3]);
    lat = malloc(caplat * sizeof *lat);
    const char *mode = argv[1];
    if (!strcmp(mode, "server")) {
        return server();
    } else if (argc > 4 && !strcmp(mode, "connects")) {
        return connects(atof(argv[4]), -1);
    } else if (argc > 4 && !strcmp(mode, "connects-n")) {
        return connects(600, atol(argv[4]));
    } else if (argc > 4 && !strcmp(mode, "rr")) {
        return rr(atof(argv[4]));
    }
    fprintf(stderr, "netprobe: unknown mode or missing argument: %s\n", mode);
    return 2;
}
