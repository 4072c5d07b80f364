/* SPDX-License-Identifier: MIT */
/* Helpers of the superd-import tests: import through the library, read the drop-ins back, run superd -t. */
#include "import-util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "import-emit.h"
#include "import-input.h"
#include "util.h"

char *ti_fixture(const char *rel)
{
        const char *dir = getenv("IMPORT_FIXTURES");

        cr_assert(dir && *dir, "IMPORT_FIXTURES is not set: run through `meson test`");
        return tu_path(dir, rel);
}

void ti_import(struct ti *t, const char *const *paths)
{
        struct imp_set set = {0};
        size_t n = 0, out_len, err_len;
        FILE *out = open_memstream(&t->out, &out_len);
        struct imp_report r = {.out = open_memstream(&t->err, &err_len)};

        cr_assert(out && r.out);
        while (paths[n])
                n++;
        if (imp_read_inputs(&set, (char *const *)paths, n, &r) == 0)
                imp_emit_set(&set, NULL, false, out, &r);
        imp_set_clear(&set);
        t->status = imp_exit_status(&r);
        cr_assert(fclose(out) == 0 && fclose(r.out) == 0);
}

void ti_free(struct ti *t)
{
        free(t->out);
        free(t->err);
}

char *ti_section(const char *out, const char *name)
{
        char *head, *start, *end;

        cr_assert(asprintf(&head, "\nservice %s {\n", name) > 0);
        start = strstr(out, head);
        free(head);
        if (!start)
                return NULL;
        end = strstr(start + 1, "\n}\n");
        cr_assert(end, "service %s is not closed", name);
        return strndup(start + 1, (size_t)(end - start) + 1);
}

bool ti_has_service(const char *out, const char *name)
{
        char *s = ti_section(out, name);

        free(s);
        return s != NULL;
}

char *ti_value(const char *section, const char *key)
{
        size_t klen = strlen(key);

        for (const char *p = section; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
                const char *q = p + strspn(p, " ");
                if (strncmp(q, key, klen) != 0 || (q[klen] != ' ' && q[klen] != '='))
                        continue;
                q += klen + strspn(q + klen, " ");
                if (*q != '=')
                        continue;
                q += 1 + strspn(q + 1, " ");
                return strndup(q, strcspn(q, "\n"));
        }
        return NULL;
}

void ti_assert_key(const char *section, const char *key, const char *value)
{
        char *v = ti_value(section, key);

        cr_assert(v, "no key %s in:\n%s", key, section);
        cr_assert_str_eq(v, value, "%s: got %s, want %s in:\n%s", key, v, value, section);
        free(v);
}

bool ti_has(const char *text, const char *needle)
{
        return text && strstr(text, needle) != NULL;
}

int ti_run(const char *const *args, char **ret_out, char **ret_err)
{
        const char *exe = getenv("SUPERD_IMPORT");
        const char *argv[32] = {exe};
        size_t n = 1;

        cr_assert(exe && *exe, "SUPERD_IMPORT is not set: run through `meson test`");
        for (; args[n - 1] && n < 31; n++)
                argv[n] = args[n - 1];
        argv[n] = NULL;
        return tu_run((char *const *)argv, ret_out, ret_err);
}

void ti_superd_check(const char *dir, const char *const *allowed)
{
        const char *superd = getenv("SUPERD");
        char *out = NULL, *err = NULL;
        int status;

        cr_assert(superd && *superd, "SUPERD is not set: run through `meson test`");
        const char *argv[] = {superd, "-t", "-d", dir, NULL};
        status = tu_run((char *const *)argv, &out, &err);
        for (char *line = strtok(err, "\n"); status != 0 && line; line = strtok(NULL, "\n")) {
                bool ok = strstr(line, "configuration is invalid") != NULL;
                for (size_t i = 0; allowed && allowed[i]; i++)
                        ok |= strstr(line, allowed[i]) != NULL;
                cr_assert(ok, "superd -t refuses a drop-in: %s", line);
        }
        free(out);
        free(err);
}
