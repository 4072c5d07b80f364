/* SPDX-License-Identifier: MIT */
/* Starting a handler: the only place superd starts handlers (daemon.c forks only to detach, at start-up). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "config.h"

/*
 * Everything the child needs, prepared by the parent: the child itself only
 * makes system calls (no allocation, no name lookups), raw ones that leave
 * errno alone wherever it runs beside superd.
 *
 * spawn_handler() may return before the child has called execve (the
 * concurrent spawn, see there), and the child shares superd's memory until
 * then. It gets private copies of this plan, of envp and of env_text, so
 * env_text may be reused as soon as spawn_handler() returns; everything
 * else pointed to here (argv, the strings of envp outside env_text, groups,
 * process) must stay unchanged until the child has exec'd: call
 * spawn_wait_all() before freeing or changing any of it.
 */
struct spawn_plan {
        char *const *argv;    /* argv[0] is the absolute path to exec */
        char *const *envp;    /* NULL-terminated; copied per spawn */
        const char *env_text; /* per-connection text some envp entries point into (copied), or NULL */
        size_t env_text_size; /* bytes */
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
         * HANDLER_ENV_PID_DIGITS-byte slot inside env_text (LISTEN_PID's value).
         */
        char *listen_pid;
        const struct process_settings *process; /* nice, umask, cwd, rlimits, no_new_privs; NULL: inherit, cwd "/" */
};

/* Handler starts that can be under way at once (cloned, not yet exec'd). */
#define SPAWN_SLOTS 64

/*
 * Start a handler as described by `p`: new session, socket on fds 0 and 1
 * (and 3 in wait mode), fd 2 as planned, every other fd closed, rlimits
 * (soft and hard), nice and umask set while still privileged, credentials
 * dropped (setgroups, setgid, setuid, in that order), cwd working-directory
 * or "/", PR_SET_NO_NEW_PRIVS if asked, empty signal mask, then execve.
 * The caller must have every signal at its default disposition or blocked
 * (superd resets dispositions at start), so the child starts with defaults.
 *
 * Uses clone(CLONE_VM) on one of SPAWN_SLOTS dedicated stacks, like
 * posix_spawn but without waiting for the child's execve: the kernel clears
 * the slot's CLONE_CHILD_CLEARTID word when the child execs or exits, and
 * only then is the slot used again. Where the child
 * cannot make system calls without touching errno (architectures other
 * than x86-64 and AArch64) the parent waits for each execve (CLONE_VFORK).
 *
 * The start gate: before a concurrent clone, this waits (on the futex
 * words, all at once) while a child has been between clone and execve for
 * 300 µs, or every slot holds one. A child that late is waiting for a CPU,
 * not doing its ~20 µs of set-up: starting more would only add runnable
 * processes, and the scheduler (EEVDF places each new one at the average
 * virtual runtime) then lets the older ones wait up to ~100 ms. Waiting
 * here instead leaves the connections in the listen backlog, in order, and
 * gives the CPU to the children. A child that has been between clone and
 * execve for 20 ms stops counting, so it costs at most one wait that long:
 * one stopped, or slow to exec for another reason (a chdir or a program on
 * a slow file system), holds up other starts that much, as a vfork server
 * would be held up by every start.
 *
 * Built with -Dspawn=vfork (SPAWN_VFORK=1), it waits for each execve on
 * every architecture: slower (superd accepts nothing while a child sets
 * itself up), but valgrind can run it. Valgrind refuses clone(CLONE_VM)
 * without CLONE_VFORK, and runs clone(CLONE_VM|CLONE_VFORK) as a plain
 * fork: the child then writes into its own copy of superd's memory, so a
 * failure before execve is not seen by spawn_failed() and shows only as
 * the handler's exit status 127.
 *
 * Returns 0 with *ret_pid set once a child exists: its execve may still
 * fail, which spawn_failed() tells when the child is reaped. Returns
 * -errno, with *ret_pid 0, when no process was created: clone's error,
 * -E2BIG if envp and env_text do not fit a slot (see SERVICE_ENV_MAX),
 * -EAGAIN if no slot is free (children stuck before execve, or failures
 * not reaped yet).
 */
int spawn_handler(const struct spawn_plan *p, pid_t *ret_pid);

/*
 * Ask, for a child just reaped, whether it failed before its program ran
 * (exit status 127 from the child itself, not from the handler). If so,
 * returns true with *ret_errno and *ret_step (the call that failed:
 * "execve", "setuid", "chdir", ...) set, and frees the slot the failure
 * kept. Must be called for every reaped child. O(SPAWN_SLOTS).
 */
bool spawn_failed(pid_t pid, int *ret_errno, const char **ret_step);

/*
 * Wait (on the futexes, no polling) until every child started has called
 * execve or exited, so that nothing a spawn_plan pointed to is in use any
 * more. Returns at once when none is under way. A child still before its
 * execve after 1 s (stopped, which its user can do once it has dropped
 * to that user's uid, or hung in a chdir) gets SIGKILL and is waited for:
 * it must not run on in memory about to be freed, and a reload must not
 * hang on it. It is reaped as any handler, killed by SIGKILL.
 */
void spawn_wait_all(void);
