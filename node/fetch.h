/* fetch.h: a blocking HTTP GET for command-line tools (status, demo) and tests. Never used by a
 * running node, whose loop must not block. */
#ifndef MD_FETCH_H
#define MD_FETCH_H

#include <stddef.h>

/* md_fetch GETs url within timeout_ms. On success returns 0 with *status the HTTP status and
 * *body a malloc'd NUL-terminated answer (caller frees). On a transport failure returns -EIO
 * with err filled (err may be NULL). method NULL means GET. */
int md_fetch(const char *method, const char *url, long timeout_ms, long *status, char **body, char *err,
             size_t errlen);

/* md_fetch_bearer is md_fetch with "Authorization: Bearer <token>" (token may be NULL). */
int md_fetch_bearer(const char *method, const char *url, const char *token, long timeout_ms, long *status, char **body,
                    char *err, size_t errlen);

#endif
