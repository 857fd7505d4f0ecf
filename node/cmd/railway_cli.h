/* railway_cli.h: what `medic railway ...`'s files share (private to node/cmd): a blocking way
 * to call the Railway client from a command, and the commands themselves. The client runs on
 * a loop of its own that each call turns until its answer is in: a command line tool, never a
 * node, may wait like this. */
#ifndef MD_RAILWAY_CLI_H
#define MD_RAILWAY_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "railway.h"

#define MD_RWC_USAGE 2

typedef struct md_rwc md_rwc;

/* md_rwc_open: a client for endpoint (NULL = Railway's) with token (copied; the caller wipes its
 * own). verbose: every client log line to stderr, else only warnings and errors. 0 or -errno. */
int md_rwc_open(const char *endpoint, const char *token, rw_token_kind kind, bool verbose, md_rwc **out);
void md_rwc_close(md_rwc *c);

/* md_rwc_call runs one document and waits for it. On RW_OK *data (may be NULL) gets the
 * answer's data as malloc'd JSON text. Otherwise summary gets the reason (never the token).
 * Returns the result's class. */
rw_class md_rwc_call(md_rwc *c, rw_call_doc doc, const char *vars_json, char **data, char *summary, size_t len);

/* md_rwc_check_token runs RW_OP_CHECK_TOKEN: class, *info, summary. */
rw_class md_rwc_check_token(md_rwc *c, rw_token_info *info, char *summary, size_t len);

/* The commands: argv[0] is the subcommand's name. They return the exit code. */
int md_railway_regions(int argc, char **argv);
int md_railway_check(int argc, char **argv);
int md_railway_provision(int argc, char **argv);

/* Shared option handling: --endpoint URL, --token-env VAR, --token-file FILE, --verbose. */
typedef struct {
    const char *endpoint;
    const char *token_env;  /* default RAILWAY_API_TOKEN */
    const char *token_file;
    bool verbose;
} md_rwc_opts;
/* md_rwc_common_opt consumes argv[*i] (and its value) when it is a shared option: 1 consumed,
 * 0 not one of them, -1 a usage error (printed). */
int md_rwc_common_opt(md_rwc_opts *o, int argc, char **argv, int *i, const char *cmd);
/* md_rwc_read_token: from --token-file (its first line) or the environment variable; malloc'd,
 * NULL with a message on stderr when there is none. */
char *md_rwc_read_token(const char *env, const char *file, const char *cmd);
/* md_rwc_free_token wipes and frees a token from md_rwc_read_token. */
void md_rwc_free_token(char *t);
/* md_rwc_endpoint_ok: https://, or http:// to a loopback host (tests, local proxies) only: a
 * token never crosses a network in clear. */
bool md_rwc_endpoint_ok(const char *url);

#endif
