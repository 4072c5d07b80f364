/* SPDX-License-Identifier: MIT */
/* Unit tests of spawn.c: the child's private copy of envp and env_text, real handler starts, the start gate. */

/*
 * copy_plan() and struct spawn_slot are static, and stay so: only what other
 * modules call is exported, and libsuperd carries no test-only hooks. So this
 * file includes spawn.c itself and gets its own copy of them, static ones
 * included. It is built with superd's headers but without libsuperd
 * (tests/unit/meson.build), so there is one spawn_handler() in the program:
 * spawn.c calls nothing else of superd's. Compiled without superd's c_args,
 * SPAWN_VFORK is 0: the concurrent spawn on x86-64 and AArch64, the waiting
 * one elsewhere, whatever -Dspawn says.
 */
#include "../../superd/spawn.c"

#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <criterion/criterion.h>

/* copy_plan() is tested on a slot of its own; 32 KiB, so static like spawn.c's slots. */
static struct spawn_slot slot;

static char *stack_top(void)
{
        return slot.stack + SPAWN_STACK_SIZE;
}

static size_t count(char *const *v)
{
        size_t n = 0;

        while (v[n])
                n++;
        return n;
}

/* Per-connection text as env.c lays it out: NUL-terminated entries one after another. */
struct text {
        char buf[HANDLER_ENV_CONN_SIZE];
        size_t size;
};

static char *add(struct text *t, const char *entry)
{
        char *at = t->buf + t->size;
        size_t len = strlen(entry) + 1;

        cr_assert_leq(t->size + len, sizeof(t->buf));
        memcpy(at, entry, len);
        t->size += len;
        return at;
}

/*
 * Check the slot after a successful copy_plan(`p`) that returned `stack`:
 * env_text copied to the stack's top, envp copied just below it on a 16-byte
 * boundary, the entries into env_text moved to the same offsets in the copy,
 * all others unchanged, the rest of the plan as given.
 */
static void expect_copy(const struct spawn_plan *p, const char *stack)
{
        char *copy = stack_top() - p->env_text_size;
        size_t n = count(p->envp);

        cr_assert_not_null(stack);
        cr_assert_eq((uintptr_t)stack % 16, 0, "the child's stack must start 16-byte aligned");
        cr_assert_geq(stack, stack_top() - SPAWN_ENV_BYTES, "the environment takes at most SPAWN_ENV_BYTES");
        cr_assert_eq((char *)slot.plan.envp, stack, "envp sits where the child's stack starts");
        cr_assert_leq((char *)(slot.plan.envp + n + 1), copy, "envp and env_text must not overlap");
        if (p->env_text_size)
                cr_assert_eq(memcmp(copy, p->env_text, p->env_text_size), 0);
        for (size_t i = 0; i < n; i++) {
                const char *e = p->envp[i];
                if (p->env_text && e >= p->env_text && e < p->env_text + p->env_text_size)
                        cr_assert_eq(slot.plan.envp[i], copy + (e - p->env_text), "envp[%zu] not moved", i);
                else
                        cr_assert_eq(slot.plan.envp[i], e, "envp[%zu] outside env_text was changed", i);
        }
        cr_assert_null(slot.plan.envp[n]);
        cr_assert_eq(slot.plan.argv, p->argv);
        cr_assert_eq(slot.plan.conn_fd, p->conn_fd);
        cr_assert_eq(slot.plan.stderr_fd, p->stderr_fd);
        cr_assert_eq(slot.plan.process, p->process);
}

Test(copy_plan, entries_into_env_text_move_with_it)
{
        static char path[] = "PATH=/bin", service[] = "SUPERD_SERVICE=echo";
        struct text t = { .size = 0 };
        char *proto = add(&t, "PROTO=TCP");
        char *ip = add(&t, "TCPREMOTEIP=192.0.2.1");
        char *port = add(&t, "TCPREMOTEPORT=4242");
        char *envp[] = { path, proto, service, ip, port, NULL };
        char *argv[] = { "/bin/true", NULL };
        struct spawn_plan p = {
                .argv = argv,
                .envp = envp,
                .env_text = t.buf,
                .env_text_size = t.size,
                .conn_fd = 5,
                .stderr_fd = 2,
        };
        char *stack = copy_plan(&slot, &p);

        expect_copy(&p, stack);
        cr_assert_str_eq(slot.plan.envp[1], "PROTO=TCP");
        cr_assert_str_eq(slot.plan.envp[3], "TCPREMOTEIP=192.0.2.1");
        cr_assert_str_eq(slot.plan.envp[4], "TCPREMOTEPORT=4242");
        cr_assert_eq(slot.plan.envp[0], path);
        cr_assert_eq(slot.plan.envp[2], service);
        /* The caller's envp is read, never written. */
        cr_assert_eq(envp[1], proto);
        cr_assert_eq(envp[4], port);
        cr_assert_null(slot.plan.listen_pid);
}

/* server.c passes the whole per-connection buffer: every byte of it is in, the byte after it is out. */
Test(copy_plan, env_text_bounds)
{
        static char area[64];
        char *text = area + 16;
        const size_t size = 32;
        char *envp[] = { text - 1, text, text + 7, text + size - 1, text + size, NULL };
        struct spawn_plan p = { .envp = envp, .env_text = text, .env_text_size = size };
        char *copy = stack_top() - size;

        for (size_t i = 0; i < sizeof(area); i++)
                area[i] = (char)('a' + i % 26);
        expect_copy(&p, copy_plan(&slot, &p));
        cr_assert_eq(slot.plan.envp[0], text - 1);
        cr_assert_eq(slot.plan.envp[1], copy);
        cr_assert_eq(slot.plan.envp[2], copy + 7);
        cr_assert_eq(slot.plan.envp[3], copy + size - 1);
        cr_assert_eq(slot.plan.envp[4], text + size);
}

Test(copy_plan, listen_pid_moves_into_the_copy)
{
        struct text t = { .size = 0 };
        char *proto = add(&t, "PROTO=UDP");
        char *fds = add(&t, "LISTEN_FDS=1");
        char *pid = add(&t, "LISTEN_PID=          ");
        char *envp[] = { proto, fds, pid, NULL };
        struct spawn_plan p = { .envp = envp, .env_text = t.buf, .env_text_size = t.size };

        cr_assert_eq(strlen(pid + strlen("LISTEN_PID=")), HANDLER_ENV_PID_DIGITS);
        p.listen_pid = pid + strlen("LISTEN_PID=");
        expect_copy(&p, copy_plan(&slot, &p));
        cr_assert_eq(slot.plan.listen_pid, stack_top() - t.size + (p.listen_pid - t.buf));
        cr_assert_str_eq(slot.plan.listen_pid, "          ");
}

Test(copy_plan, without_env_text)
{
        static char a[] = "PATH=/bin", b[] = "SUPERD_SERVICE=x";
        char *envp[] = { a, b, NULL };
        char *none[] = { NULL };
        struct spawn_plan p = { .envp = envp };
        char *stack = copy_plan(&slot, &p);

        expect_copy(&p, stack);
        cr_assert_eq(slot.plan.envp[0], a);
        cr_assert_eq(slot.plan.envp[1], b);
        cr_assert_null(slot.plan.listen_pid);

        /* env_text given but empty: nothing is in it, so nothing moves. */
        p.env_text = a;
        expect_copy(&p, copy_plan(&slot, &p));
        cr_assert_eq(slot.plan.envp[0], a);

        /* An empty envp is just the NULL. */
        p = (struct spawn_plan){ .envp = none };
        stack = copy_plan(&slot, &p);
        expect_copy(&p, stack);
        cr_assert_eq(stack, stack_top() - 16);
}

/* Every length of text and of envp: the stack stays aligned and nothing overlaps. */
Test(copy_plan, alignment)
{
        static char text[64];
        char *envp[8];

        for (size_t i = 0; i < sizeof(text); i++)
                text[i] = (char)('A' + i % 26);
        for (size_t n = 0; n < 8; n++) {
                for (size_t size = 0; size <= sizeof(text); size++) {
                        struct spawn_plan p = { .envp = envp, .env_text = size ? text : NULL, .env_text_size = size };
                        for (size_t i = 0; i < n; i++)
                                envp[i] = text + (i * 9) % sizeof(text);
                        envp[n] = NULL;
                        expect_copy(&p, copy_plan(&slot, &p));
                }
        }
}

/* The bound is (entries + 1) pointers + env_text + 16 bytes of alignment slack <= SPAWN_ENV_BYTES. */
Test(copy_plan, too_big_is_refused)
{
        static char text[SPAWN_ENV_BYTES];
        static char *envp[SPAWN_ENV_BYTES / sizeof(char *)];
        static char entry[] = "A=1";
        const size_t n = 3;
        const size_t fits = SPAWN_ENV_BYTES - (n + 1) * sizeof(char *) - 16;
        struct spawn_plan p = { .envp = envp, .env_text = text };
        pid_t pid = 1;

        memset(text, 'x', sizeof(text));
        envp[0] = text;
        envp[1] = entry;
        envp[2] = text + fits - 1;
        envp[3] = NULL;
        p.env_text_size = fits;
        expect_copy(&p, copy_plan(&slot, &p));
        p.env_text_size = fits + 1;
        cr_assert_null(copy_plan(&slot, &p));

        /* Too many entries, without any text. */
        for (size_t i = 0; i < sizeof(envp) / sizeof(envp[0]) - 1; i++)
                envp[i] = entry;
        p = (struct spawn_plan){ .envp = envp };
        cr_assert_null(copy_plan(&slot, &p));

        /* spawn_handler() says so, and starts nothing. */
        cr_assert_eq(spawn_handler(&p, &pid), -E2BIG);
        cr_assert_eq(pid, 0);
        cr_assert_eq(waitpid(-1, NULL, WNOHANG), -1, "no child may exist");
        cr_assert_eq(errno, ECHILD);
}

/* Start `argv` on one end of a socketpair (fds 0, 1 and 2), read all it writes, reap it. */
static void run(char *const *argv, char *const *envp, char *env_text, size_t env_text_size, char *listen_pid, char *out,
                size_t out_size, siginfo_t *ret_si)
{
        struct spawn_plan p = {
                .argv = argv,
                .envp = envp,
                .env_text = env_text,
                .env_text_size = env_text_size,
                .listen_pid = listen_pid,
        };
        size_t len = 0;
        pid_t pid;
        int sv[2];

        cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        p.conn_fd = p.stderr_fd = sv[1];
        cr_assert_eq(spawn_handler(&p, &pid), 0);
        cr_assert_gt(pid, 0);
        /*
         * What spawn_handler() copied is the child's: superd reuses its
         * per-connection buffer at once. Spoil ours before the child has
         * (most likely) exec'd; it must not see this.
         */
        if (env_text_size)
                memset(env_text, '#', env_text_size);
        /* The child has its own fd table: ours can go now. */
        close(sv[1]);
        for (;;) {
                ssize_t r = read(sv[0], out + len, out_size - 1 - len);
                if (r < 0 && errno == EINTR)
                        continue;
                cr_assert_geq(r, 0, "read: %s", strerror(errno));
                if (r == 0)
                        break;
                len += (size_t)r;
        }
        out[len] = 0;
        close(sv[0]);
        memset(ret_si, 0, sizeof(*ret_si));
        cr_assert_eq(waitid(P_PID, (id_t)pid, ret_si, WEXITED), 0);
        cr_assert_eq(ret_si->si_pid, pid);
        /* The child wrote LISTEN_PID into its copy, never into ours. */
        for (size_t i = 0; i < env_text_size; i++)
                cr_assert_eq(env_text[i], '#', "env_text[%zu] was written by the child", i);
        /* Nothing is under way any more. */
        spawn_wait_all();
        for (size_t i = 0; i < SPAWN_SLOTS; i++)
                cr_assert_eq(slots[i].busy, 0);
}

Test(spawn, handler_gets_the_environment, .timeout = 10)
{
        static char path[] = "PATH=/usr/bin:/bin";
        char *argv[] = { "/bin/sh", "-c", "echo \"$X\"; echo \"$Y\"", NULL };
        struct text t = { .size = 0 };
        char *x = add(&t, "X=from the per-connection text");
        char *envp[] = { path, x, "Y=fixed", NULL };
        char out[256];
        const char *step;
        siginfo_t si;
        int err;

        run(argv, envp, t.buf, t.size, NULL, out, sizeof(out), &si);
        cr_assert_str_eq(out, "from the per-connection text\nfixed\n");
        cr_assert_eq(si.si_code, CLD_EXITED);
        cr_assert_eq(si.si_status, 0);
        cr_assert_not(spawn_failed(si.si_pid, &err, &step));
}

/* wait = yes: LISTEN_PID written by the child into its copy, the socket on fd 3 too. */
Test(spawn, wait_mode_pid_and_fd3, .timeout = 10)
{
        char *argv[] = { "/bin/sh", "-c", "echo \"$LISTEN_PID\"; echo fd3 >&3", NULL };
        struct text t = { .size = 0 };
        char *fds = add(&t, "LISTEN_FDS=1");
        char *pid = add(&t, "LISTEN_PID=          ");
        char *envp[] = { "PATH=/usr/bin:/bin", fds, pid, NULL };
        char out[256], expected[64];
        const char *step;
        siginfo_t si;
        int err;

        run(argv, envp, t.buf, t.size, pid + strlen("LISTEN_PID="), out, sizeof(out), &si);
        snprintf(expected, sizeof(expected), "%d\nfd3\n", (int)si.si_pid);
        cr_assert_str_eq(out, expected);
        cr_assert_eq(si.si_code, CLD_EXITED);
        cr_assert_eq(si.si_status, 0);
        cr_assert_not(spawn_failed(si.si_pid, &err, &step));
}

Test(spawn, missing_program_fails_in_execve, .timeout = 10)
{
        char *argv[] = { "/nonexistent/superd-test-handler", NULL };
        char *envp[] = { NULL };
        const char *step = NULL;
        char out[64];
        siginfo_t si;
        int err = 0;

        run(argv, envp, NULL, 0, NULL, out, sizeof(out), &si);
        cr_assert_str_eq(out, "");
        cr_assert_eq(si.si_code, CLD_EXITED);
        cr_assert_eq(si.si_status, 127);
        cr_assert(spawn_failed(si.si_pid, &err, &step));
        cr_assert_eq(err, ENOENT);
        cr_assert_str_eq(step, "execve");
        /* Told once: that freed the slot. */
        cr_assert_not(spawn_failed(si.si_pid, &err, &step));
}

Test(spawn, unknown_pid_did_not_fail)
{
        const char *step = NULL;
        int err = 0;

        cr_assert_not(spawn_failed(1, &err, &step));
        cr_assert_eq(err, 0);
        cr_assert_null(step);
}

#if SPAWN_CONCURRENT
#include <pthread.h>

/*
 * The start gate, on slots that look busy: a fake pid in the futex word, as
 * CLONE_PARENT_SETTID writes it, and a start time. A thread plays the
 * kernel at exec: it clears the word and wakes its waiters.
 */
static bool exec_seen;

/* 1 ms from now, every fake child execs. */
static void *exec_after_1ms(void *arg)
{
        usleep(1000);
        __atomic_store_n(&exec_seen, true, __ATOMIC_RELEASE);
        for (size_t i = 0; i < SPAWN_SLOTS; i++) {
                __atomic_store_n(&slots[i].busy, 0, __ATOMIC_RELEASE);
                syscall(SYS_futex, &slots[i].busy, FUTEX_WAKE, 1, NULL, NULL, 0);
        }
        return NULL;
}

static void fake_starting(size_t i, uint64_t start_nsec)
{
        slots[i].busy = 424242 + (pid_t)i;
        slots[i].start_nsec = start_nsec;
}

/*
 * Run the gate against children started at `start`, which exec 1 ms from
 * now: it may open only after their exec, or once they count as stuck (a
 * loaded machine may hold the thread back that long).
 */
static void assert_gate_waits_for_exec(uint64_t start)
{
        pthread_t t;

        exec_seen = false;
        cr_assert_eq(pthread_create(&t, NULL, exec_after_1ms, NULL), 0);
        gate_wait();
        cr_assert(__atomic_load_n(&exec_seen, __ATOMIC_ACQUIRE) || now_nsec() >= start + SPAWN_GATE_STUCK_NSEC,
                  "the gate opened before the children exec'd");
        pthread_join(t, NULL);
}

Test(gate, every_slot_starting_holds_it_until_they_exec, .timeout = 10)
{
        uint64_t now = now_nsec();

        for (size_t i = 0; i < SPAWN_SLOTS; i++)
                fake_starting(i, now);
        assert_gate_waits_for_exec(now);
}

Test(gate, one_late_child_holds_it_until_its_exec, .timeout = 10)
{
        uint64_t late = now_nsec() - SPAWN_GATE_LATE_NSEC;

        fake_starting(0, late);
        assert_gate_waits_for_exec(late);
}

/* A process that plays a child stopped before its exec: the kernel would clear the word at its death. */
struct stopped_child {
        pid_t pid;
        siginfo_t si;
};

static void *reap_then_clear(void *arg)
{
        struct stopped_child *c = arg;

        (void)waitid(P_PID, (id_t)c->pid, &c->si, WEXITED);
        __atomic_store_n(&slots[0].busy, 0, __ATOMIC_RELEASE);
        syscall(SYS_futex, &slots[0].busy, FUTEX_WAKE, 1, NULL, NULL, 0);
        return NULL;
}

/* spawn_wait_all() must not hang on a stopped child (a reload would), nor leave it to run on in freed memory. */
Test(spawn_wait_all, kills_a_child_stopped_before_exec, .timeout = 10)
{
        struct stopped_child c = { 0 };
        pthread_t t;

        c.pid = fork();
        cr_assert_geq(c.pid, 0);
        if (c.pid == 0) {
                /* Should the test fail, this process must neither outlive it nor hold its output open. */
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                close_range(0, ~0U, 0);
                raise(SIGSTOP);
                _exit(0);
        }
        fake_starting(0, now_nsec());
        slots[0].busy = c.pid;
        cr_assert_eq(pthread_create(&t, NULL, reap_then_clear, &c), 0);
        spawn_wait_all();
        pthread_join(t, NULL);
        cr_assert_eq(c.si.si_code, CLD_KILLED);
        cr_assert_eq(c.si.si_status, SIGKILL);
}

/* Children stopped before their exec do not count: if they did, gate_wait() would never return. */
Test(gate, stuck_children_do_not_hold_it, .timeout = 10)
{
        uint64_t stuck = now_nsec() - SPAWN_GATE_STUCK_NSEC;

        for (size_t i = 0; i < SPAWN_SLOTS; i++)
                fake_starting(i, stuck);
        gate_wait();
}

#endif
