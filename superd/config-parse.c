/* SPDX-License-Identifier: MIT */
/*
 * Reading one configuration file with libconfuse, and a pre-scan of its text
 * that works around two behaviours of libconfuse 3.3's lexer (src/lexer.l):
 *   - Line counting: qput() and qend() each add one to cfg->line, so every
 *     '#' or '//' comment counts two lines too many and every block comment
 *     one too many; each FILE:LINE after the first comment would be wrong.
 *     blank_comments() turns comments into spaces, newlines kept.
 *   - End of file: a double-quoted string and a block comment have no
 *     <<EOF>> rule, so one left open is accepted as if it were closed; and
 *     a '\' as the last byte inside quotes matches no rule at all, so flex's
 *     default rule copies it to stdout. Such a text is reported and never
 *     given to libconfuse.
 */
#include "config-parse.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "config-keys.h"
#include "config-values.h"
#include "log.h"

#ifndef HELPERSDIR
#define HELPERSDIR "/usr/libexec/superd"
#endif

#define MAX_FILE_SIZE (1 << 20) /* bytes; a drop-in larger than this is a mistake */

/*
 * State of one parse_file(). libconfuse callbacks carry no user pointer, so
 * the parse in progress is reached through P; parses are never nested.
 */
struct parser {
        const struct parse_context *ctx;
        cfg_t *root;      /* the file being parsed */
        int section_line; /* line of the '{' of the section being parsed, 0 = not known yet */
        int *lines;       /* per service section of the file, its line */
        size_t n_lines;
};

static struct parser *P;

static void report(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void report(const char *file, int line, const char *fmt, ...)
{
        char msg[512];
        va_list ap;

        va_start(ap, fmt);
        (void)vsnprintf(msg, sizeof(msg), fmt, ap); /* a longer message is cut, still one error */
        va_end(ap);
        config_report(P->ctx->report, file, line, "%s", msg);
}

/*
 * libconfuse's error callback. The file is the one being parsed (superd
 * offers no `include`): libconfuse copies the file name only into sections
 * made after it was set, and `defaults`, made by cfg_init(), has none.
 */
static void on_cfg_error(cfg_t *cfg, const char *fmt, va_list ap)
{
        const char *file = P->root ? P->root->filename : cfg->filename;
        char msg[512];

        (void)vsnprintf(msg, sizeof(msg), fmt, ap);
        report(file ? file : "?", cfg->line, "%s", msg);
}

/* The parse callback of every key of a service or defaults section (config-keys.c does the work). */
static int on_value(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
        const struct key_site site = {
            .report = P->ctx->report,
            .file = P->root->filename,
            .line = cfg->line,
            .users = P->ctx->users,
        };

        if (P->section_line == 0)
                P->section_line = P->root->line; /* the parent's counter stops at the section's '{' */
        /* libconfuse has added the entry being parsed: it is the last one. */
        return keys_parse(&site, opt->name, opt->nvalues ? opt->nvalues - 1 : 0, value, result);
}

/*
 * Validator for a whole `service` section; runs at its closing brace.
 * libconfuse merges a second section of the same title into the first, so a
 * name used twice in one file shows up as a section count that did not grow.
 */
static int validate_service_section(cfg_t *cfg, cfg_opt_t *opt)
{
        unsigned n = cfg_opt_size(opt);
        int line = P->section_line ? P->section_line : cfg->line;
        cfg_t *sec = cfg_opt_getnsec(opt, n - 1);
        const char *title;
        int *lines;

        P->section_line = 0;
        if (n <= P->n_lines) {
                for (unsigned j = 0; j < n; j++)
                        if (cfg_opt_getnsec(opt, j)->line == cfg->line) {
                                report(P->root->filename, line, "service '%s' is already defined at %s:%d",
                                       cfg_title(cfg_opt_getnsec(opt, j)), P->root->filename, P->lines[j]);
                                return 0;
                        }
                report(P->root->filename, line, "service defined twice in this file");
                return 0;
        }
        lines = realloc(P->lines, n * sizeof(*lines));
        if (!lines) {
                report(P->root->filename, line, "out of memory");
                return -1;
        }
        P->lines = lines;
        P->lines[n - 1] = line;
        P->n_lines = n;

        title = cfg_title(sec);
        if (!title || !*title)
                report(P->root->filename, line, "service without a name");
        else if (!value_service_name(title))
                report(P->root->filename, line, "service '%s': names may use letters, digits and -_.@", title);
        else if (strlen(title) > SERVICE_NAME_MAX)
                report(P->root->filename, line, "service '%.32s...': names are at most %d bytes", title, SERVICE_NAME_MAX);
        return 0;
}

static int validate_defaults_section(cfg_t *cfg, cfg_opt_t *opt)
{
        P->section_line = 0;
        return 0;
}

/* Validator for the main file's own keys. Errors are reported and counted; 0 lets parsing go on. */
static int validate_main_option(cfg_t *cfg, cfg_opt_t *opt)
{
        if (strcmp(opt->name, "log-level") == 0) {
                const char *v = cfg_opt_getnstr(opt, 0);
                if (log_level_from_string(v) < 0)
                        report(P->root->filename, cfg->line,
                               "log-level: '%s': expected err, warning, notice, info or debug", v);
        } else if (strcmp(opt->name, "status-socket") == 0) {
                const char *v = cfg_opt_getnstr(opt, 0);
                if (strlen(v) >= sizeof(((struct sockaddr_un *)0)->sun_path))
                        report(P->root->filename, cfg->line, "status-socket: path too long (107 bytes at most)");
        } else if (strcmp(opt->name, "max-children") == 0) {
                long v = cfg_opt_getnint(opt, 0);
                if (v < 0 || v > CONFIG_COUNT_MAX)
                        report(P->root->filename, cfg->line, "max-children: %ld is out of range (0-%d)", v,
                               CONFIG_COUNT_MAX);
        }
        return 0;
}

/* The main file's keys; `defaults` gets the key table's options at the first use (main_options()). */
static cfg_opt_t main_opts[] = {
    CFG_STR("services-dir", "services.d", CFGF_NONE),
    CFG_STR("helpers-dir", HELPERSDIR, CFGF_NONE),
    CFG_STR("log-level", "info", CFGF_NONE),
    CFG_INT("max-children", 1024, CFGF_NONE),
    CFG_STR("status-socket", "", CFGF_NONE),
    CFG_SEC("defaults", NULL, CFGF_NONE),
    CFG_END(),
};

static cfg_opt_t dropin_opts[] = {
    CFG_SEC("service", NULL, CFGF_MULTI | CFGF_TITLE),
    CFG_END(),
};

static cfg_opt_t *main_options(void)
{
        main_opts[5].subopts = keys_options(on_value);
        return main_opts;
}

static cfg_opt_t *dropin_options(void)
{
        dropin_opts[0].subopts = keys_options(on_value);
        return dropin_opts;
}

/*
 * Where libconfuse 3.3's lexer ends an unquoted word, and so where the next
 * token starts: after any of these characters, after a string, a comment or
 * a ${...}. Only there do "//", "/" "*" and "${" mean something.
 */
#define WORD_END " \t\r\n#\"'={}()+,*"

/*
 * The '}' that ends a "${" at s, which libconfuse expands there when a '}'
 * follows at any distance (its pattern is ${[^}]*}, newlines and quotes
 * included); NULL if none does. The caller goes on after that '}', so a file
 * full of "${" is still read in O(n); *none_left remembers a search that
 * found no '}' to the end.
 */
static const char *env_end(const char *s, bool *none_left)
{
        const char *close = *none_left ? NULL : strchr(s + 2, '}');

        *none_left = !close;
        return close;
}

/* What blank_comments() found open at the end of the text. */
struct text_end {
        int open_braces;  /* '{' left open */
        int string_line;  /* line of the quote that opens a string left open, 0 if none */
        int comment_line; /* line of the "/" "*" that opens a comment left open, 0 if none */
};

/*
 * libconfuse 3.3 counts one or two extra lines for every comment, so its
 * FILE:LINE would point below the real line after the first comment. Blank
 * out comments here, keeping every newline, before libconfuse sees the text.
 *
 * This mirrors libconfuse's lexer (lexer.l) exactly, since what it calls a
 * comment or a string here decides what libconfuse gets: outside quotes,
 * '#' starts a comment, and so do "//" and "/" "*" at the start of a token
 * (inside an unquoted word such as http://host they do not); a backslash
 * escapes the next character inside quotes; "${...}" at the start of a token
 * or inside double quotes is one token whatever it holds.
 *
 * libconfuse 3.3 accepts end of file inside a section, a string or a block
 * comment, so *ret tells the caller what was left open. A string open at the
 * end is worse than accepted: its lexer has no end-of-file rule in strings,
 * so a '\' as the last byte matches no rule and flex's default rule copies
 * it to stdout. The caller reports the string and does not hand such a text
 * to libconfuse, so that rule is never reached (every other byte, in every
 * state, matches a rule of lexer.l).
 */
static void blank_comments(char *s, struct text_end *ret)
{
        enum { CODE, DQUOTE, SQUOTE, LINE, BLOCK } st = CODE;
        const char *end;
        bool token_start = true, no_close = false;
        int line = 1, open_line = 0;

        *ret = (struct text_end){0};
        for (; *s; s++) {
                bool at_start = token_start;
                char c = *s;

                if (c == '\n')
                        line++;
                switch (st) {
                case CODE:
                        if (c == '$' && s[1] == '{' && at_start && (end = env_end(s, &no_close))) {
                                for (; s < end; s++)
                                        line += s[1] == '\n';
                                c = '}';
                        } else if (c == '{')
                                ret->open_braces++;
                        else if (c == '}')
                                ret->open_braces--;
                        else if (c == '"' || c == '\'') {
                                st = c == '"' ? DQUOTE : SQUOTE;
                                open_line = line;
                        } else if (c == '#' || (at_start && s[0] == '/' && s[1] == '/')) {
                                st = LINE;
                                *s = ' ';
                        } else if (at_start && s[0] == '/' && s[1] == '*') {
                                st = BLOCK;
                                open_line = line;
                                *s++ = ' ';
                                *s = ' ';
                        }
                        break;
                case DQUOTE:
                case SQUOTE:
                        if (st == DQUOTE && c == '$' && s[1] == '{' && (end = env_end(s, &no_close))) {
                                for (; s < end; s++)
                                        line += s[1] == '\n';
                        } else if (c == '\\' && s[1]) {
                                s++;
                                line += *s == '\n';
                        } else if (c == (st == DQUOTE ? '"' : '\''))
                                st = CODE;
                        break;
                case LINE:
                        if (c == '\n')
                                st = CODE;
                        else
                                *s = ' ';
                        break;
                case BLOCK:
                        if (s[0] == '*' && s[1] == '/') {
                                *s++ = ' ';
                                *s = ' ';
                                st = CODE;
                        } else if (c != '\n')
                                *s = ' ';
                        break;
                }
                /* A comment or string, or a character that ends a word, ends the token before it. */
                token_start = st != CODE || strchr(WORD_END, c) != NULL;
        }
        if (st == DQUOTE || st == SQUOTE)
                ret->string_line = open_line;
        else if (st == BLOCK)
                ret->comment_line = open_line;
}

/*
 * Read f to its end, or to MAX_FILE_SIZE + 1 bytes (too large), into a
 * buffer with room for a final NUL. The buffer starts at the size fstat
 * gives, so a drop-in of a few hundred bytes does not cost a 1 MiB
 * allocation. Returns it with *ret_n set (check ferror(f)), or NULL.
 */
static char *read_all(FILE *f, size_t *ret_n)
{
        struct stat st;
        size_t cap = 4096, n = 0;
        char *buf = NULL;

        if (fstat(fileno(f), &st) == 0 && st.st_size >= 0 && st.st_size <= MAX_FILE_SIZE)
                cap = (size_t)st.st_size + 1; /* + 1: a read that fills it means the file grew */
        for (;;) {
                char *p = realloc(buf, cap + 1);
                if (!p) {
                        free(buf);
                        return NULL;
                }
                buf = p;
                n += fread(buf + n, 1, cap - n, f);
                if (n < cap || cap > MAX_FILE_SIZE)
                        break;
                cap = cap * 2 > MAX_FILE_SIZE ? MAX_FILE_SIZE + 1 : cap * 2;
        }
        *ret_n = n;
        return buf;
}

/*
 * Parse one file with libconfuse. Returns the cfg_t (caller frees) or NULL;
 * errors are reported. A file that parsed but had errors in values is
 * returned too: the caller compares the error count.
 */
static cfg_t *parse_file(struct parser *p, const char *path, bool dropin)
{
        cfg_t *cfg = NULL;
        char *buf = NULL;
        FILE *f, *m = NULL;
        struct text_end end;
        size_t n;
        int r;

        P = p;
        f = fopen(path, "re");
        if (!f) {
                report(path, 0, "%s", strerror(errno));
                goto out;
        }
        buf = read_all(f, &n);
        if (!buf) {
                report(path, 0, "out of memory");
                goto out;
        }
        if (ferror(f) || n > MAX_FILE_SIZE) {
                report(path, 0, "%s", ferror(f) ? "read error" : "file too large (1 MiB at most)");
                goto out;
        }
        buf[n] = 0;
        if (strlen(buf) != n) {
                report(path, 0, "file contains a NUL byte");
                goto out;
        }
        blank_comments(buf, &end);
        if (end.string_line || end.comment_line) {
                /* Never given to libconfuse: see blank_comments(). */
                report(path, end.string_line ? end.string_line : end.comment_line, "unterminated %s",
                       end.string_line ? "string" : "comment");
                goto out;
        }

        cfg = cfg_init(dropin ? dropin_options() : main_options(), 0);
        m = n ? fmemopen(buf, n, "r") : fopen("/dev/null", "re");
        if (!cfg || !m || !(cfg->filename = strdup(path))) {
                report(path, 0, "out of memory");
                (void)cfg_free(cfg); /* fails only for NULL */
                cfg = NULL;
                goto out;
        }
        cfg->line = 1;
        (void)cfg_set_error_function(cfg, on_cfg_error); /* returns the previous one */
        if (dropin)
                (void)cfg_set_validate_func(cfg, "service", validate_service_section);
        else {
                (void)cfg_set_validate_func(cfg, "defaults", validate_defaults_section);
                (void)cfg_set_validate_func(cfg, "log-level", validate_main_option);
                (void)cfg_set_validate_func(cfg, "max-children", validate_main_option);
                (void)cfg_set_validate_func(cfg, "status-socket", validate_main_option);
        }
        p->root = cfg;
        r = cfg_parse_fp(cfg, m);
        p->root = NULL; /* cfg may be freed below; a later error callback falls back to cfg->filename */
        if (r == CFG_SUCCESS && end.open_braces > 0) {
                report(path, cfg->line, "missing '}' at end of file");
                r = CFG_PARSE_ERROR;
        }
        if (r != CFG_SUCCESS) {
                /* libconfuse reported a syntax error through on_cfg_error and stopped. */
                (void)cfg_free(cfg);
                cfg = NULL;
        }
out:
        if (m)
                (void)fclose(m); /* read only: nothing to lose */
        if (f)
                (void)fclose(f);
        free(buf);
        P = NULL;
        return cfg;
}

cfg_t *parse_main(const struct parse_context *ctx, const char *path)
{
        struct parser p = {.ctx = ctx};
        cfg_t *cfg = parse_file(&p, path, false);

        free(p.lines);
        return cfg;
}

cfg_t *parse_main_empty(void)
{
        return cfg_init(main_options(), 0);
}

cfg_t *parse_dropin(const struct parse_context *ctx, const char *path, int **ret_lines, size_t *ret_n_lines)
{
        struct parser p = {.ctx = ctx};
        cfg_t *cfg = parse_file(&p, path, true);

        if (!cfg) {
                free(p.lines);
                return NULL;
        }
        *ret_lines = p.lines;
        *ret_n_lines = p.n_lines;
        return cfg;
}
