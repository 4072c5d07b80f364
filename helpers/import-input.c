/* SPDX-License-Identifier: MIT */
/* superd-import's inputs: each path told apart by content (xinetd, inetd.conf) and read into one set. */
#include "import-input.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "import-inetd.h"
#include "import-xinetd.h"
#include "strv.h"

/* Folders and xinetd files go to *XINETD (read later, together); inetd.conf is read now. */
static int classify(const char *path, char ***xinetd, struct imp_set *set, struct imp_report *r)
{
        struct stat st;
        char *text;
        int k;

        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
                return strv_push(xinetd, path);
        k = imp_read_file(path, &text, r);
        if (k < 0)
                return k;
        if (imp_xinetd_detect(text))
                k = strv_push(xinetd, path);
        else if (imp_inetd_detect(text))
                k = imp_inetd_read(set, text, path, r);
        else
                k = imp_error(r, path, 0, "neither an xinetd configuration nor an inetd.conf");
        free(text);
        return k;
}

int imp_read_inputs(struct imp_set *set, char *const *paths, size_t n, struct imp_report *r)
{
        char **xinetd = NULL;
        int k = 0;

        for (size_t i = 0; i < n && k != -ENOMEM; i++)
                k = classify(paths[i], &xinetd, set, r);
        if (k != -ENOMEM && xinetd)
                k = imp_xinetd_read(set, xinetd, strv_length(xinetd), r);
        strv_free(xinetd);
        if (k == -ENOMEM)
                return imp_error(r, "superd-import", 0, "out of memory"), -ENOMEM;
        return r->errors ? -EINVAL : 0;
}

int imp_exit_status(const struct imp_report *r)
{
        return r->errors ? IMP_EXIT_ERROR : r->untranslated ? IMP_EXIT_UNTRANSLATED : IMP_EXIT_TRANSLATED;
}
