/* SPDX-License-Identifier: MIT */
/* Unit tests of strv.c: length, deep copy, push, free. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "strv.h"

Test(strv, length)
{
        char *v[] = {"a", "b", "", NULL};
        char *empty[] = {NULL};

        cr_assert_eq(strv_length(NULL), 0);
        cr_assert_eq(strv_length(empty), 0);
        cr_assert_eq(strv_length(v), 3);
}

Test(strv, copy_is_deep)
{
        char *v[] = {"exec", "--flag", "", NULL};
        char **c = strv_copy(v);

        cr_assert_not_null(c);
        cr_assert_neq(c, v);
        cr_assert_eq(strv_length(c), 3);
        for (size_t i = 0; i < 3; i++) {
                cr_assert_str_eq(c[i], v[i]);
                cr_assert_neq(c[i], v[i], "entry %zu shares its string", i);
        }
        cr_assert_null(c[3]);
        strv_free(c);
}

Test(strv, copy_null_and_empty)
{
        char *empty[] = {NULL};
        char **c;

        cr_assert_null(strv_copy(NULL));
        c = strv_copy(empty);
        cr_assert_not_null(c, "an empty vector copies to an empty vector, not NULL");
        cr_assert_null(c[0]);
        strv_free(c);
}

Test(strv, push_grows_and_copies)
{
        char **v = NULL;
        char buf[16];

        for (int i = 0; i < 100; i++) {
                snprintf(buf, sizeof(buf), "s%d", i);
                cr_assert_eq(strv_push(&v, buf), 0);
                cr_assert_eq(strv_length(v), (size_t)i + 1);
                cr_assert_null(v[i + 1]);
        }
        for (int i = 0; i < 100; i++) {
                snprintf(buf, sizeof(buf), "s%d", i);
                cr_assert_str_eq(v[i], buf);
        }
        cr_assert_null(strv_free(v));
}

Test(strv, free_null)
{
        cr_assert_null(strv_free(NULL));
}

Test(strv, pack_is_one_block_with_the_same_entries)
{
        char *v[] = {"/bin/echo", "", "a b", NULL};
        char **p = strv_pack(v);

        cr_assert_not_null(p);
        cr_assert_eq(strv_length(p), 3);
        for (size_t i = 0; i < 3; i++) {
                cr_assert_str_eq(p[i], v[i]);
                /* The strings follow the pointers, in order, inside the one allocation. */
                cr_assert(p[i] >= (char *)(p + 4));
        }
        cr_assert_null(p[3]);
        cr_assert_eq(p[1], p[0] + strlen(v[0]) + 1);
        free(p); /* one free(3) releases it all */
        cr_assert_null(strv_pack(NULL));
}
