/* SPDX-License-Identifier: MIT */
/* Starting a handler: the only place superd starts handlers (daemon.c forks only to detach, at start-up). */
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "env.h"

/*
 * The concurrent child runs while superd goes on, in superd's memory: it
 * must not write anything superd uses, and glibc's wrappers write errno,
 * which superd's thread shares with it. So the child makes its system calls
 * here, returning -errno. Elsewhere, the parent waits for each child's
 * execve (CLONE_VFORK) and glibc's syscall() is safe.
 */
#if defined(__x86_64__)
#define SPAWN_RAW_SYSCALLS 1
static long sys6(long nr, long a, long b, long c, long d, long e, long f)
{
        register long r10 __asm__("r10") = d;
        register long r8 __asm__("r8") = e;
        register long r9 __asm__("r9") = f;
        long ret;

        __asm__ volatile("syscall"
                         : "=a"(ret)
                         : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                         : "rcx", "r11", "memory");
        return ret;
}
#elif defined(__aarch64__)
#define SPAWN_RAW_SYSCALLS 1
static long sys6(long nr, long a, long b, long c, long d, long e, long f)
{
        register long x8 __asm__("x8") = nr;
        register long x0 __asm__("x0") = a;
        register long x1 __asm__("x1") = b;
        register long x2 __asm__("x2") = c;
        register long x3 __asm__("x3") = d;
        register long x4 __asm__("x4") = e;
        register long x5 __asm__("x5") = f;

        __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory", "cc");
        return x0;
}
#else
#define SPAWN_RAW_SYSCALLS 0
static long sys6(long nr, long a, long b, long c, long d, long e, long f)
{
        long r = syscall(nr, a, b, c, d, e, f);
        return r < 0 ? -errno : r;
}
#endif

/*
 * 1: the parent goes on while the child sets itself up; 0: it waits for the
 * child's execve or exit (CLONE_VFORK). SPAWN_VFORK=1 (meson -Dspawn=vfork)
 * asks for the waiting spawn on every architecture, for valgrind: it runs
 * clone(CLONE_VM|CLONE_VFORK) as a fork and refuses clone(CLONE_VM) alone.
 */
#ifndef SPAWN_VFORK
#define SPAWN_VFORK 0
#endif
#if SPAWN_RAW_SYSCALLS && !SPAWN_VFORK
#define SPAWN_CONCURRENT 1
#else
#define SPAWN_CONCURRENT 0
#endif

#define sys(nr, a, b, c) sys6((nr), (long)(a), (long)(b), (long)(c), 0, 0, 0)

/* The child's stack; envp and env_text are copied to its top. */
#define SPAWN_STACK_SIZE (32 * 1024)
/* At most this much of it for the environment: the rest is the child's stack. */
#define SPAWN_ENV_BYTES (SPAWN_STACK_SIZE / 2)

_Static_assert(HANDLER_ENVP_MAX * sizeof(char *) + HANDLER_ENV_CONN_SIZE + 16 <= SPAWN_ENV_BYTES,
               "the largest environment a service may have must fit a spawn slot");

struct spawn_slot {
        /*
         * The child's pid while it may still use this slot: set by the
         * kernel at clone (CLONE_PARENT_SETTID), cleared by it when the
         * child execs or exits (CLONE_CHILD_CLEARTID, with a futex wake).
         * Always 0 with the waiting spawn (no tid flags): clone returns
         * only once the child has left the slot (under valgrind, a plain
         * fork, the child never uses this copy of it).
         */
        pid_t busy;
        pid_t pid;           /* the last child started here */
        uint64_t start_nsec; /* CLOCK_MONOTONIC when it was cloned */
        int err;             /* written by the child before it exits 127; 0 after a successful execve */
        const char *step;
        struct spawn_plan plan; /* the child's copy */
        char stack[SPAWN_STACK_SIZE] __attribute__((aligned(64)));
};

/* Lowest free slot first, so a quiet superd touches the pages of one or two. */
static struct spawn_slot slots[SPAWN_SLOTS];

/* The child's code must not be instrumented: it runs beside superd, on a stack no sanitizer knows. */
#define CHILD __attribute__((no_sanitize("address", "undefined")))

CHILD static _Noreturn void child_fail(struct spawn_slot *s, long err, const char *step)
{
        s->err = (int)-err;
        s->step = step;
        for (;;)
                sys(SYS_exit_group, 127, 0, 0);
}

/* Decimal pid, NUL-terminated, into the LISTEN_PID slot. */
CHILD static void write_pid(char *slot, long pid)
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
CHILD static long set_rlimit(int resource, long long value)
{
        struct rlimit rl = { .rlim_cur = (rlim_t)value, .rlim_max = (rlim_t)value };

        return value < 0 ? 0 : sys6(SYS_prlimit64, 0, resource, (long)&rl, 0, 0, 0);
}

/* dup2(2) without its glibc wrapper; dup3 is the system call every architecture has. */
CHILD static long move_fd(int from, int to)
{
        return from == to ? 0 : sys(SYS_dup3, from, to, 0);
}

/* Process settings that need superd's privileges (raising limits, negative nice): before setuid. */
CHILD static void apply_process_settings(struct spawn_slot *s, const struct process_settings *ps)
{
        long r;

        if ((r = set_rlimit(RLIMIT_NOFILE, ps->rlimit_nofile)) < 0 || (r = set_rlimit(RLIMIT_AS, ps->rlimit_as)) < 0 ||
            (r = set_rlimit(RLIMIT_CPU, ps->rlimit_cpu)) < 0 || (r = set_rlimit(RLIMIT_NPROC, ps->rlimit_nproc)) < 0)
                child_fail(s, r, "setrlimit");
        if (ps->set_nice && (r = sys(SYS_setpriority, PRIO_PROCESS, 0, ps->nice)) < 0)
                child_fail(s, r, "setpriority");
        if (ps->umask >= 0)
                sys(SYS_umask, ps->umask, 0, 0);
}

CHILD static int child_main(void *arg)
{
        struct spawn_slot *s = arg;
        const struct spawn_plan *p = &s->plan;
        const struct process_settings *ps = p->process;
        uint64_t no_signals[2] = { 0, 0 };
        long first_closed, r;

        if ((r = sys(SYS_setsid, 0, 0, 0)) < 0)
                child_fail(s, r, "setsid");
        if ((r = move_fd(p->conn_fd, STDIN_FILENO)) < 0 || (r = move_fd(p->conn_fd, STDOUT_FILENO)) < 0 ||
            (r = move_fd(p->stderr_fd, STDERR_FILENO)) < 0)
                child_fail(s, r, "dup2");
        if (p->listen_pid) {
                /* fd 3 must not keep FD_CLOEXEC, which the listening socket has. */
                if ((r = move_fd(p->conn_fd, 3)) < 0 || (r = sys(SYS_fcntl, 3, F_SETFD, 0)) < 0)
                        child_fail(s, r, "dup2");
                write_pid(p->listen_pid, sys(SYS_getpid, 0, 0, 0));
        }
        /* Everything superd opens is O_CLOEXEC; this also catches inherited strays. */
        first_closed = p->listen_pid ? 4 : 3;
        if (sys(SYS_close_range, first_closed, ~0U, 0) < 0)
                for (long fd = first_closed; fd < 1024; fd++)
                        sys(SYS_close, fd, 0, 0);
        if (ps)
                apply_process_settings(s, ps);
        if (p->set_creds) {
                if ((r = sys(SYS_setgroups, p->n_groups, p->groups, 0)) < 0)
                        child_fail(s, r, "setgroups");
                if ((r = sys(SYS_setresgid, p->gid, p->gid, p->gid)) < 0)
                        child_fail(s, r, "setgid");
                if ((r = sys(SYS_setresuid, p->uid, p->uid, p->uid)) < 0)
                        child_fail(s, r, "setuid");
        }
        if ((r = sys(SYS_chdir, ps && ps->working_directory ? ps->working_directory : "/", 0, 0)) < 0)
                child_fail(s, r, "chdir");
        if (ps && ps->no_new_privileges && (r = sys6(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0)) < 0)
                child_fail(s, r, "prctl");
        if ((r = sys6(SYS_rt_sigprocmask, SIG_SETMASK, (long)no_signals, 0, (_NSIG - 1) / 8, 0, 0)) < 0)
                child_fail(s, r, "sigprocmask");
        r = sys(SYS_execve, p->argv[0], p->argv, p->envp);
        child_fail(s, r, "execve");
}

/* A slot no child uses and no failure waits in, or NULL. */
static struct spawn_slot *free_slot(void)
{
        for (size_t i = 0; i < SPAWN_SLOTS; i++)
                if (__atomic_load_n(&slots[i].busy, __ATOMIC_ACQUIRE) == 0 && slots[i].err == 0)
                        return &slots[i];
        return NULL;
}

static uint64_t now_nsec(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/*
 * The start gate's bounds (see spawn_handler()). A child that has not
 * reached execve 300 µs after clone is waiting for a CPU: the ~20 µs of its
 * own set-up are long done. (In ../shared/bench/compare runs, 300 µs kept
 * the nolibc handler's throughput where 150 µs cost it ~10 %, and a
 * bound on the number of children between clone and execve cost it ~10 %
 * more.) 20 ms: stopped, or slow for another reason than the CPU (a chdir
 * or a program on a slow file system); longer than any CPU wait the gate
 * helps with (the slowest 1 % waited 6–8 ms with it), and short enough
 * that such a child holds up other services' starts little.
 */
#define SPAWN_GATE_LATE_NSEC 300000ULL
#define SPAWN_GATE_STUCK_NSEC 20000000ULL

/*
 * The start gate (see spawn_handler()): wait while a child has been between
 * clone and execve for SPAWN_GATE_LATE_NSEC, or every slot holds one. A
 * child that has been for SPAWN_GATE_STUCK_NSEC (stopped, or in a hung
 * chdir) no longer counts, so it costs at most one wait that long. The
 * wait is on the futex words of the children that count, all at once
 * (futex_waitv, Linux 5.16), or on the oldest one without it.
 */
static void gate_wait(void)
{
        for (;;) {
                struct futex_waitv w[SPAWN_SLOTS];
                uint64_t now = now_nsec(), until = UINT64_MAX;
                unsigned n = 0, oldest = 0;
                bool late = false;
                struct timespec ts;
                long r;

                for (size_t i = 0; i < SPAWN_SLOTS; i++) {
                        pid_t busy = __atomic_load_n(&slots[i].busy, __ATOMIC_ACQUIRE);
                        uint64_t age = now - slots[i].start_nsec;

                        if (!busy || age >= SPAWN_GATE_STUCK_NSEC)
                                continue;
                        if (slots[i].start_nsec + SPAWN_GATE_STUCK_NSEC < until) {
                                until = slots[i].start_nsec + SPAWN_GATE_STUCK_NSEC;
                                oldest = n;
                        }
                        late |= age >= SPAWN_GATE_LATE_NSEC;
                        w[n++] = (struct futex_waitv){
                                .val = (uint32_t)busy, .uaddr = (uintptr_t)&slots[i].busy, .flags = FUTEX_32
                        };
                }
                if (!late && n < SPAWN_SLOTS)
                        return;
                ts = (struct timespec){ .tv_sec = (time_t)(until / 1000000000ULL), .tv_nsec = (long)(until % 1000000000ULL) };
                r = syscall(SYS_futex_waitv, w, n, 0, &ts, CLOCK_MONOTONIC);
                if (r < 0 && errno == ENOSYS)
                        r = syscall(SYS_futex, (uint32_t *)(uintptr_t)w[oldest].uaddr, FUTEX_WAIT_BITSET,
                                    w[oldest].val, &ts, NULL, FUTEX_BITSET_MATCH_ANY);
                if (r < 0 && errno != EAGAIN && errno != ETIMEDOUT && errno != EINTR)
                        return; /* never spin on an error: start without waiting */
        }
}

/*
 * How long spawn_wait_all() waits for a child's exec before it kills the
 * child: far beyond any wait for a CPU (a starting child under heavy load
 * must not lose its connection to a reload), short for a reload.
 */
#define SPAWN_WAIT_ALL_KILL_SEC 1

void spawn_wait_all(void)
{
        const struct timespec bound = { .tv_sec = SPAWN_WAIT_ALL_KILL_SEC };

        for (size_t i = 0; i < SPAWN_SLOTS; i++) {
                pid_t busy;
                bool killed = false;

                /* The word holds the pid until exec or exit: the child is not reaped yet, its pid not reused. */
                while ((busy = __atomic_load_n(&slots[i].busy, __ATOMIC_ACQUIRE)))
                        if (syscall(SYS_futex, &slots[i].busy, FUTEX_WAIT, busy, killed ? NULL : &bound, NULL, 0) < 0 &&
                            errno == ETIMEDOUT) {
                                (void)kill(busy, SIGKILL);
                                killed = true;
                        }
        }
}

/*
 * The child's copy of the plan, with envp and env_text copied to the top
 * of the slot's stack and the pointers into env_text moved along.
 * Returns where the child's stack starts, or NULL if they do not fit.
 */
static char *copy_plan(struct spawn_slot *s, const struct spawn_plan *p)
{
        uintptr_t text = (uintptr_t)p->env_text, text_end = text + p->env_text_size;
        char *top = s->stack + SPAWN_STACK_SIZE, *env_text;
        size_t n = 0;
        char **envp;

        while (p->envp[n])
                n++;
        if ((n + 1) * sizeof(char *) + p->env_text_size + 16 > SPAWN_ENV_BYTES)
                return NULL;
        env_text = top - p->env_text_size;
        envp = (char **)(((uintptr_t)env_text - (n + 1) * sizeof(char *)) & ~(uintptr_t)15);
        if (p->env_text_size)
                memcpy(env_text, p->env_text, p->env_text_size);
        for (size_t i = 0; i < n; i++) {
                uintptr_t e = (uintptr_t)p->envp[i];
                envp[i] = e >= text && e < text_end ? env_text + (e - text) : p->envp[i];
        }
        envp[n] = NULL;
        s->plan = *p;
        s->plan.envp = envp;
        if (p->listen_pid)
                s->plan.listen_pid = env_text + ((uintptr_t)p->listen_pid - text);
        return (char *)envp;
}

int spawn_handler(const struct spawn_plan *p, pid_t *ret_pid)
{
        /*
         * The waiting spawn needs no tid words, and must not rely on them:
         * under valgrind the child runs in a copy of superd's memory, where
         * clearing `busy` (and writing `err`) does not reach the parent.
         */
        const int flags = SPAWN_CONCURRENT ? CLONE_VM | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD
                                           : CLONE_VM | CLONE_VFORK | SIGCHLD;
        struct spawn_slot *s;
        char *stack;
        pid_t pid;

        *ret_pid = 0;
        if (SPAWN_CONCURRENT)
                gate_wait();
        if (!(s = free_slot()))
                return -EAGAIN;
        stack = copy_plan(s, p);
        if (!stack)
                return -E2BIG;
        s->start_nsec = now_nsec();
        pid = clone(child_main, stack, flags, s, &s->busy, NULL, &s->busy);
        if (pid < 0)
                return -errno;
        s->pid = pid;
        *ret_pid = pid;
        return 0;
}

bool spawn_failed(pid_t pid, int *ret_errno, const char **ret_step)
{
        for (size_t i = 0; i < SPAWN_SLOTS; i++) {
                struct spawn_slot *s = &slots[i];
                if (s->pid == pid && s->err && __atomic_load_n(&s->busy, __ATOMIC_ACQUIRE) == 0) {
                        *ret_errno = s->err;
                        *ret_step = s->step;
                        s->err = 0;
                        return true;
                }
        }
        return false;
}
