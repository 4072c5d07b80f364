/* SPDX-License-Identifier: MIT */
/* A string written so that libconfuse reads it back as the same string: superd -t and superd-import share it. */
#include "config-text.h"

void config_print_text(FILE *out, const char *s, bool quoted)
{
        if (quoted)
                fputc('"', out);
        for (; *s; s++) {
                unsigned char c = (unsigned char)*s;

                if (c == '\n' || c == '\r' || c == '\t')
                        fprintf(out, "\\%c", c == '\n' ? 'n' : c == '\r' ? 'r' : 't');
                else if (c < 0x20 || c == 0x7f)
                        fprintf(out, "\\x%02x", c); /* always two digits: \x takes up to two */
                else if (quoted && (c == '"' || c == '\\' || (c == '$' && s[1] == '{')))
                        fprintf(out, "\\%c", c);
                else
                        fputc(c, out);
        }
        if (quoted)
                fputc('"', out);
}
