/* curl_loop.h: drives one libcurl multi handle from a libuv loop (socket and timer callbacks),
 * so HTTP transfers never block the loop and need no thread. */
#ifndef MD_CURL_LOOP_H
#define MD_CURL_LOOP_H

#include <curl/curl.h>
#include <uv.h>

typedef struct md_curl_loop md_curl_loop;

/* Called on the loop thread when a transfer added with md_curl_loop_add finishes (or fails).
 * The easy handle has already been removed from the multi handle; the callee owns it again. */
typedef void (*md_curl_done_cb)(CURL *easy, CURLcode result, void *ctx);

/* md_curl_loop_new creates the multi handle on loop. Returns NULL on allocation failure. */
md_curl_loop *md_curl_loop_new(uv_loop_t *loop);

/* md_curl_loop_multi exposes the multi handle for options (max connections...). Owned by cl. */
CURLM *md_curl_loop_multi(md_curl_loop *cl);

/* md_curl_loop_add starts a transfer. On success the transfer belongs to cl until cb runs.
 * cl uses the easy handle's CURLOPT_PRIVATE while it runs; callers must not set it.
 * Returns 0, -ENOMEM, or -EIO when curl refuses the handle (the caller keeps it then). */
int md_curl_loop_add(md_curl_loop *cl, CURL *easy, md_curl_done_cb cb, void *ctx);

/* md_curl_loop_cancel removes a running transfer without calling its callback; the caller owns
 * the easy handle again. A handle that is not running here is ignored. */
void md_curl_loop_cancel(md_curl_loop *cl, CURL *easy);

/* md_curl_loop_close cancels every transfer (no callbacks), closes the uv handles and frees cl
 * once they are closed; keep running the loop until it has no more handles. Free the users of
 * cl (md_prober_free) first: they must not touch cl afterwards. May be called from a done
 * callback. */
void md_curl_loop_close(md_curl_loop *cl);

#endif
