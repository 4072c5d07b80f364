/* SPDX-License-Identifier: MIT */
/* Upgrade in place (superctl upgrade, SIGUSR2): serialize, re-execute superd in the same process, adopt. */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>

#include "upgrade-blob.h"

struct server;
struct config;
struct run_options;

/* The variable that tells the new image which fd holds the blob; read and removed at its start. */
#define UPGRADE_ENV "SUPERD_UPGRADE_FD"

/*
 * The binary to execute later, resolved now (at start) to an absolute
 * path into buf (PATH_MAX bytes): ARGV0 made absolute against the current
 * folder when it holds a '/', else searched in $PATH, as the shell found
 * it. Symbolic links are not resolved: a package that points the link at a
 * new version gets that version. Returns buf, or NULL when ARGV0 cannot be
 * resolved (an upgrade then re-executes /proc/self/exe).
 */
const char *upgrade_resolve_self(const char *argv0, char buf[static PATH_MAX]);

/*
 * Which binary an upgrade executes (DESIGN.md §11, superd(8)): SELF (the
 * path resolved at start) if it exists and is executable, else
 * /proc/self/exe, the running image, even if its file was deleted. Pure
 * but for access(2). Returns one of the two strings.
 */
const char *upgrade_binary(const char *self);

/*
 * Upgrade now: serialize every open listener, running handler, counter
 * and pending timer (upgrade-blob.h) into a sealed memfd, clear FD_CLOEXEC
 * on exactly the fds that must survive (listeners, the memfd, REPLY_FD),
 * and execve(2) upgrade_binary() with the same argv and the environment
 * plus UPGRADE_ENV. REPLY_FD (or -1) is the superctl connection that the
 * new image answers once it serves. Returns only on failure, with
 * everything as it was (FD_CLOEXEC restored): -ESHUTDOWN (stopping),
 * -ENOMEM, or the -errno of memfd_create(2) or execve(2) (-ENOENT,
 * -EACCES, -ENOEXEC: the binary is missing, not executable, not a
 * program). Logged here; *ret_error (may be NULL) gets a malloc'd message.
 */
int upgrade_exec(struct server *srv, int reply_fd, char **ret_error);

/*
 * In the new image, at start: take the blob named by UPGRADE_ENV (and remove
 * the variable). Returns 1 and fills *ret (owned by the caller) when there
 * is one, 0 when this is a plain start, or -EBADMSG when the variable is
 * set but the blob cannot be used (logged): then every inherited listening
 * socket (the non-CLOEXEC ones) is handed to `activation` instead, so they
 * are adopted by address like sockets passed by systemd, and nothing is
 * refused; handlers are then not adopted (they are still reaped).
 */
int upgrade_take(struct upgrade_state *ret, struct server *srv);

/*
 * Load the configuration in the new image (config_load() of MAIN_FILE and
 * SERVICES_DIR, as at start). If it has errors, log them as a failed reload
 * does, load the configuration the old image serialized instead and set
 * *ret_kept. Returns 0 with *ret set (owned by the caller), or -errno
 * (logged) when neither loads.
 */
int upgrade_load_config(const struct upgrade_state *up, const char *main_file, const char *services_dir,
                        struct config **ret, bool *ret_kept);

/*
 * Before any listener opens: plan which new listener keeps which inherited
 * socket (reload_plan_listeners(), the inherited ones being the "old"
 * set) and hand each its fd; listener_start() then watches it instead of
 * opening one. Inherited sockets nobody takes are closed (their socket file
 * removed when superd created it). Returns 0 or -ENOMEM (then every
 * inherited socket was closed and the listeners open afresh).
 */
int upgrade_adopt_listeners(struct server *srv, struct upgrade_state *up);

/*
 * After the listeners: adopt the running handlers (they count against
 * max-instances, max-children and max-per-source, keep their timeout, and
 * a wait handler keeps its listener paused), the counters and rate pauses
 * of services of the same name, then reap what exited during the exec.
 * Handlers of a service the new configuration dropped live on with that
 * service's old configuration, as after a reload.
 */
void upgrade_adopt_rest(struct server *srv, struct upgrade_state *up);

/*
 * The new image serves: log "upgraded: superd X.Y.Z, N services, M
 * handlers adopted" with the time since the request, answer superctl on
 * the reply fd, free *up.
 */
void upgrade_done(struct server *srv, struct upgrade_state *up, bool config_fallback);

/*
 * Write the reply to "upgrade" (status.h) to OUT: {"ok":true,"upgraded":
 * "superd X.Y.Z","services":N,"handlers":M[,"config":"kept"]} or
 * {"ok":false,"errors":[MESSAGE]}. Returns 0 or -ENOMEM.
 */
int upgrade_write_reply(FILE *out, const char *version, size_t n_services, size_t n_handlers, bool config_kept,
                        const char *error);
