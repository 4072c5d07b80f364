/* SPDX-License-Identifier: MIT */
/* --daemon: detach from the terminal, and tell the waiting parent when superd is ready. */
#pragma once

/*
 * Detach: fork, setsid, fork again (so superd can never reacquire a
 * terminal), stdin and stdout on /dev/null, cwd "/"; stderr stays, so that
 * start-up errors reach the caller. The original process does not return:
 * it waits until the daemon calls daemon_ready() and exits with the status
 * given there, or exits 1 if the daemon dies first. In the daemon, returns
 * the fd to pass to daemon_ready() (>= 0), or -errno before any fork
 * happened.
 *
 * These are superd's only forks outside spawn.c, which starts the
 * handlers: call this at start-up, before any sd-event object exists
 * (those do not survive a fork) and before any handler is started.
 */
int daemon_detach(void);

/*
 * Report the daemon's start-up result to the waiting parent: `status` 0 once
 * every listener is open, else the exit status the parent should return.
 * Then stderr goes to /dev/null too (call log_open(true) afterwards, so that
 * messages go to the journal if there is one). Closes `fd`; does nothing
 * when fd < 0.
 */
void daemon_ready(int fd, int status);

/*
 * Write our pid to `path` atomically, so a reader never sees a partial
 * pidfile: a new temporary file `path`.XXXXXX (O_CREAT|O_EXCL|O_NOFOLLOW),
 * mode 0644 set on its fd whatever the umask, owned by superd's euid, then
 * renamed over `path`. Whatever is at `path` is replaced, never written
 * through: a symlink there is replaced, its target left alone. Returns 0 or
 * -errno (mkostemp(3), write(2), fchmod(2), rename(2): -EISDIR when `path`
 * is a folder); the temporary file is removed on failure.
 */
int daemon_write_pidfile(const char *path);
