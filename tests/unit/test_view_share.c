/* test_view_share.c: unit tests of texts views share by reference (node/view/view.c,
 * md_shared_text and md_view_share): one copy however many views hold it, alive until the last
 * holder lets go, in any order. LeakSanitizer (the sanitizer build) checks every path frees it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "view/view.h"

static char *dup(const char *s)
{
    char *c = malloc(strlen(s) + 1);
    assert_non_null(c);
    return strcpy(c, s);
}

static void test_views_share_one_copy(void **state)
{
    (void)state;
    md_shared_text *t = md_shared_text_adopt(dup("{\"open\":[]}"));
    assert_non_null(t);
    md_view *a = md_view_alloc(1), *b = md_view_alloc(1);
    assert_non_null(a);
    assert_non_null(b);
    const char *ta = md_view_share(a, t), *tb = md_view_share(b, t);
    assert_ptr_equal(ta, md_shared_text_str(t)); /* the same bytes, not a copy */
    assert_ptr_equal(tb, ta);
    md_shared_text_unref(t); /* the maker lets go first: the views keep it */
    assert_string_equal(ta, "{\"open\":[]}");
    md_view_unref(a);
    assert_string_equal(tb, "{\"open\":[]}"); /* b still holds it */
    md_view_unref(b);
}

static void test_maker_outlives_views(void **state)
{
    (void)state;
    md_shared_text *t = md_shared_text_adopt(dup("doc"));
    for (int i = 0; i < 3; i++) {
        md_view *v = md_view_alloc(0);
        assert_non_null(v);
        assert_string_equal(md_view_share(v, t), "doc");
        assert_string_equal(md_view_share(v, t), "doc"); /* twice in one view: two references */
        md_view_unref(v);
    }
    assert_string_equal(md_shared_text_str(t), "doc");
    md_shared_text_unref(t);
}

static void test_null(void **state)
{
    (void)state;
    assert_null(md_shared_text_adopt(NULL));
    md_shared_text_unref(NULL);
    md_view *v = md_view_alloc(0);
    assert_null(md_view_share(v, NULL));
    md_view_unref(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_views_share_one_copy),
        cmocka_unit_test(test_maker_outlives_views),
        cmocka_unit_test(test_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
