/* test_curl_mem.c: libcurl's allocator in a node (md_curl_global_init): what libcurl frees on the
 * loop thread is kept for reuse, within its bound; what another thread frees goes back to malloc;
 * blocks of every size (kept classes, large ones, grown by realloc) round-trip intact; cleanup
 * returns everything (LeakSanitizer would report a block left behind). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/mprintf.h>
#include <pthread.h>
#include <string.h>

#include "base/base.h"

static void *escape_on_other_thread(void *arg)
{
    (void)arg;
    char *e = curl_easy_escape(NULL, "a b/c", 0);
    assert_non_null(e);
    assert_string_equal(e, "a%20b%2Fc");
    curl_free(e);
    return NULL;
}

static void test_keeps_and_bounds(void **state)
{
    (void)state;
    assert_int_equal(md_curl_global_init(), 0);
    assert_int_equal(md_curl_mem_kept_bytes(), 0);

    /* small blocks: freed ones are kept */
    char *e = curl_easy_escape(NULL, "hello world", 0);
    assert_non_null(e);
    assert_string_equal(e, "hello%20world");
    curl_free(e);
    size_t kept = md_curl_mem_kept_bytes();
    assert_true(kept > 0);

    /* a kept block is handed out again: the same size costs no new bytes */
    e = curl_easy_escape(NULL, "hello world", 0);
    assert_true(md_curl_mem_kept_bytes() < kept);
    curl_free(e);
    assert_int_equal(md_curl_mem_kept_bytes(), kept);

    /* another thread's frees go to malloc, not to the loop thread's lists */
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, escape_on_other_thread, NULL), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(md_curl_mem_kept_bytes(), kept);

    /* large blocks (over 1 KiB) and growth by realloc keep their bytes */
    char big[5000];
    for (size_t i = 0; i < sizeof big - 1; i++)
        big[i] = (char)('a' + i % 26);
    big[sizeof big - 1] = '\0';
    char *p = curl_maprintf("%s|%s", big, "end"); /* curl's printf grows its buffer */
    assert_non_null(p);
    assert_int_equal(strlen(p), sizeof big - 1 + 4);
    assert_memory_equal(p, big, sizeof big - 1);
    assert_string_equal(p + sizeof big - 1, "|end");
    curl_free(p);

    /* whole handles: many blocks of many sizes, then freed at once, stay within the bound */
    CURL *h[200];
    struct curl_slist *l = NULL;
    for (int i = 0; i < 200; i++) {
        h[i] = curl_easy_init();
        assert_non_null(h[i]);
        assert_int_equal(curl_easy_setopt(h[i], CURLOPT_URL, "http://127.0.0.1:9/some/path?q=1"), CURLE_OK);
        l = curl_slist_append(l, "X-Test: 1");
        assert_non_null(l);
    }
    for (int i = 0; i < 200; i++)
        curl_easy_cleanup(h[i]);
    curl_slist_free_all(l);
    assert_true(md_curl_mem_kept_bytes() > kept);
    assert_true(md_curl_mem_kept_bytes() <= 512 * 1024);

    md_curl_global_cleanup();
    assert_int_equal(md_curl_mem_kept_bytes(), 0);
}

/* Initialized by someone else first: libcurl keeps that allocator and only counts. */
static void test_after_plain_init(void **state)
{
    (void)state;
    assert_int_equal(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
    assert_int_equal(md_curl_global_init(), 0);
    char *e = curl_easy_escape(NULL, "x y", 0);
    curl_free(e);
    assert_int_equal(md_curl_mem_kept_bytes(), 0);
    md_curl_global_cleanup();
    curl_global_cleanup();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keeps_and_bounds),
        cmocka_unit_test(test_after_plain_init),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
