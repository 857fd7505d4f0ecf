/* it_sock.c: raw-socket helpers for the proxy tests (it_sock.h). */
#include "it_sock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static struct sockaddr_in addr_of(const char *ip, int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, ip, &sa.sin_addr);
    return sa;
}

int it_listen(const char *ip, int port, int backlog, int rcvbuf, int *port_out)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_in sa = addr_of(ip, port);
    socklen_t len = sizeof sa;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, backlog) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
        close(fd);
        return -1;
    }
    if (port_out)
        *port_out = ntohs(sa.sin_port);
    return fd;
}

int it_connect(const char *ip, int port, int sndbuf, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    if (sndbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct timeval tv = {.tv_sec = 2};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = addr_of(ip, port);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int it_blackhole(int *port, int *fill, int cap, int *n_fill)
{
    /* backlog 0: Linux keeps one connection in the accept queue; with it full, a new SYN is
     * dropped (not refused), so the connector retransmits and waits. Fill until a connect does not
     * complete. */
    int l = it_listen("127.0.0.1", 0, 0, 0, port);
    *n_fill = 0;
    if (l < 0)
        return -1;
    while (*n_fill < cap) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (fd < 0)
            break;
        struct sockaddr_in sa = addr_of("127.0.0.1", *port);
        int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        bool done = rc == 0 || (errno == EINPROGRESS && poll(&p, 1, 300) == 1);
        fill[(*n_fill)++] = fd;
        if (!done)
            return l; /* this one hangs in SYN_SENT: the queue is full */
    }
    return l;
}

int it_accept_tagged(int l, const char *tag, int timeout_ms)
{
    size_t tl = strlen(tag);
    int64_t end = it_wall_ms() + timeout_ms;
    while (it_wall_ms() < end) {
        struct pollfd p = {.fd = l, .events = POLLIN};
        if (poll(&p, 1, 100) != 1)
            continue;
        int fd = accept(l, NULL, NULL);
        if (fd < 0)
            continue;
        char got[64];
        size_t n = 0;
        while (n < tl && it_wall_ms() < end) {
            struct pollfd q = {.fd = fd, .events = POLLIN};
            if (poll(&q, 1, 100) != 1)
                continue;
            ssize_t r = read(fd, got + n, tl - n);
            if (r <= 0)
                break;
            n += (size_t)r;
        }
        if (n == tl && memcmp(got, tag, tl) == 0)
            return fd;
        close(fd); /* a probe: connected and closed */
    }
    return -1;
}

pid_t it_ident_start(int l, const char *id)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failed test never leaves it behind */
        signal(SIGPIPE, SIG_IGN);
        for (;;) {
            int fd = accept(l, NULL, NULL);
            if (fd < 0)
                continue;
            ssize_t w = write(fd, id, strlen(id));
            (void)w;
            close(fd);
        }
    }
    close(l);
    return pid;
}

pid_t it_closer_start(int l, int delay_ms)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fds[64];
        int64_t at[64];
        int n = 0;
        for (;;) {
            struct pollfd p = {.fd = l, .events = POLLIN};
            if (poll(&p, 1, 10) == 1 && n < 64) {
                int fd = accept(l, NULL, NULL);
                if (fd >= 0) {
                    fds[n] = fd;
                    at[n++] = it_wall_ms() + delay_ms;
                }
            }
            for (int i = 0; i < n; i++)
                if (it_wall_ms() >= at[i]) {
                    close(fds[i]);
                    fds[i] = fds[--n];
                    at[i] = at[n];
                    i--;
                }
        }
    }
    close(l);
    return pid;
}

void it_ident_stop(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

int it_read_all(int fd, char *buf, size_t cap, int timeout_ms)
{
    size_t n = 0;
    int64_t end = it_wall_ms() + timeout_ms;
    for (;;) {
        int left = (int)(end - it_wall_ms());
        if (left <= 0)
            return -1;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, left) != 1)
            continue;
        if (n + 1 >= cap)
            break;
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    return (int)n;
}

long it_rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}
