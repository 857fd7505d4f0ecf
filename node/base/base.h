/* base.h: the plumbing every node module shares: the two clocks, the structured log, the
 * libcurl-on-libuv driver, and the blocking helpers of command-line tools and tests (child
 * processes, an HTTP fetch). Nothing here knows about services, health or the cluster. */
#ifndef MD_BASE_H
#define MD_BASE_H

#include <stdint.h>
#include <stdio.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <curl/curl.h>
#include <uv.h>

/* The node shell's two clocks. Pure cores never call these; time is passed to them. */

/* md_wall_ms: wall-clock milliseconds since the Unix epoch (for timestamps people read). */
int64_t md_wall_ms(void);
/* md_mono_us: monotonic microseconds (for durations and scheduling). */
int64_t md_mono_us(void);

/* One line per event, key=value text or JSON lines, with a level. Loop thread only. */

typedef enum { MD_LOG_DEBUG = 0, MD_LOG_INFO, MD_LOG_WARN, MD_LOG_ERROR } md_log_level;

typedef enum { MD_KV_END = 0, MD_KV_STR, MD_KV_INT, MD_KV_DBL } md_kv_type;

typedef struct {
    const char *k;
    md_kv_type type;
    const char *s;
    long long i;
    double d;
} md_kv;

#define MD_S(key, val) ((md_kv){ .k = (key), .type = MD_KV_STR, .s = (val) })
#define MD_I(key, val) ((md_kv){ .k = (key), .type = MD_KV_INT, .i = (long long)(val) })
#define MD_D(key, val) ((md_kv){ .k = (key), .type = MD_KV_DBL, .d = (double)(val) })

/* md_log_setup: json selects JSON lines; lines below min are dropped; out defaults to stderr. */
void md_log_setup(int json, md_log_level min, FILE *out);

/* md_log_kv writes one event line: time, level, event, then the fields up to MD_KV_END.
 * Values are written as given: callers mask secrets before logging. */
void md_log_kv(md_log_level lvl, const char *event, const md_kv *kv);

/* md_log_enabled says whether lines of lvl are written. */
bool md_log_enabled(md_log_level lvl);

/* The level is asked first so that a dropped line costs no field: a check's debug line names its
 * service, and reading the name was a cache miss a check at 10,000 services. */
#define md_log(lvl, event, ...)                                                                   \
    do {                                                                                          \
        if (md_log_enabled(lvl))                                                                  \
            md_log_kv((lvl), (event), (const md_kv[]){ __VA_ARGS__, { .type = MD_KV_END } });   \
    } while (0)
#define md_log0(lvl, event) md_log_kv((lvl), (event), (const md_kv[]){ { .type = MD_KV_END } })

/* md_log_level_parse maps "debug", "info", "warn", "error"; returns -1 for anything else. */
int md_log_level_parse(const char *s);

/* md_format_time_ms writes wall ms as RFC 3339 UTC with milliseconds ("2026-11-29T11:27:29.123Z"). */
void md_format_time_ms(int64_t wall_ms, char *out, size_t outlen);

/* Start and stop helper processes (the demo's node and service, test fixtures).
 * Blocking; for command-line tools and tests only, never inside a running node. */

typedef struct {
    pid_t pid;       /* 0 once stopped */
    int out_fd;      /* read end of the child's stdout, or -1 */
    char rbuf[512];  /* bytes read from out_fd but not yet returned as lines */
    size_t rlen;
} md_proc;

/* md_proc_spawn starts argv[0] (a path) with argv. With capture_stdout the child's stdout is a
 * pipe read through md_proc_read_line; otherwise it goes to stdout_path (truncated) when not
 * NULL. stderr goes to stderr_path (appended) when not NULL.
 * The child gets SIGKILL if this process dies first, so no fixture outlives its test.
 * Returns 0 or a negative errno. */
int md_proc_spawn(char *const argv[], bool capture_stdout, const char *stdout_path, const char *stderr_path,
                  md_proc *p);

/* md_proc_spawn_kept is md_proc_spawn for a child meant to outlive this process (`medic demo
 * --keep`): no parent-death signal, and a session of its own. */
int md_proc_spawn_kept(char *const argv[], bool capture_stdout, const char *stdout_path, const char *stderr_path,
                       md_proc *p);

/* md_proc_read_line reads one line (without the newline) within timeout_ms.
 * Returns its length, -ETIMEDOUT, or -EPIPE when the child closed stdout. */
int md_proc_read_line(md_proc *p, char *line, size_t len, int timeout_ms);

/* md_proc_stop sends sig (0: none, just wait) and waits up to timeout_ms, then SIGKILLs. *status (may be NULL)
 * receives the wait status. Returns 0 when the child exited on its own after sig, 1 when it
 * had to be killed, or a negative errno. Safe on a stopped md_proc. */
int md_proc_stop(md_proc *p, int sig, int timeout_ms, int *status);

/* md_proc_alive says whether the child is still running (reaping it if it has exited). */
bool md_proc_alive(md_proc *p, int *status);

/* md_proc_self_dir writes the directory of the running executable into dir. Returns 0 or -errno. */
int md_proc_self_dir(char *dir, size_t len);

/* md_free_port returns a TCP port on 127.0.0.1 that was free a moment ago, chosen outside the
 * kernel's range for outgoing connections' source ports, or a negative errno. */
int md_free_port(void);

/* The loop meter: how long each turn of the loop works between two waits. A long turn delays
 * every timer (heartbeats, election timeouts, checks) by as much. */

typedef struct {
    uint64_t turns;   /* turns measured */
    uint64_t stalls;  /* turns that worked warn_ms or longer */
    int64_t max_us;   /* the longest turn */
    uint64_t busy_us; /* the turns' work, summed */
    int64_t max_stall_cpu_us; /* the most CPU time the loop's thread used in one stall */
} md_loop_stats;

typedef struct md_loop_meter md_loop_meter;

/* md_loop_meter_new measures loop's turns from its next one and logs `loop_stall` (warn) for a
 * turn of warn_ms or longer (0: never). Call before uv_run. Returns 0, -ENOMEM or a libuv error. */
int md_loop_meter_new(uv_loop_t *loop, int64_t warn_ms, md_loop_meter **out);
void md_loop_meter_stats(const md_loop_meter *m, md_loop_stats *out);
/* md_loop_stats_add counts one turn that worked busy_us (the meter's arithmetic, for tests). */
void md_loop_stats_add(md_loop_stats *st, int64_t busy_us, int64_t warn_us);
/* md_loop_meter_close closes the meter's handle; it is freed once closed. NULL is ignored. */
void md_loop_meter_close(md_loop_meter *m);

/* md_curl_global_init is curl_global_init for a node, with libcurl's allocations going through
 * a cache of freed blocks by size kept for the calling thread (the loop's; why: curl_mem.c).
 * Call it before any other libcurl function, on the loop thread; 0 or -EIO. When libcurl was
 * initialized already it only counts, as curl_global_init does, and the cache is not used.
 * md_curl_global_cleanup undoes it and frees the kept blocks. */
int md_curl_global_init(void);
void md_curl_global_cleanup(void);
/* md_curl_mem_kept_bytes: bytes of freed blocks the cache holds now (at most 512 KiB). */
size_t md_curl_mem_kept_bytes(void);

/* Drives one libcurl multi handle from a libuv loop (socket and timer callbacks),
 * so HTTP transfers never block the loop and need no thread. */

typedef struct md_curl_loop md_curl_loop;

/* Called on the loop thread when a transfer added with md_curl_loop_add finishes (or fails).
 * The easy handle has already been removed from the multi handle; the callee owns it again. */
typedef void (*md_curl_done_cb)(CURL *easy, CURLcode result, void *ctx);

/* md_curl_loop_new creates the multi handle on loop. Returns NULL on allocation failure. */
md_curl_loop *md_curl_loop_new(uv_loop_t *loop);

/* md_curl_loop_multi exposes the multi handle for options (max connections...). Owned by cl. */
CURLM *md_curl_loop_multi(md_curl_loop *cl);

/* md_curl_loop_idle_ns: nanoseconds the loop has spent waiting in its poll (no work to do) since
 * md_curl_loop_new, up to now (call it from a loop callback); the prober sizes its in-flight
 * limit from it. */
uint64_t md_curl_loop_idle_ns(md_curl_loop *cl);

/* md_curl_loop_add starts a transfer. On success the transfer belongs to cl until cb runs.
 * cl uses the easy handle's CURLOPT_PRIVATE while it runs; callers must not set it.
 * Returns 0, -ENOMEM, or -EIO when curl refuses the handle (the caller keeps it then). */
int md_curl_loop_add(md_curl_loop *cl, CURL *easy, md_curl_done_cb cb, void *ctx);

/* md_curl_loop_cancel removes a running transfer without calling its callback; the caller owns
 * the easy handle again. A handle that is not running here is ignored. */
void md_curl_loop_cancel(md_curl_loop *cl, CURL *easy);

/* md_curl_discard is a CURLOPT_WRITEFUNCTION that drops the body (curl's default writes it to
 * stdout): for transfers that want only the status. */
size_t md_curl_discard(char *data, size_t size, size_t n, void *ud);

/* md_curl_loop_close cancels every transfer (no callbacks), closes the uv handles and frees cl
 * once they are closed; keep running the loop until it has no more handles. Free the users of
 * cl (md_prober_free) first: they must not touch cl afterwards. May be called from a done
 * callback. */
void md_curl_loop_close(md_curl_loop *cl);

/* A blocking HTTP GET for command-line tools (status, demo) and tests. Never used by a
 * running node, whose loop must not block. */

/* md_fetch GETs url within timeout_ms. On success returns 0 with *status the HTTP status and
 * *body a malloc'd NUL-terminated answer (caller frees). On a transport failure returns -EIO
 * with err filled (err may be NULL). method NULL means GET. */
int md_fetch(const char *method, const char *url, long timeout_ms, long *status, char **body, char *err,
             size_t errlen);

/* md_fetch_bearer is md_fetch with "Authorization: Bearer <token>" (token may be NULL). */
int md_fetch_bearer(const char *method, const char *url, const char *token, long timeout_ms, long *status, char **body,
                    char *err, size_t errlen);

#endif
