/* failover_commit.c: the commit phase of failover_bench, on a steady cluster: how long the
 * leader takes to commit what it proposes, and how many entries per second it commits.
 *
 * Latency: --commit-n operator actions, one at a time (POST /v1/services/web/pause, then resume,
 * alternating, to the leader's API with the admin token); after each, the leader is polled every
 * 5 ms until its commit_index reaches the "index" the POST answered. Reported: the node's own
 * figure (commit_latency_ms in /v1/cluster: md_consensus_propose -> committed on the leader),
 * the bench's observed figure (POST sent -> first answer showing the commit; the API's snapshots
 * are rebuilt at most every 100 ms and the POST handler refreshes one just before it proposes,
 * so this one cannot go much below 100 ms whatever the true latency: it is an upper bound), and
 * how long the POST itself took (propose + the leader's fsync + HTTP).
 *
 * Throughput: --in-flight POSTs kept in flight (libcurl multi, one thread) for 1 s of warm-up
 * and --load-s seconds; committed_entries_total is read on the leader at both ends of the
 * measured window (each read may be up to 100 ms old, both the same way on average):
 * entries/s = its delta / the window. The node's commit latency over its newest (up to 1,024)
 * proposals is read again after the load and reported as loaded_*. */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "failover_bench.h"
#include "base/base.h"

#define COMMIT_WAIT_MS 10000
#define DRAIN_WAIT_MS 30000
#define WARMUP_MS 1000
#define POLL_MS 5

typedef struct {
    double node_p50, node_p99, node_samples;
    double seen_p50, seen_p99, post_p50;
    double loaded_p50, loaded_p99;
    double entries_per_s, accepted_per_s;
    int refused;
} commit_figures;

/* POST action on service to node i; *index the log index it was proposed at. -EAGAIN when the
 * node forwarded it (it no longer leads), -EIO on any other answer. */
static int post_action(const fo_bench *b, int i, const char *service, const char *action, double *index)
{
    char url[160], *body = NULL;
    long code = 0;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/services/%s/%s", b->api_port[i], service, action);
    int rc = md_fetch_bearer("POST", url, FO_ADMIN_TOKEN, 5000, &code, &body, NULL, 0);
    cJSON *doc = rc == 0 && code == 202 ? cJSON_Parse(body) : NULL;
    const cJSON *ix = cJSON_GetObjectItem(doc, "index");
    rc = !doc ? -EIO : cJSON_IsNumber(ix) && ix->valuedouble > 0 ? 0 : -EAGAIN;
    if (rc == 0)
        *index = ix->valuedouble;
    else
        fprintf(stderr, "failover_bench: POST %s answered %ld: %s\n", url, code, body ? body : "(nothing)");
    cJSON_Delete(doc);
    free(body);
    return rc;
}

static int await_commit(const fo_bench *b, int leader, double index)
{
    double deadline = fo_now_ms() + COMMIT_WAIT_MS;
    while (fo_now_ms() < deadline) {
        fo_view v;
        if (fo_view_of(b, leader, &v) == 0 && v.commit >= index)
            return 0;
        fo_sleep_ms(POLL_MS);
    }
    return -ETIMEDOUT;
}

/* The latency run; the leader must not change during it. */
static int latency_run(fo_bench *b, int leader, commit_figures *f)
{
    size_t n = (size_t)b->commit_n;
    double *seen = calloc(n, sizeof *seen), *post = calloc(n, sizeof *post);
    int rc = seen && post ? 0 : -ENOMEM;
    for (size_t k = 0; k < n && rc == 0; k++) {
        double index = 0, t0 = fo_now_ms();
        rc = post_action(b, leader, fo_services[0], k % 2 ? "resume" : "pause", &index);
        post[k] = fo_now_ms() - t0;
        if (rc == 0 && (rc = await_commit(b, leader, index)) < 0)
            fprintf(stderr, "failover_bench: index %.0f not committed within %d ms\n", index, COMMIT_WAIT_MS);
        seen[k] = fo_now_ms() - t0;
    }
    double ignored;
    if (rc == 0) {
        fo_quantiles(seen, n, &f->seen_p50, &f->seen_p99);
        fo_quantiles(post, n, &f->post_p50, &ignored);
    }
    free(seen);
    free(post);
    fo_view v;
    if (rc == 0 && (rc = fo_view_of(b, leader, &v)) == 0) {
        f->node_samples = v.lat_samples;
        f->node_p50 = v.lat_p50_ms;
        f->node_p99 = v.lat_p99_ms;
    }
    return rc;
}

/* ---- the throughput run ---- */

typedef struct {
    const fo_bench *b;
    int leader;
    struct curl_slist *auth;
    unsigned long sent;         /* picks the next service and action */
    double t_a, t_b;            /* the measured window */
    double c_a, c_b;            /* committed_entries_total at its ends */
    unsigned long accepted;     /* 202 answers within the window */
    int refused;                /* answers other than 202, any time */
} load;

/* Points h at the next action: services in turn, pause and resume alternating per service. */
static void aim(load *ld, CURL *h)
{
    char url[160];
    unsigned long k = ld->sent++;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/services/%s/%s", ld->b->api_port[ld->leader],
             fo_services[k % FO_N_SERVICES], (k / FO_N_SERVICES) % 2 ? "resume" : "pause");
    curl_easy_setopt(h, CURLOPT_URL, url); /* libcurl copies it */
}

static CURL *new_handle(load *ld)
{
    CURL *h = curl_easy_init();
    if (!h)
        return NULL;
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, ld->auth);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, md_curl_discard);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    aim(ld, h);
    return h;
}

static int read_committed(const load *ld, double *count, double *at)
{
    fo_view v;
    int rc = fo_view_of(ld->b, ld->leader, &v);
    *at = fo_now_ms();
    *count = rc < 0 ? -1 : v.committed_total;
    return rc < 0 ? rc : *count < 0 ? -EPROTO : 0;
}

/* Counts a finished request; re-aims and re-adds its handle while the load lasts. Returns
 * whether the handle went back in. */
static bool finished(load *ld, CURLM *m, CURLMsg *msg, bool more)
{
    long code = 0;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
    if (msg->data.result != CURLE_OK || code != 202)
        ld->refused++;
    else if (ld->t_a > 0 && ld->t_b == 0)
        ld->accepted++;
    curl_multi_remove_handle(m, msg->easy_handle);
    if (!more)
        return false;
    aim(ld, msg->easy_handle);
    return curl_multi_add_handle(m, msg->easy_handle) == CURLM_OK;
}

/* Drives the handles until the window has ended and every request has finished (bounded). */
static int drive(load *ld, CURLM *m, int active, double start, double window_ms)
{
    int rc = 0;
    while (active > 0 && fo_now_ms() - start < WARMUP_MS + window_ms + DRAIN_WAIT_MS && rc == 0) {
        double el = fo_now_ms() - start;
        if (ld->t_a == 0 && el >= WARMUP_MS)
            rc = read_committed(ld, &ld->c_a, &ld->t_a);
        else if (ld->t_b == 0 && el >= WARMUP_MS + window_ms)
            rc = read_committed(ld, &ld->c_b, &ld->t_b);
        int running = 0;
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int left = 0;
        while ((msg = curl_multi_info_read(m, &left)))
            if (msg->msg == CURLMSG_DONE && !finished(ld, m, msg, ld->t_b == 0))
                active--;
        curl_multi_poll(m, NULL, 0, 10, NULL);
    }
    return rc < 0 ? rc : active > 0 ? -ETIMEDOUT : 0;
}

static int load_run(fo_bench *b, int leader, commit_figures *f)
{
    load ld = { .b = b, .leader = leader };
    ld.auth = curl_slist_append(NULL, "Authorization: Bearer " FO_ADMIN_TOKEN);
    CURLM *m = curl_multi_init();
    CURL *h[64] = { 0 };
    int active = 0, rc = ld.auth && m ? 0 : -ENOMEM;
    for (int k = 0; k < b->in_flight && rc == 0; k++)
        if (!(h[k] = new_handle(&ld)) || curl_multi_add_handle(m, h[k]) != CURLM_OK)
            rc = -ENOMEM;
        else
            active++;
    if (rc == 0)
        rc = drive(&ld, m, active, fo_now_ms(), b->load_s * 1000.0);
    for (int k = 0; k < b->in_flight; k++) {
        if (h[k])
            curl_multi_remove_handle(m, h[k]);
        curl_easy_cleanup(h[k]);
    }
    curl_multi_cleanup(m);
    curl_slist_free_all(ld.auth);
    double window_s = (ld.t_b - ld.t_a) / 1000.0;
    f->entries_per_s = rc == 0 && window_s > 0 ? (ld.c_b - ld.c_a) / window_s : -1;
    f->accepted_per_s = rc == 0 && window_s > 0 ? ld.accepted / window_s : -1;
    f->refused = ld.refused;
    return rc;
}

/* After the load: everything committed, then the node's latency over its newest proposals. */
static int after_load(fo_bench *b, int leader, commit_figures *f)
{
    double deadline = fo_now_ms() + DRAIN_WAIT_MS;
    while (fo_now_ms() < deadline) {
        fo_view v;
        if (fo_view_of(b, leader, &v) == 0 && v.leads && v.commit == v.last_index) {
            f->loaded_p50 = v.lat_p50_ms;
            f->loaded_p99 = v.lat_p99_ms;
            return 0;
        }
        fo_sleep_ms(50);
    }
    return -ETIMEDOUT;
}

static void print_commit(const fo_bench *b, const commit_figures *f)
{
    printf("RESULT commit timing=%s delay_ms=%d n=%d samples=%.0f median_ms=%.2f p99_ms=%.2f "
           "observed_median_ms=%.1f observed_p99_ms=%.1f post_median_ms=%.1f in_flight=%d load_s=%d "
           "entries_per_s=%.0f accepted_per_s=%.0f refused=%d loaded_median_ms=%.2f loaded_p99_ms=%.2f\n",
           b->timing, b->delay_ms, b->commit_n, f->node_samples, f->node_p50, f->node_p99, f->seen_p50, f->seen_p99,
           f->post_p50, b->in_flight, b->load_s, f->entries_per_s, f->accepted_per_s, f->refused, f->loaded_p50,
           f->loaded_p99);
    fflush(stdout);
}

int fo_commit_phase(fo_bench *b)
{
    commit_figures f = { .node_p50 = -1, .node_p99 = -1, .node_samples = -1, .seen_p50 = -1, .seen_p99 = -1,
                         .post_p50 = -1, .loaded_p50 = -1, .loaded_p99 = -1, .entries_per_s = -1,
                         .accepted_per_s = -1 };
    fo_view before, after;
    int leader = fo_wait_steady(b, 60000, &before);
    int rc = leader < 0 ? leader : latency_run(b, leader, &f);
    if (rc == 0 && before.lat_samples > 0)
        printf("note: the leader had %.0f latency samples before the run; they are in its figures\n",
               before.lat_samples);
    int l2 = rc == 0 ? fo_wait_steady(b, 60000, &after) : -1;
    if (rc == 0 && (l2 != leader || after.term != before.term))
        rc = -EAGAIN; /* the leader changed: the figures mix two nodes */
    if (rc == 0)
        rc = load_run(b, leader, &f);
    if (rc == 0)
        rc = after_load(b, leader, &f);
    print_commit(b, &f);
    if (rc < 0)
        fprintf(stderr, "failover_bench: commit phase failed: %s\n", strerror(-rc));
    return rc;
}
