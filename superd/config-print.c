/* SPDX-License-Identifier: MIT */
/* `superd -t`: the effective configuration printed so that it parses back to the same one. */
#include "config-print.h"

#include "config-keys.h"
#include "config.h"
#include "log.h"

void config_print_key(FILE *out, const char *key, const char *v)
{
        fprintf(out, "    %-14s = ", key);
        config_print_text(out, v, true);
}

void config_print_list(FILE *out, const char *key, char *const *v)
{
        if (!v)
                return;
        fprintf(out, "    %-14s = {", key);
        for (size_t i = 0; v[i]; i++) {
                fputs(i ? ", " : " ", out);
                config_print_text(out, v[i], true);
        }
        fprintf(out, " }\n");
}

/* Write errors are not reported here: they stay in ferror(out) for the caller. */
void config_print(const struct config *c, FILE *out)
{
        fputs("# main file: ", out);
        config_print_text(out, c->main_file ? c->main_file : "(none, built-in defaults)", false);
        fputs("\nservices-dir = ", out);
        config_print_text(out, c->services_dir, true);
        fputs("\nhelpers-dir  = ", out);
        config_print_text(out, c->helpers_dir, true);
        fprintf(out, "\nlog-level    = %s\nmax-children = %u\nstatus-socket = ", log_level_to_string(c->log_level),
                c->max_children);
        config_print_text(out, c->status_socket ? c->status_socket : "", true);
        fputs(c->status_socket ? "\n" : "  # none\n", out);
        for (size_t i = 0; i < c->n_services; i++) {
                const struct service *s = c->services[i];
                fputs("\n# ", out);
                config_print_text(out, s->file, false);
                /* Names are letters, digits and -_.@ (checked where parsed): an unquoted word. */
                fprintf(out, ":%u\nservice %s {\n", s->line, s->name);
                keys_print(out, s);
                fprintf(out, "}\n");
        }
}
