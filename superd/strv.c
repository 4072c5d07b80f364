/* SPDX-License-Identifier: MIT */
/* NULL-terminated string vectors (argv, envp): the few operations superd needs. */
#include "strv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

size_t strv_length(char *const *v)
{
        size_t n = 0;

        while (v && v[n])
                n++;
        return n;
}

char **strv_copy(char *const *v)
{
        size_t n = strv_length(v);
        char **c;

        if (!v)
                return NULL;
        c = calloc(n + 1, sizeof(*c));
        if (!c)
                return NULL;
        for (size_t i = 0; i < n; i++)
                if (!(c[i] = strdup(v[i])))
                        return strv_free(c);
        return c;
}

size_t strv_packed_size(char *const *v, size_t n)
{
        size_t size = (n + 1) * sizeof(char *);

        for (size_t i = 0; i < n; i++)
                size += strlen(v[i]) + 1;
        return size;
}

char **strv_pack_at(void *buf, char *const *v, size_t n)
{
        char **c = buf, *p = (char *)(c + n + 1);

        for (size_t i = 0; i < n; i++) {
                c[i] = p;
                p = stpcpy(p, v[i]) + 1;
        }
        c[n] = NULL;
        return c;
}

char **strv_pack(char *const *v)
{
        size_t n = strv_length(v);
        void *buf;

        if (!v)
                return NULL;
        buf = malloc(strv_packed_size(v, n));
        return buf ? strv_pack_at(buf, v, n) : NULL;
}

int strv_push(char ***v, const char *s)
{
        size_t n = strv_length(*v);
        char *d = strdup(s);
        char **nv;

        if (!d)
                return -ENOMEM;
        nv = realloc(*v, (n + 2) * sizeof(*nv));
        if (!nv) {
                free(d);
                return -ENOMEM;
        }
        nv[n] = d;
        nv[n + 1] = NULL;
        *v = nv;
        return 0;
}

char **strv_free(char **v)
{
        for (size_t i = 0; v && v[i]; i++)
                free(v[i]);
        free(v);
        return NULL;
}
