/* proc.c: fork/exec with a parent-death signal, line reads with a timeout, stop with escalation. */
#include "base.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int spawn(char *const argv[], bool capture_stdout, const char *stdout_path, const char *stderr_path, bool kept,
                 md_proc *p)
{
    int pipefd[2] = { -1, -1 };
    memset(p, 0, sizeof *p);
    p->out_fd = -1;
    if (capture_stdout && pipe2(pipefd, O_CLOEXEC) < 0)
        return -errno;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        if (capture_stdout) {
            close(pipefd[0]);
            close(pipefd[1]);
        }
        return -e;
    }
    if (pid == 0) {
        if (kept) {
            setsid(); /* a Ctrl-C in the terminal that ran the demo is not for the cluster it left */
        } else {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != parent)
                _exit(127);
        }
        if (capture_stdout) {
            dup2(pipefd[1], STDOUT_FILENO);
        } else if (stdout_path) {
            int fd = open(stdout_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd >= 0)
                dup2(fd, STDOUT_FILENO);
        }
        if (stderr_path) {
            int fd = open(stderr_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (fd >= 0)
                dup2(fd, STDERR_FILENO);
        }
        execv(argv[0], argv);
        fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    if (capture_stdout) {
        close(pipefd[1]);
        p->out_fd = pipefd[0];
    }
    p->pid = pid;
    return 0;
}

int md_proc_spawn(char *const argv[], bool capture_stdout, const char *stdout_path, const char *stderr_path,
                  md_proc *p)
{
    return spawn(argv, capture_stdout, stdout_path, stderr_path, false, p);
}

int md_proc_spawn_kept(char *const argv[], bool capture_stdout, const char *stdout_path, const char *stderr_path,
                       md_proc *p)
{
    return spawn(argv, capture_stdout, stdout_path, stderr_path, true, p);
}

int md_proc_read_line(md_proc *p, char *line, size_t len, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        char *nl = memchr(p->rbuf, '\n', p->rlen);
        if (nl) {
            size_t n = (size_t)(nl - p->rbuf);
            size_t copy = n < len - 1 ? n : len - 1;
            memcpy(line, p->rbuf, copy);
            line[copy] = '\0';
            memmove(p->rbuf, nl + 1, p->rlen - n - 1);
            p->rlen -= n + 1;
            return (int)copy;
        }
        if (p->rlen == sizeof p->rbuf)
            p->rlen = 0; /* an over-long line: drop it rather than stall */
        long long left = deadline - now_ms();
        if (left <= 0 || p->out_fd < 0)
            return p->out_fd < 0 ? -EPIPE : -ETIMEDOUT;
        struct pollfd pfd = { .fd = p->out_fd, .events = POLLIN };
        int rc = poll(&pfd, 1, (int)left);
        if (rc < 0 && errno != EINTR)
            return -errno;
        if (rc <= 0)
            continue;
        ssize_t n = read(p->out_fd, p->rbuf + p->rlen, sizeof p->rbuf - p->rlen);
        if (n == 0)
            return -EPIPE;
        if (n < 0 && errno != EINTR && errno != EAGAIN)
            return -errno;
        if (n > 0)
            p->rlen += (size_t)n;
    }
}

bool md_proc_alive(md_proc *p, int *status)
{
    if (p->pid <= 0)
        return false;
    int st = 0;
    pid_t r = waitpid(p->pid, &st, WNOHANG);
    if (r == 0)
        return true;
    if (status)
        *status = st;
    p->pid = 0;
    return false;
}

int md_proc_stop(md_proc *p, int sig, int timeout_ms, int *status)
{
    int result = 0;
    if (p->pid > 0) {
        if (sig)
            kill(p->pid, sig);
        long long deadline = now_ms() + timeout_ms;
        int st = 0;
        for (;;) {
            pid_t r = waitpid(p->pid, &st, WNOHANG);
            if (r == p->pid || (r < 0 && errno != EINTR))
                break;
            if (now_ms() >= deadline) {
                kill(p->pid, SIGKILL);
                waitpid(p->pid, &st, 0);
                result = 1;
                break;
            }
            struct timespec ts = { 0, 5 * 1000000 };
            nanosleep(&ts, NULL);
        }
        if (status)
            *status = st;
        p->pid = 0;
    }
    if (p->out_fd >= 0) {
        close(p->out_fd);
        p->out_fd = -1;
    }
    return result;
}

int md_proc_self_dir(char *dir, size_t len)
{
    ssize_t n = readlink("/proc/self/exe", dir, len - 1);
    if (n < 0)
        return -errno;
    dir[n] = '\0';
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    return 0;
}

/* The kernel's range for the source ports of outgoing connections: a port in it that was free a
 * moment ago can become some connection's source port before the caller binds it (tests that
 * make thousands of connections hit that), so free ports are chosen below it. */
static void ephemeral_range(int *lo, int *hi)
{
    *lo = 32768;
    *hi = 60999;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (!f)
        return;
    int a, b;
    if (fscanf(f, "%d %d", &a, &b) == 2 && a > 0 && b >= a) {
        *lo = a;
        *hi = b;
    }
    fclose(f);
}

static int try_bind(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                             .sin_port = htons((uint16_t)port) };
    socklen_t alen = sizeof a;
    int rc = 0;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || getsockname(fd, (struct sockaddr *)&a, &alen) < 0)
        rc = -errno;
    close(fd);
    return rc < 0 ? rc : ntohs(a.sin_port);
}

int md_free_port(void)
{
    enum { LOWEST = 10000, TRIES = 64 };
    int lo, hi;
    ephemeral_range(&lo, &hi);
    /* Below the ephemeral range if there is room, else above it; random so that processes asking
     * at the same moment rarely pick the same port. */
    int from = LOWEST, to = lo - 1;
    if (to - from < 1000) {
        from = hi + 1;
        to = 65535;
    }
    if (to - from >= 1000) {
        static unsigned seed;
        if (!seed)
            seed = (unsigned)getpid() ^ (unsigned)time(NULL) ^ (unsigned)(uintptr_t)&seed;
        for (int i = 0; i < TRIES; i++) {
            int port = from + (int)(rand_r(&seed) % (unsigned)(to - from + 1));
            int rc = try_bind(port);
            if (rc > 0)
                return rc;
        }
    }
    return try_bind(0); /* the kernel's choice: free, though in the ephemeral range */
}
