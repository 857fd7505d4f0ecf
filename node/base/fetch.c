/* fetch.c: blocking libcurl easy GET with a size cap, for the CLI, the demo and tests. */
#include "base.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ANSWER (64 * 1024 * 1024)

typedef struct {
    char *data;
    size_t len;
    bool too_big;
} answer;

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    answer *a = ud;
    size_t n = size * nmemb;
    if (a->len + n > MAX_ANSWER) {
        a->too_big = true;
        return 0;
    }
    char *grown = realloc(a->data, a->len + n + 1);
    if (!grown)
        return 0;
    a->data = grown;
    memcpy(a->data + a->len, ptr, n);
    a->len += n;
    a->data[a->len] = '\0';
    return n;
}

int md_fetch(const char *method, const char *url, long timeout_ms, long *status, char **body, char *err,
             size_t errlen)
{
    return md_fetch_bearer(method, url, NULL, timeout_ms, status, body, err, errlen);
}

int md_fetch_bearer(const char *method, const char *url, const char *token, long timeout_ms, long *status, char **body,
                    char *err, size_t errlen)
{
    answer a = { 0 };
    CURL *c = curl_easy_init();
    if (!c) {
        if (err)
            snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    if (method && strcmp(method, "GET") != 0)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (method && strcmp(method, "POST") == 0)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &a);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "medic-cli/" MD_VERSION);
    struct curl_slist *hdrs = NULL;
    if (token) {
        char line[1024];
        snprintf(line, sizeof line, "Authorization: Bearer %s", token);
        hdrs = curl_slist_append(NULL, line);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    }
    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(hdrs);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK) {
        if (err)
            snprintf(err, errlen, "%s", a.too_big ? "answer too large" : curl_easy_strerror(rc));
        free(a.data);
        return -EIO;
    }
    if (!a.data) {
        a.data = calloc(1, 1);
        if (!a.data)
            return -ENOMEM;
    }
    *status = code;
    *body = a.data;
    return 0;
}
