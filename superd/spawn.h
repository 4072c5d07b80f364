/* SPDX-License-Identifier: MIT */
/* Starting a handler: the only place superd forks. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "config.h"

/*
 * Everything the child needs, prepared by the parent: the child itself only
 * makes system calls (no allocation, no name lookups, async-signal-safe).
 */
struct spawn_plan {
        char *const *argv;    /* argv[0] is the absolute path to exec */
        char *const *envp;
        int conn_fd;          /* becomes fds 0 and 1 (and 3 with listen_pid) */
        int stderr_fd;        /* becomes fd 2; may be conn_fd or 2 */
        bool set_creds;       /* false when superd already runs with uid/gid (non-root) */
        uid_t uid;
        gid_t gid;
        const gid_t *groups;  /* supplementary groups, set with setgroups(2) */
        size_t n_groups;
        /*
         * wait = yes (sd_listen_fds protocol): not NULL puts conn_fd on fd 3
         * too, and the child writes its pid as decimal digits here, a
         * HANDLER_ENV_PID_DIGITS-byte slot inside envp's LISTEN_PID entry
         * (the child shares the parent's memory until it execs).
         */
        char *listen_pid;
        const struct process_settings *process; /* nice, umask, cwd, rlimits, no_new_privs; NULL: inherit, cwd "/" */
};

/*
 * Start a handler as described by `p`: new session, socket on fds 0 and 1
 * (and 3 in wait mode), fd 2 as planned, every other fd closed, rlimits
 * (soft and hard), nice and umask set while still privileged, credentials
 * dropped (setgroups, setgid, setuid, in that order), cwd working-directory
 * or "/", PR_SET_NO_NEW_PRIVS if asked, empty signal mask, then execve.
 * The caller must have every signal at its default disposition or blocked
 * (superd resets dispositions at start), so the child starts with defaults.
 *
 * Uses clone(CLONE_VM|CLONE_VFORK) on a dedicated stack, like posix_spawn:
 * the parent waits only until the child has called execve, and a failure
 * before or in execve is reported back through shared memory.
 *
 * Returns 0 with *ret_pid set once the handler runs. On failure returns
 * -errno and sets *ret_step to the call that failed ("execve", "setuid",
 * ...); *ret_pid is then the pid of a child that exited with status 127
 * and must still be reaped, or 0 if no process was created.
 */
int spawn_handler(const struct spawn_plan *p, pid_t *ret_pid, const char **ret_step);
