/* gen_certs.c: `medic gen-certs`: a small CA and one key and certificate per node in a directory,
 * for mutual TLS between nodes (tls+tcp://), so nobody has to learn openssl's flags. */
#include "cmd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "certs_int.h"

#define MAX_NODES 16
#define EXIT_USAGE 2

typedef struct {
    char *id;                              /* points into the argument (modified in place) */
    const char *names[MD_CERTS_MAX_NAMES]; /* likewise */
    size_t n_names;
} node_spec;

typedef struct {
    const char *out;
    int days, ca_days;
    bool force;
    node_spec nodes[MAX_NODES];
    size_t n_nodes;
} options;

static bool is_name(const char *s, const char *extra)
{
    size_t n = strlen(s);
    if (n == 0 || n > 253)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr(extra, *p)))
            return false;
    return true;
}

static bool is_ip(const char *s)
{
    unsigned char b[16];
    return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

/* parse_node splits "ID=NAME[,NAME...]" in place. */
static int parse_node(char *arg, node_spec *n)
{
    char *eq = strchr(arg, '=');
    if (eq == NULL) {
        fprintf(stderr, "medic gen-certs: '%s': write ID=HOST[,HOST...] (a node id, then the names or "
                        "addresses its peers dial it by)\n", arg);
        return -EINVAL;
    }
    *eq = '\0';
    n->id = arg;
    if (strlen(arg) > 64 || !is_name(arg, "._-") || strcmp(arg, "ca") == 0) {
        fprintf(stderr, "medic gen-certs: node id '%s': 1-64 characters of A-Z a-z 0-9 . _ - (and not 'ca')\n", arg);
        return -EINVAL;
    }
    for (char *save = NULL, *h = strtok_r(eq + 1, ",", &save); h != NULL; h = strtok_r(NULL, ",", &save)) {
        if (n->n_names == MD_CERTS_MAX_NAMES) {
            fprintf(stderr, "medic gen-certs: node %s: at most %d names\n", n->id, MD_CERTS_MAX_NAMES);
            return -EINVAL;
        }
        if (!is_ip(h) && !is_name(h, ".-")) {
            fprintf(stderr, "medic gen-certs: node %s: '%s' is neither a host name nor an IP address\n", n->id, h);
            return -EINVAL;
        }
        n->names[n->n_names++] = h;
    }
    if (n->n_names == 0) {
        fprintf(stderr, "medic gen-certs: node %s: give at least one host name or address after '='\n", n->id);
        return -EINVAL;
    }
    return 0;
}

static int parse_days(const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < 1 || v > 36500) {
        fprintf(stderr, "medic gen-certs: days must be a whole number 1-36500, not '%s'\n", s);
        return -EINVAL;
    }
    *out = (int)v;
    return 0;
}

static int parse_args(int argc, char **argv, options *o)
{
    o->days = 825;
    o->ca_days = 3650;
    for (int i = 1; i < argc; i++) {
        int rc = 0;
        if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            o->out = argv[++i];
        else if (strcmp(argv[i], "--days") == 0 && i + 1 < argc)
            rc = parse_days(argv[++i], &o->days);
        else if (strcmp(argv[i], "--ca-days") == 0 && i + 1 < argc)
            rc = parse_days(argv[++i], &o->ca_days);
        else if (strcmp(argv[i], "--force") == 0)
            o->force = true;
        else if (argv[i][0] == '-') {
            fprintf(stderr, "medic gen-certs: unknown or incomplete argument '%s'\n", argv[i]);
            rc = -EINVAL;
        } else if (o->n_nodes == MAX_NODES) {
            fprintf(stderr, "medic gen-certs: at most %d nodes\n", MAX_NODES);
            rc = -EINVAL;
        } else
            rc = parse_node(argv[i], &o->nodes[o->n_nodes++]);
        if (rc != 0)
            return rc;
    }
    for (size_t i = 0; i < o->n_nodes; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(o->nodes[i].id, o->nodes[j].id) == 0) {
                fprintf(stderr, "medic gen-certs: node %s is given twice\n", o->nodes[i].id);
                return -EINVAL;
            }
    if (o->out == NULL || o->n_nodes == 0) {
        fprintf(stderr, "usage: medic gen-certs --out DIR [--days N] [--ca-days N] [--force] ID=HOST[,HOST...] ...\n");
        return -EINVAL;
    }
    return 0;
}

static bool exists(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

/* write_file writes text to dir/name with mode, through a temp file renamed into place, so a
 * crash leaves the old file or the new one, never half of one. */
static int write_file(const char *dir, const char *name, const char *text, mode_t mode)
{
    char path[4096], tmp[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name);
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        fprintf(stderr, "medic gen-certs: %s: %s\n", tmp, strerror(errno));
        return -errno;
    }
    size_t len = strlen(text), off = 0;
    int rc = fchmod(fd, mode) == 0 ? 0 : -errno; /* the umask must not widen or narrow it */
    while (rc == 0 && off < len) {
        ssize_t n = write(fd, text + off, len - off);
        if (n < 0 && errno != EINTR)
            rc = -errno;
        else if (n > 0)
            off += (size_t)n;
    }
    if (rc == 0 && fsync(fd) != 0)
        rc = -errno;
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc != 0) {
        fprintf(stderr, "medic gen-certs: %s: %s\n", path, strerror(-rc));
        unlink(tmp);
    }
    return rc;
}

/* refuse_overwrite says which node keys exist already (unless --force); nothing is written then. */
static int refuse_overwrite(const options *o)
{
    int found = 0;
    for (size_t i = 0; i < o->n_nodes && !o->force; i++) {
        char key[96];
        snprintf(key, sizeof key, "%s.key", o->nodes[i].id);
        if (exists(o->out, key)) {
            fprintf(stderr, "medic gen-certs: %s/%s exists; not replacing a key without --force\n", o->out, key);
            found++;
        }
    }
    return found ? -EEXIST : 0;
}

/* open_ca reuses the CA in the directory (so a node can be added or replaced later) or makes one. */
static int open_ca(md_certs *c, const options *o)
{
    char err[256], cert_path[4096], key_path[4096];
    bool have_cert = exists(o->out, "ca.pem"), have_key = exists(o->out, "ca.key");
    if (have_cert != have_key) {
        fprintf(stderr, "medic gen-certs: %s has ca.%s but not ca.%s; restore it or remove both to make a new CA\n",
                o->out, have_cert ? "pem" : "key", have_cert ? "key" : "pem");
        return -EINVAL;
    }
    if (have_cert) {
        snprintf(cert_path, sizeof cert_path, "%s/ca.pem", o->out);
        snprintf(key_path, sizeof key_path, "%s/ca.key", o->out);
        if (md__certs_load_ca(c, cert_path, key_path, err, sizeof err) != 0) {
            fprintf(stderr, "medic gen-certs: %s\n", err);
            return -EINVAL;
        }
        printf("using the existing CA %s/ca.pem\n", o->out);
        return 0;
    }
    char *cert = malloc(MD_CERTS_PEM_MAX), *key = malloc(MD_CERTS_PEM_MAX);
    int rc = cert && key ? md__certs_make_ca(c, "medic cluster CA", o->ca_days, cert, key, err, sizeof err) : -ENOMEM;
    if (rc != 0)
        fprintf(stderr, "medic gen-certs: %s\n", rc == -ENOMEM ? "out of memory" : err);
    if (rc == 0 && (rc = write_file(o->out, "ca.key", key, 0600)) == 0 &&
        (rc = write_file(o->out, "ca.pem", cert, 0644)) == 0)
        printf("wrote %s/ca.pem and %s/ca.key (keep ca.key off the nodes)\n", o->out, o->out);
    free(cert);
    free(key);
    return rc;
}

static int issue_all(md_certs *c, const options *o)
{
    char *cert = malloc(MD_CERTS_PEM_MAX), *key = malloc(MD_CERTS_PEM_MAX);
    int rc = cert && key ? 0 : -ENOMEM;
    for (size_t i = 0; i < o->n_nodes && rc == 0; i++) {
        const node_spec *n = &o->nodes[i];
        char err[256], kname[96], cname[96];
        if ((rc = md__certs_issue(c, n->id, n->names, n->n_names, o->days, cert, key, err, sizeof err)) != 0) {
            fprintf(stderr, "medic gen-certs: %s\n", err);
            break;
        }
        snprintf(kname, sizeof kname, "%s.key", n->id);
        snprintf(cname, sizeof cname, "%s.pem", n->id);
        if ((rc = write_file(o->out, kname, key, 0600)) == 0 && (rc = write_file(o->out, cname, cert, 0644)) == 0) {
            printf("wrote %s/%s and %s/%s for", o->out, cname, o->out, kname);
            for (size_t k = 0; k < n->n_names; k++)
                printf(" %s", n->names[k]);
            printf("\n");
        }
    }
    free(cert);
    free(key);
    return rc;
}

int md_gen_certs_cmd(int argc, char **argv)
{
    options o = { 0 };
    if (parse_args(argc, argv, &o) != 0)
        return EXIT_USAGE;
    if (mkdir(o.out, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "medic gen-certs: cannot create %s: %s\n", o.out, strerror(errno));
        return 1;
    }
    if (refuse_overwrite(&o) != 0)
        return 1;
    md_certs *c = NULL;
    char err[256];
    if (md__certs_new(&c, err, sizeof err) != 0) {
        fprintf(stderr, "medic gen-certs: %s\n", err);
        return 1;
    }
    int rc = open_ca(c, &o);
    if (rc == 0)
        rc = issue_all(c, &o);
    md__certs_free(c);
    if (rc != 0)
        return 1;
    printf("each node's config: \"cluster\": { ..., \"tls\": { \"cert_file\": \"<dir>/<id>.pem\", "
           "\"key_file\": \"<dir>/<id>.key\", \"ca_file\": \"<dir>/ca.pem\" } }\n");
    return 0;
}
