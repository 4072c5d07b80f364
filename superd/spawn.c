/* SPDX-License-Identifier: MIT */
/* Starting a handler: the only place superd forks. */
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "env.h"

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

/* Decimal pid, NUL-terminated, into the LISTEN_PID slot: no stdio in the child. */
static void write_pid(char *slot, pid_t pid)
{
        char digits[HANDLER_ENV_PID_DIGITS];
        int n = 0;

        do
                digits[n++] = (char)('0' + pid % 10);
        while ((pid /= 10) > 0 && n < HANDLER_ENV_PID_DIGITS);
        while (n > 0)
                *slot++ = digits[--n];
        *slot = 0;
}

/* Soft and hard limit both, as systemd's Limit*= does; -1 keeps superd's. */
static int set_rlimit(int resource, long long value)
{
        struct rlimit rl = { .rlim_cur = (rlim_t)value, .rlim_max = (rlim_t)value };

        return value < 0 ? 0 : (int)syscall(SYS_prlimit64, 0, resource, &rl, NULL);
}

/* Process settings that need superd's privileges (raising limits, negative nice): before setuid. */
static const char *apply_process_settings(const struct process_settings *s)
{
        if (set_rlimit(RLIMIT_NOFILE, s->rlimit_nofile) < 0 || set_rlimit(RLIMIT_AS, s->rlimit_as) < 0 ||
            set_rlimit(RLIMIT_CPU, s->rlimit_cpu) < 0 || set_rlimit(RLIMIT_NPROC, s->rlimit_nproc) < 0)
                return "setrlimit";
        if (s->set_nice && syscall(SYS_setpriority, PRIO_PROCESS, 0, s->nice) < 0)
                return "setpriority";
        if (s->umask >= 0)
                syscall(SYS_umask, s->umask);
        return NULL;
}

static int child_main(void *arg)
{
        struct spawn_args *a = arg;
        const struct spawn_plan *p = a->plan;
        unsigned first_closed;
        const char *step;
        sigset_t none;

        if (setsid() < 0)
                child_fail(a, "setsid");
        if (dup2(p->conn_fd, STDIN_FILENO) < 0 || dup2(p->conn_fd, STDOUT_FILENO) < 0)
                child_fail(a, "dup2");
        if (p->stderr_fd != STDERR_FILENO && dup2(p->stderr_fd, STDERR_FILENO) < 0)
                child_fail(a, "dup2");
        if (p->listen_pid) {
                /* dup2 onto itself keeps FD_CLOEXEC: clear it explicitly. */
                if ((p->conn_fd != 3 && dup2(p->conn_fd, 3) < 0) || fcntl(3, F_SETFD, 0) < 0)
                        child_fail(a, "dup2");
                write_pid(p->listen_pid, (pid_t)syscall(SYS_getpid));
        }
        /* Everything superd opens is O_CLOEXEC; this also catches inherited strays. */
        first_closed = p->listen_pid ? 4U : 3U;
        if (syscall(SYS_close_range, first_closed, ~0U, 0U) < 0)
                for (int fd = (int)first_closed; fd < 1024; fd++)
                        close(fd);
        /*
         * Raw system calls change only this process's credentials: glibc's
         * wrappers would try to synchronise threads of the parent we share
         * memory with.
         */
        if (p->process && (step = apply_process_settings(p->process)))
                child_fail(a, step);
        if (p->set_creds) {
                if (syscall(SYS_setgroups, p->n_groups, p->groups) < 0)
                        child_fail(a, "setgroups");
                if (syscall(SYS_setresgid, p->gid, p->gid, p->gid) < 0)
                        child_fail(a, "setgid");
                if (syscall(SYS_setresuid, p->uid, p->uid, p->uid) < 0)
                        child_fail(a, "setuid");
        }
        if (chdir(p->process && p->process->working_directory ? p->process->working_directory : "/") < 0)
                child_fail(a, "chdir");
        if (p->process && p->process->no_new_privileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                child_fail(a, "prctl");
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
