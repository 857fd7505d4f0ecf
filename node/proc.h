/* proc.h: start and stop helper processes (the demo's node and service, test fixtures).
 * Blocking; for command-line tools and tests only, never inside a running node. */
#ifndef MD_PROC_H
#define MD_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct {
    pid_t pid;       /* 0 once stopped */
    int out_fd;      /* read end of the child's stdout, or -1 */
    char rbuf[512];  /* bytes read from out_fd but not yet returned as lines */
    size_t rlen;
} md_proc;

/* md_proc_spawn starts argv[0] (a path) with argv. With capture_stdout the child's stdout is a
 * pipe read through md_proc_read_line; otherwise it goes to stdout_path (truncated) when not
 * NULL. stderr goes to stderr_path (appended) when not NULL.
 * The child gets SIGKILL if this process dies first, so no fixture outlives its test.
 * Returns 0 or a negative errno. */
int md_proc_spawn(char *const argv[], bool capture_stdout, const char *stdout_path, const char *stderr_path,
                  md_proc *p);

/* md_proc_read_line reads one line (without the newline) within timeout_ms.
 * Returns its length, -ETIMEDOUT, or -EPIPE when the child closed stdout. */
int md_proc_read_line(md_proc *p, char *line, size_t len, int timeout_ms);

/* md_proc_stop sends sig (0: none, just wait) and waits up to timeout_ms, then SIGKILLs. *status (may be NULL)
 * receives the wait status. Returns 0 when the child exited on its own after sig, 1 when it
 * had to be killed, or a negative errno. Safe on a stopped md_proc. */
int md_proc_stop(md_proc *p, int sig, int timeout_ms, int *status);

/* md_proc_alive says whether the child is still running (reaping it if it has exited). */
bool md_proc_alive(md_proc *p, int *status);

/* md_proc_self_dir writes the directory of the running executable into dir. Returns 0 or -errno. */
int md_proc_self_dir(char *dir, size_t len);

/* md_free_port returns a TCP port on 127.0.0.1 that was free a moment ago, or a negative errno. */
int md_free_port(void);

#endif
