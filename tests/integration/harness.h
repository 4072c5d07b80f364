/* SPDX-License-Identifier: MIT */
/* Integration test harness: run the real superd on loopback with a temporary config and real clients. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <criterion/criterion.h>

/* Bounds, in milliseconds, for everything the harness waits on. */
#define H_START_MS 5000  /* superd from exec to every listener in LISTEN state */
#define H_STOP_MS 10000  /* superd from SIGTERM to exit */
#define H_IO_MS 10000    /* one client exchange */
#define H_REAP_MS 1000   /* superd reaping a handler that exited */

/*
 * The world of one test. Criterion runs every test in its own process, so a
 * single global is enough; h_setup() fills it, h_teardown() empties it.
 *
 * superd under test is always started with SIGPIPE ignored and SIGUSR2
 * blocked, so that every handler shows whether superd resets signal state,
 * and with every fd above 2 closed (unless leak_fd is set).
 */
struct harness {
        char dir[64];       /* temporary folder, /tmp/superd-it.XXXXXX */
        char conf[128];     /* DIR/superd.conf */
        char services[128]; /* DIR/services.d */
        char log[128];      /* DIR/superd.log: superd's stdout and stderr, appended */
        char user[64];      /* name of the current effective uid, for `user =` */
        pid_t pid;          /* superd under test, 0 when none runs */
        int leak_fd;        /* if > 2: superd inherits this fd (not CLOEXEC, on /dev/null) */
};

extern struct harness H;

/*
 * Fail the current test unless COND holds, with a printf-style message
 * followed by the tail of superd.log. (Criterion in TAP mode drops what a
 * test prints: context has to travel inside the assertion message.)
 */
#define h_assert(cond, ...)                                                                       \
        do {                                                                                      \
                if (!(cond)) {                                                                    \
                        char *h_msg_ = h_format(__VA_ARGS__), *h_tail_ = h_log_tail(H_LOG_LINES); \
                        cr_assert_fail("%s\n---- tail of superd.log ----\n%s---- end ----", h_msg_,  \
                                       h_tail_);                                                  \
                }                                                                                 \
        } while (0)

/* Lines of superd.log that h_assert() shows. */
#define H_LOG_LINES 40

/* printf into a malloc'd string (never NULL). */
char *h_format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Criterion .init: create the temporary folder with services.d/, resolve the user. */
void h_setup(void);

/*
 * Criterion .fini: SIGKILL superd and every descendant of it, reap superd,
 * remove the temporary folder. Safe whatever state the test left.
 */
void h_teardown(void);

/* The superd binary under test ($SUPERD). Fails the test when unset. */
const char *h_superd(void);

/* Absolute path of the helper NAME in $HELPERS_DIR; malloc'd. Fails the test when missing. */
char *h_helper(const char *name);

/* DIR/REL as a malloc'd string (tests run in their own process: leaking it is fine). */
char *h_path(const char *rel);

/* Write DIR/REL with MODE from a printf format, replacing it. Fails the test on error. */
void h_write_file(const char *rel, mode_t mode, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * Write DIR/superd.conf: `services-dir = "services.d"`, `log-level = info`,
 * then EXTRA (may be NULL).
 */
void h_main_conf(const char *extra);

/* Write the drop-in DIR/services.d/NAME from a printf format. */
void h_dropin(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * A TCP port that is free on both 127.0.0.1 and ::1 at the time of the call,
 * never the same twice in one test. Fails the test if none is found.
 */
uint16_t h_free_port(void);

/* True if /proc/net/tcp (AF_INET) or /proc/net/tcp6 (AF_INET6) shows a socket listening on PORT. */
bool h_listening(int family, uint16_t port);

/* Socket inode of the LISTEN entry for PORT in /proc/net/tcp (AF_INET) or tcp6 (AF_INET6), 0 if none. */
unsigned long h_listen_inode(int family, uint16_t port);

/* True if one of PID's fds is the socket with INODE (/proc/PID/fd). */
bool h_holds_socket(pid_t pid, unsigned long inode);


/*
 * Start superd with ARGS (NULL-terminated, after argv[0]) and our
 * environment plus EXTRA_ENV ("K=V" entries, NULL-terminated, may be NULL),
 * stdin on /dev/null, stdout and stderr appended to DIR/superd.log.
 * Does not wait for anything. Sets H.pid and returns it.
 */
pid_t h_spawn_superd(const char *const *args, const char *const *extra_env);

/*
 * Like h_spawn_superd() but runs ARGV (argv[0] absolute), a program that
 * becomes superd by exec (systemd-socket-activate ... superd ...): the
 * process is treated as superd (H.pid).
 */
pid_t h_spawn_as_superd(const char *const *argv, const char *const *extra_env);

/*
 * Start `superd -f -c DIR/superd.conf` with EXTRA_ENV (may be NULL), then
 * wait up to H_START_MS until each listener given as (int family, int port)
 * pairs, terminated by a 0 family, is in LISTEN state. Fails the test,
 * printing the log, if superd exits or a listener does not appear.
 * Returns superd's pid.
 */
pid_t h_start(const char *const *extra_env, ...);

/*
 * Wait up to TIMEOUT_MS until superd.log holds at least COUNT lines containing
 * NEEDLE. Returns true if it does.
 */
bool h_wait_log(const char *needle, int count, int timeout_ms);

/*
 * Start `superd -f -c DIR/superd.conf` with EXTRA_ENV (may be NULL) and wait
 * up to H_START_MS for its "ready:" log line, for listeners that
 * /proc/net/tcp does not show (UDP, unix). Fails the test if superd exits
 * or does not get ready. Returns superd's pid.
 */
pid_t h_start_ready(const char *const *extra_env);

/* Wait up to TIMEOUT_MS for superd to exit by itself. Returns its wait status, or -1 on timeout. */
int h_wait_exit(int timeout_ms);

/*
 * SIGTERM superd and wait up to H_STOP_MS for it to exit. Returns its wait
 * status, or -1 if it is still running (it is left to h_teardown()).
 * *ret_seconds (may be NULL) receives the time from SIGTERM to exit.
 */
int h_stop(double *ret_seconds);

/* Human-readable form of a wait status (-1: "still running"), in a static buffer. */
const char *h_status_str(int status);

/* The whole of DIR/superd.log, malloc'd and NUL-terminated ("" if missing). */
char *h_log(void);

/* Occurrences of NEEDLE in DIR/superd.log, not overlapping. */
int h_log_count(const char *needle);

/* The last LINES lines of DIR/superd.log, malloc'd ("" if missing). */
char *h_log_tail(int lines);

/*
 * Connect to 127.0.0.1 (AF_INET) or ::1 (AF_INET6) PORT, waiting up to
 * H_IO_MS. Returns a blocking CLOEXEC socket or -errno.
 */
int h_connect(int family, uint16_t port);

/*
 * Send LEN bytes of BUF on FD, then shut down the write side, while reading
 * everything the peer sends until EOF (both directions polled together, so
 * large payloads cannot deadlock). Gives up after TIMEOUT_MS in total.
 * Returns the number of bytes received, stored NUL-terminated in *ret_out
 * (malloc'd, always set), or -errno (-ETIMEDOUT).
 */
ssize_t h_exchange(int fd, const void *buf, size_t len, char **ret_out, int timeout_ms);

/* Like h_exchange() but sends nothing and leaves the write side open. */
ssize_t h_read_all(int fd, char **ret_out, int timeout_ms);

/* Write all LEN bytes of BUF to FD within TIMEOUT_MS. Returns 0 or -errno. */
int h_write_all(int fd, const void *buf, size_t len, int timeout_ms);

/*
 * Connect, h_exchange() with H_IO_MS, close. Returns bytes received or
 * -errno; *ret_out is always set.
 */
ssize_t h_request(int family, uint16_t port, const char *text, char **ret_out);

/*
 * Run ARGV (argv[0] absolute) with ENVP (NULL: ours) in CWD (NULL: ours),
 * stdin on /dev/null, capturing stdout and stderr into *ret_out and *ret_err
 * (malloc'd, NUL-terminated; either may be NULL to discard). SIGKILLed after
 * TIMEOUT_MS. Returns the wait status, or -1 on timeout or spawn failure.
 */
int h_run(const char *const *argv, const char *const *envp, const char *cwd, char **ret_out, char **ret_err,
          int timeout_ms);

/* One process, from /proc/PID/stat. */
struct h_proc {
        pid_t pid;
        pid_t ppid;
        char state;    /* R, S, D, Z, ... */
        char comm[32];
};

/* Fill RET (up to MAX entries) with the children of PPID. Returns how many there are (may exceed MAX). */
int h_children(pid_t ppid, struct h_proc *ret, int max);

/* Number of children of PPID in state Z. */
int h_zombies(pid_t ppid);

/* Wait up to TIMEOUT_MS until PPID has no zombie child. Returns the number left. */
int h_wait_no_zombies(pid_t ppid, int timeout_ms);

/* Wait up to TIMEOUT_MS until PPID has no child at all. Returns the number left. */
int h_wait_no_children(pid_t ppid, int timeout_ms);

/* Wait up to TIMEOUT_MS until PPID has at least N live (non-zombie) children. Returns how many it has. */
int h_wait_children(pid_t ppid, int n, int timeout_ms);

/*
 * Wait up to TIMEOUT_MS for a live child of PPID whose comm is COMM (NULL:
 * any). Returns its pid or 0.
 */
pid_t h_wait_child(pid_t ppid, const char *comm, int timeout_ms);

/* True if PID exists and is not a zombie. */
bool h_alive(pid_t pid);

/* Number of open fds of PID (entries of /proc/PID/fd), or -errno. */
int h_fd_count(pid_t pid);

/*
 * The value of field KEY (e.g. "SigIgn") of /proc/PID/status, copied into
 * BUF with surrounding blanks removed. Returns true if found.
 */
bool h_proc_status(pid_t pid, const char *key, char *buf, size_t size);

/* Milliseconds of CLOCK_MONOTONIC. */
int64_t h_now_ms(void);
