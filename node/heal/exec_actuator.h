/* exec_actuator.h: runs a service's restart/redeploy/rollback command (an argv list, no shell)
 * as a child process on the caller's libuv loop, with a timeout, and reports the exit status,
 * the duration and the tail of its output. For services that are not on Railway (systemd,
 * Docker, Kubernetes, a local process). Loop thread only; nothing here blocks.
 *
 * The child:
 *  - runs in its own session and process group (setsid), so a timeout or a cancel signals the
 *    whole group (a `sh -c` script and the programs it started), not just argv[0];
 *  - inherits the node's environment plus MEDIC_SERVICE, MEDIC_INCIDENT, MEDIC_STEP,
 *    MEDIC_ATTEMPT and MEDIC_ACTION (any inherited variables of those names are replaced),
 *    minus MEDIC_CONFIG and the variables named in req->withhold (the node passes the names its
 *    config references as ${VAR}: tokens and secrets stay with the node);
 *  - has stdin on /dev/null and stdout and stderr on one pipe, of which the last
 *    MD_EXEC_OUTPUT_MAX bytes are kept (a ring: a child printing gigabytes costs no memory).
 * On timeout the group gets SIGTERM, then SIGKILL after kill_grace_ms.
 * A command that leaves a background process running (a local service it restarted) must
 * point that process's output elsewhere (`setsid app >app.log 2>&1 &`): the pipe is closed
 * shortly after argv[0] exits, and later writes to it fail with EPIPE/SIGPIPE. */
#ifndef MD_EXEC_ACTUATOR_H
#define MD_EXEC_ACTUATOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <uv.h>

#define MD_EXEC_OUTPUT_MAX 4096
#define MD_EXEC_DEFAULT_GRACE_MS 2000
#define MD_EXEC_MAX_ARGS 256

typedef enum {
    MD_EXEC_OK = 0,     /* exited with status 0 */
    MD_EXEC_FAILED,     /* exited non-zero, killed by a signal it did not get from us, or never started */
    MD_EXEC_TIMEOUT,    /* still running at timeout_ms; killed (whatever it exited with afterwards) */
} md_exec_outcome;

/* What to run. Every pointer is borrowed for the duration of md_exec_start only. */
typedef struct {
    char *const *argv;      /* NULL-terminated; argv[0] a path, or a name looked up in PATH */
    const char *service;    /* MEDIC_SERVICE */
    uint64_t incident_id;   /* MEDIC_INCIDENT */
    const char *step;       /* MEDIC_STEP: "restart", "redeploy" or "rollback" (may be NULL: "") */
    int attempt;            /* MEDIC_ATTEMPT, 1-based within the step */
    uint64_t action_id;     /* MEDIC_ACTION: the ledger's action id (the intent's Raft index) */
    int64_t timeout_ms;     /* > 0 */
    int64_t kill_grace_ms;  /* SIGTERM -> SIGKILL delay after a timeout; 0: MD_EXEC_DEFAULT_GRACE_MS */
    const char *cwd;        /* NULL: the node's working directory */
    char *const *withhold;  /* names of variables not passed on */
    size_t n_withhold;
} md_exec_request;

/* The result handed to the done callback. Only valid during the callback: copy what you keep. */
typedef struct {
    md_exec_outcome outcome;
    int exit_status;        /* the exit code, or -1 when it did not exit normally (signal, no start) */
    int term_signal;        /* the signal that ended it, or 0 */
    int spawn_error;        /* a negative UV error when it could not be started (UV_ENOENT...), else 0 */
    int64_t duration_ms;    /* from start to exit (monotonic) */
    char summary[160];      /* one line: "exit 0", "exit 3", "killed by signal 9 (SIGKILL)",
                             * "timeout after 10.0 s (SIGTERM)", "cannot start /x: no such file or directory" */
    char output[MD_EXEC_OUTPUT_MAX + 1]; /* the last bytes of stdout+stderr, NUL-terminated, as
                             * valid UTF-8: NUL, control bytes other than \n and \t, and invalid
                             * sequences are replaced by '?' */
    size_t output_len;
    uint64_t output_total;  /* every byte the child wrote */
} md_exec_result;

typedef struct md_exec md_exec;

/* md_exec_done_cb runs on the loop thread once the child has exited and its output is read.
 * The handle is freed right after it returns (its uv handles close asynchronously); do not
 * cancel it from inside the callback. */
typedef void (*md_exec_done_cb)(const md_exec_result *res, void *ctx);

/* md_exec_start starts req->argv on loop. The callback always runs later, never from inside
 * this call: a command that cannot be started (ENOENT, EACCES) is reported through it as
 * MD_EXEC_FAILED with spawn_error and summary set. *handle (may be NULL) receives a handle
 * valid until the callback has run or md_exec_cancel has been called.
 * Returns 0, -EINVAL (no argv, argv[0] empty, too many arguments, timeout_ms <= 0), or -ENOMEM
 * (the callback will not run then). */
int md_exec_start(uv_loop_t *loop, const md_exec_request *req, md_exec_done_cb cb, void *ctx,
                  md_exec **handle);

/* md_exec_cancel SIGKILLs the child's process group; the done callback is NOT called. The
 * handle is invalid on return; its memory is freed once the child is reaped and its handles
 * are closed, so keep running the loop (uv_run until it has nothing left) before closing it.
 * For shutdown and for a leader that lost its lease. */
void md_exec_cancel(md_exec *h);

/* md_exec_pid returns the child's pid (0 when it never started). For logs and tests. */
pid_t md_exec_pid(const md_exec *h);

/* md_exec_outcome_name returns "ok", "failed" or "timeout" (the ledger's RESULT outcomes). */
const char *md_exec_outcome_name(md_exec_outcome o);

/* md_exec_format_detail writes the ledger RESULT detail: the summary line, then (when there
 * was output) a newline and the end of the output, cut at the front so the whole fits in cap
 * bytes including the NUL. Returns the length written. */
size_t md_exec_format_detail(const md_exec_result *res, char *out, size_t cap);

#endif
