/* probe.h: runs one HTTP(S) or TCP check at a time per caller, asynchronously on the loop.
 * Knows nothing of services or health: it takes a request and reports one md_check_result. */
#ifndef MD_PROBE_H
#define MD_PROBE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "types.h"

typedef struct md_prober md_prober;

/* What to check. Every pointer is borrowed and must stay valid until the callback runs
 * (they normally point into the md_config). */
typedef struct {
    md_check_kind kind;
    const char *url;          /* HTTP: the URL; TCP: unused */
    const char *method;       /* HTTP: "GET", "HEAD", ...; NULL means GET */
    int expect_status;        /* 0: any 2xx */
    const char *expect_body;  /* NULL: body not checked */
    const md_header *headers;
    size_t n_headers;
    bool tls_verify;
    const char *ca_file;      /* NULL: system store */
    bool keepalive;
    const char *tcp_host;     /* TCP: host */
    int tcp_port;             /* TCP: port */
    int64_t timeout_ms;
    bool want_cert;           /* HTTPS: report the peer certificate's expiry when a handshake happens */
} md_probe_request;

/* Extra facts a check may learn besides its result. */
typedef struct {
    int64_t cert_expiry_ms;   /* wall ms of the leaf certificate's notAfter; 0 if not learned */
} md_probe_extra;

/* Called on the loop thread exactly once per started probe (never for a cancelled one). */
typedef void (*md_probe_cb)(void *ctx, const md_check_result *result, const md_probe_extra *extra);

/* md_prober_new: a prober that runs its transfers on the given curl multi. Returns NULL on OOM. */
struct md_curl_loop;
md_prober *md_prober_new(uv_loop_t *loop, struct md_curl_loop *cl);

/* md_probe_start starts one check; cb(ctx, ...) reports it. *handle_out (may be NULL) receives
 * an id usable with md_probe_cancel. Returns 0, or a negative error (-ENOMEM, -EINVAL). */
int md_probe_start(md_prober *p, const md_probe_request *req, md_probe_cb cb, void *ctx,
                   void **handle_out);

/* md_probe_cancel stops a running check; its callback will not run. */
void md_probe_cancel(md_prober *p, void *handle);

/* md_prober_free cancels everything still running and frees the prober (not the curl loop). */
void md_prober_free(md_prober *p);

#endif
