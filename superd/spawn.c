/* SPDX-License-Identifier: MIT */
/* Starting a handler: the only place superd forks. */
#include "spawn.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

/*
 * The child runs on this stack while the parent is suspended (CLONE_VFORK),
 * so one stack serves every spawn. It only needs room for a few system call
 * wrappers; 64 KiB leaves a wide margin (sanitizer builds use more).
 */
#define SPAWN_STACK_SIZE (64 * 1024)
static char spawn_stack[SPAWN_STACK_SIZE] __attribute__((aligned(64)));

struct spawn_args {
        const struct spawn_plan *plan;
        int err;          /* written by the child, read by the parent after clone returns */
        const char *step;
};

static _Noreturn void child_fail(struct spawn_args *a, const char *step)
{
        a->err = errno;
        a->step = step;
        _exit(127);
}

static int child_main(void *arg)
{
        struct spawn_args *a = arg;
        const struct spawn_plan *p = a->plan;
        sigset_t none;

        if (setsid() < 0)
                child_fail(a, "setsid");
        if (dup2(p->conn_fd, STDIN_FILENO) < 0 || dup2(p->conn_fd, STDOUT_FILENO) < 0)
                child_fail(a, "dup2");
        if (p->stderr_fd != STDERR_FILENO && dup2(p->stderr_fd, STDERR_FILENO) < 0)
                child_fail(a, "dup2");
        /* Everything superd opens is O_CLOEXEC; this also catches inherited strays. */
        if (syscall(SYS_close_range, 3U, ~0U, 0U) < 0)
                for (int fd = 3; fd < 1024; fd++)
                        close(fd);
        /*
         * Raw system calls change only this process's credentials: glibc's
         * wrappers would try to synchronise threads of the parent we share
         * memory with.
         */
        if (p->set_creds) {
                if (syscall(SYS_setgroups, p->n_groups, p->groups) < 0)
                        child_fail(a, "setgroups");
                if (syscall(SYS_setresgid, p->gid, p->gid, p->gid) < 0)
                        child_fail(a, "setgid");
                if (syscall(SYS_setresuid, p->uid, p->uid, p->uid) < 0)
                        child_fail(a, "setuid");
        }
        if (chdir("/") < 0)
                child_fail(a, "chdir");
        sigemptyset(&none);
        if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
                child_fail(a, "sigprocmask");
        execve(p->argv[0], p->argv, p->envp);
        child_fail(a, "execve");
}

int spawn_handler(const struct spawn_plan *p, pid_t *ret_pid, const char **ret_step)
{
        struct spawn_args a = { .plan = p };
        pid_t pid;

        *ret_pid = 0;
        *ret_step = "clone";
        pid = clone(child_main, spawn_stack + SPAWN_STACK_SIZE, CLONE_VM | CLONE_VFORK | SIGCHLD, &a);
        if (pid < 0)
                return -errno;
        *ret_pid = pid;
        if (a.err) {
                *ret_step = a.step;
                return -a.err;
        }
        *ret_step = NULL;
        return 0;
}
