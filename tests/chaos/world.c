/* world.c: the chaos world on this machine: a bridge namespace, one namespace per node and one
 * for the services, joined by veth pairs (tests/chaos/README.md has the addressing plan); the
 * nftables faults inside node namespaces (partitions, loss); tmpfs data dirs; and the cleanup
 * that removes all of it on exit, on SIGINT/SIGTERM, and at the next start after a crash. The
 * root namespace's interfaces, routes and rules are never touched: every ip and nft command
 * names one of the run's own namespaces. */
#include "chaos.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#define PREFIX "mchaos"
static const char *const ns_parts[] = { "br", "svc", "n1", "n2", "n3", "n4", "n5" };

const char *ch_ip_bin(void)
{
    static const char *const cands[] = { "/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip" };
    for (size_t k = 0; k < sizeof cands / sizeof cands[0]; k++)
        if (access(cands[k], X_OK) == 0)
            return cands[k];
    return "ip";
}

static char sh_log[300] = "/dev/null";

/* ch_sh runs one shell command line (our own fixed commands with our own names in them, never
 * outside text), its output to the run's world.log. Returns its exit status, or -1. */
int ch_sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof cmd)
        return -1;
    char full[sizeof cmd + sizeof sh_log + 32];
    snprintf(full, sizeof full, "{ %s ; } >>'%s' 2>&1", cmd, sh_log);
    int rc = system(full);
    return rc == -1 ? -1 : WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

void ch_ns_name(const ch_world *w, const char *what, char *out, size_t len)
{
    snprintf(out, len, "%s-%s", w->run_id, what);
}

/* A run id's owner still running this program: its namespaces are not stale. */
static bool owner_alive(const char *name)
{
    int pid = atoi(name + strlen(PREFIX));
    if (pid <= 0 || pid == getpid())
        return pid == getpid();
    char path[64], comm[64] = "";
    snprintf(path, sizeof path, "/proc/%d/comm", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    bool alive = fgets(comm, sizeof comm, f) && strncmp(comm, "medic-chaos", 11) == 0;
    fclose(f);
    return alive;
}

static void remove_ns(const char *name)
{
    /* Processes left in it first (kill -9: they are ours and the run is over), then the name. */
    ch_sh("for p in $(%s netns pids %s 2>/dev/null); do kill -9 $p; done; %s netns del %s", ch_ip_bin(), name,
          ch_ip_bin(), name);
}

/* Unmounts every tmpfs under a directory whose name carries prefix (lazily: a dead node may still
 * hold it for a moment). */
static void umount_under(const char *prefix_path, bool only_stale)
{
    FILE *f = fopen("/proc/self/mounts", "r");
    if (!f)
        return;
    char line[1024], mps[16][512];
    int n = 0;
    while (n < 16 && fgets(line, sizeof line, f)) {
        char dev[256], mp[512];
        if (sscanf(line, "%255s %511s", dev, mp) != 2 || strncmp(mp, prefix_path, strlen(prefix_path)) != 0)
            continue;
        const char *id = strstr(mp, PREFIX);
        if (only_stale && id && owner_alive(id))
            continue;
        snprintf(mps[n++], sizeof mps[0], "%s", mp);
    }
    fclose(f);
    for (int k = n - 1; k >= 0; k--)
        umount2(mps[k], MNT_DETACH);
}

void ch_world_sweep(void)
{
    DIR *d = opendir("/run/netns");
    int removed = 0;
    if (d) {
        struct dirent *e;
        char names[64][NAME_MAX + 1];
        int n = 0;
        while (n < 64 && (e = readdir(d)))
            if (strncmp(e->d_name, PREFIX, strlen(PREFIX)) == 0 && !owner_alive(e->d_name))
                snprintf(names[n++], sizeof names[0], "%s", e->d_name);
        closedir(d);
        for (int k = 0; k < n; k++, removed++)
            remove_ns(names[k]);
    }
    umount_under("/tmp/" PREFIX, true);
    DIR *t = opendir("/tmp");
    if (t) {
        struct dirent *e;
        while ((e = readdir(t)))
            if (strncmp(e->d_name, PREFIX, strlen(PREFIX)) == 0 && !owner_alive(e->d_name)) {
                ch_sh("rm -rf '/tmp/%s'", e->d_name); /* our own prefix under /tmp, nothing else */
                removed++;
            }
        closedir(t);
    }
    if (removed)
        fprintf(stderr, "medic chaos: removed %d leftover(s) of an earlier run that did not finish\n", removed);
}

static int add_ns(ch_world *w, const char *part, const char *ip)
{
    char ns[64], br[64];
    ch_ns_name(w, part, ns, sizeof ns);
    ch_ns_name(w, "br", br, sizeof br);
    const char *ipb = ch_ip_bin();
    if (ch_sh("%s netns add %s && %s -n %s link set lo up", ipb, ns, ipb, ns) != 0)
        return -1;
    if (strcmp(part, "br") == 0)
        return ch_sh("%s -n %s link add br0 type bridge && %s -n %s addr add %s/24 dev br0 && %s -n %s link set br0 up",
                     ipb, ns, ipb, ns, ip, ipb, ns);
    return ch_sh("%s -n %s link add v%s type veth peer name eth0 netns %s && %s -n %s link set v%s master br0 up && "
                 "%s -n %s addr add %s/24 dev eth0 && %s -n %s link set eth0 up",
                 ipb, br, part, ns, ipb, br, part, ipb, ns, ip, ipb, ns);
}

static void on_signal(int sig)
{
    (void)sig;
    extern volatile int ch_interrupted;
    ch_interrupted = 1;
}

static ch_world *current;
static void at_exit(void)
{
    if (current)
        ch_world_close(current);
}

int ch_world_open(ch_world *w, bool want_netns)
{
    snprintf(w->run_id, sizeof w->run_id, PREFIX "%d", (int)getpid());
    w->root_ns_fd = -1;
    w->netns = want_netns;
    snprintf(w->dir, sizeof w->dir, "/tmp/%s-XXXXXX", w->run_id);
    if (!mkdtemp(w->dir))
        return -errno;
    snprintf(sh_log, sizeof sh_log, "%s/world.log", w->dir);
    current = w;
    atexit(at_exit);
    struct sigaction sa = { .sa_handler = on_signal };
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (!want_netns)
        return 0;
    char ip[32];
    for (size_t k = 0; k < sizeof ns_parts / sizeof ns_parts[0]; k++) {
        if (k == 0)
            snprintf(ip, sizeof ip, CH_NET ".1");
        else if (k == 1)
            snprintf(ip, sizeof ip, CH_SVC_IP);
        else
            snprintf(ip, sizeof ip, CH_NET ".%d", 10 + (int)k - 1);
        if (add_ns(w, ns_parts[k], ip) != 0) {
            fprintf(stderr, "medic chaos: could not set up namespace %s (see %s)\n", ns_parts[k], sh_log);
            return -EIO;
        }
    }
    for (int i = 1; i <= CH_MAX_NODES; i++) {
        char ns[64];
        snprintf(ip, sizeof ip, "n%d", i);
        ch_ns_name(w, ip, ns, sizeof ns);
        if (ch_sh("%s netns exec %s nft 'add table inet chaos'; %s netns exec %s nft 'add chain inet chaos in "
                  "{ type filter hook input priority 0; }' && %s netns exec %s nft 'add chain inet chaos out { type "
                  "filter hook output priority 0; }'",
                  ch_ip_bin(), ns, ch_ip_bin(), ns, ch_ip_bin(), ns) != 0) {
            fprintf(stderr, "medic chaos: nft failed in %s (is nftables installed? see %s)\n", ns, sh_log);
            return -EIO;
        }
    }
    /* The harness itself lives in the bridge namespace from here on: it reaches every node's API
     * and the services over the bridge, and everything it starts goes into its own namespace
     * through `ip netns exec`. */
    w->root_ns_fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    char path[128];
    snprintf(path, sizeof path, "/run/netns/%s-br", w->run_id);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
        if (fd >= 0)
            close(fd);
        return -errno;
    }
    close(fd);
    return 0;
}

void ch_world_close(ch_world *w)
{
    if (!w->dir[0])
        return;
    if (w->root_ns_fd >= 0) {
        if (setns(w->root_ns_fd, CLONE_NEWNET) != 0)
            perror("medic chaos: back to the root namespace");
        close(w->root_ns_fd);
        w->root_ns_fd = -1;
    }
    if (w->netns)
        for (size_t k = 0; k < sizeof ns_parts / sizeof ns_parts[0]; k++) {
            char ns[64];
            ch_ns_name(w, ns_parts[k], ns, sizeof ns);
            char path[128];
            snprintf(path, sizeof path, "/run/netns/%s", ns);
            if (access(path, F_OK) == 0)
                remove_ns(ns);
        }
    umount_under(w->dir, false);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", w->dir); /* our own mkdtemp directory */
    if (system(cmd) != 0)
        fprintf(stderr, "medic chaos: could not remove %s\n", w->dir);
    w->dir[0] = '\0';
    snprintf(sh_log, sizeof sh_log, "/dev/null");
}

static int nft_in(ch_world *w, int node, const char *rule)
{
    char ns[64], part[16];
    snprintf(part, sizeof part, "n%d", node + 1);
    ch_ns_name(w, part, ns, sizeof ns);
    return ch_sh("%s netns exec %s nft '%s'", ch_ip_bin(), ns, rule);
}

int ch_net_reset(ch_world *w, int nodes)
{
    int rc = 0;
    for (int i = 0; w->netns && i < nodes; i++)
        rc |= nft_in(w, i, "flush table inet chaos");
    return rc ? -EIO : 0;
}

/* Both directions, on both sides: established connections stall as on a real partition. */
int ch_net_cut_nodes(ch_world *w, int a, int b)
{
    char r[160];
    int rc = 0;
    for (int k = 0; k < 2; k++) {
        int self = k ? b : a, other = k ? a : b;
        snprintf(r, sizeof r, "add rule inet chaos in ip saddr " CH_NET ".%d drop", 11 + other);
        rc |= nft_in(w, self, r);
        snprintf(r, sizeof r, "add rule inet chaos out ip daddr " CH_NET ".%d drop", 11 + other);
        rc |= nft_in(w, self, r);
    }
    return rc ? -EIO : 0;
}

/* The node loses the services (their checks time out) but keeps the Railway API. */
int ch_net_cut_service(ch_world *w, int node, int fake_port)
{
    char r[160];
    int rc = 0;
    snprintf(r, sizeof r, "add rule inet chaos out ip daddr " CH_SVC_IP " tcp dport != %d drop", fake_port);
    rc |= nft_in(w, node, r);
    snprintf(r, sizeof r, "add rule inet chaos in ip saddr " CH_SVC_IP " tcp sport != %d drop", fake_port);
    rc |= nft_in(w, node, r);
    return rc ? -EIO : 0;
}

/* Random loss of packets arriving from the other nodes (both directions of every link, as each
 * node drops on its own input). */
int ch_net_loss(ch_world *w, int node, int nodes, int percent)
{
    char set[128] = "", r[256];
    size_t at = 0;
    for (int j = 0; j < nodes; j++)
        if (j != node)
            at += (size_t)snprintf(set + at, sizeof set - at, "%s" CH_NET ".%d", at ? ", " : "", 11 + j);
    snprintf(r, sizeof r, "add rule inet chaos in ip saddr { %s } numgen random mod 100 < %d drop", set, percent);
    return nft_in(w, node, r) ? -EIO : 0;
}

int ch_tmpfs(ch_world *w, const char *path, int kb)
{
    (void)w;
    char opts[64];
    snprintf(opts, sizeof opts, "size=%dk,mode=0755", kb);
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return -errno;
    return mount("tmpfs", path, "tmpfs", 0, opts) == 0 ? 0 : -errno;
}

/* Fills the file system under dir with one file (bounded by the tmpfs's size). */
int ch_fill(const char *dir)
{
    char path[PATH_MAX + 8];
    snprintf(path, sizeof path, "%s/fill", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    static char buf[65536];
    for (int k = 0; k < 1 << 16; k++) /* at most 4 GiB: the tmpfs fills long before */
        if (write(fd, buf, sizeof buf) <= 0)
            break;
    close(fd);
    return 0;
}

void ch_unfill(const char *dir)
{
    char path[PATH_MAX + 8];
    snprintf(path, sizeof path, "%s/fill", dir);
    unlink(path);
}
