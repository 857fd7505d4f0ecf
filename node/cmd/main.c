/* main.c: the `medic` command: dispatches to node, status, health, check-config, gen-certs, demo,
 * chaos, railway, version and help. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "cmd.h"
#include "base/base.h"

#define EXIT_USAGE 2

static const char usage[] =
    "medic " MD_VERSION ": a self-healing service monitor\n"
    "\n"
    "usage:\n"
    "  medic node [--config FILE] [--log-format text|json] [--log-level LEVEL] [--insecure-dev]\n"
    "      run a monitor node; without --config the config is read from $MEDIC_CONFIG (the JSON\n"
    "      text itself); MEDIC_NODE_ID, MEDIC_REGION, MEDIC_DATA_DIR and PORT fill what the config\n"
    "      leaves out (docs/config.md, \"Environment variables\");\n"
    "      --insecure-dev lets a cluster run without cluster.secret (local demos only)\n"
    "  medic status [--node URL] [--json]\n"
    "      show what a node sees (default URL $MEDIC_NODE or http://127.0.0.1:8700)\n"
    "  medic health [--node URL]\n"
    "      exit 0 when the node's /v1/health answers 200, else 1 (for container health checks)\n"
    "  medic pause|resume|ack SERVICE [--node URL] [--reason TEXT] [--token TOKEN]\n"
    "      stop or restart remediation of a service, or acknowledge its incident; needs the admin\n"
    "      token (--token or $MEDIC_ADMIN_TOKEN)\n"
    "  medic check-config [FILE]\n"
    "      validate a config and print it with defaults applied and secrets masked;\n"
    "      exits 2 naming the field when it is wrong\n"
    "  medic gen-certs --out DIR [--days N] [--ca-days N] [--force] ID=HOST[,HOST...] ...\n"
    "      make a CA (DIR/ca.pem, ca.key) and per node DIR/ID.pem and ID.key for mutual TLS\n"
    "      between nodes (tls+tcp://); HOST: every name or IP address peers dial the node by;\n"
    "      an existing CA in DIR is reused; existing node keys are kept unless --force\n"
    "  medic demo [--keep]\n"
    "      start three nodes on loopback watching a demo service, crash the service, print the\n"
    "      timeline: each node's detection, the quorum verdict, the restart and the recovery;\n"
    "      then kill the leader mid-ladder and show the new leader finish without repeating a step;\n"
    "      --keep leaves the cluster running and prints how to stop it\n"
    "  medic chaos [--scenario NAME] [--runs N] [--nodes 3|5] [--json] [--quick] [--list]\n"
    "      build regions of nodes on this machine (network namespaces: needs root; without it the\n"
    "      loopback subset), break them, print detection, verdict, action and recovery times\n"
    "  medic railway provision --project ID --environment ID --regions R1,R2,R3 --config FILE\n"
    "        [--image REF | --repo OWNER/NAME] [--name PREFIX] [--dry-run] [--print-admin-token]\n"
    "        [--project-token-env VAR | --project-token-file FILE]\n"
    "      create (or bring up to date) one monitor service per region through Railway's API: a\n"
    "      volume, its region, a health check, the variables; a second run changes nothing\n"
    "  medic railway regions [--project ID] [--all]\n"
    "      list the region ids Railway offers (deprecated ones only with --all)\n"
    "  medic railway check [--project ID [--environment ID]] [--token-kind auto|bearer|project]\n"
    "      say which kind of token this is and what it reaches\n"
    "      (railway commands read the token from $RAILWAY_API_TOKEN, --token-env VAR or --token-file\n"
    "      FILE, never from the command line; --endpoint URL for a proxy or a test API)\n"
    "  medic --version | version\n"
    "  medic help | --help\n";

static int load_config(const char *path, md_config **cfg)
{
    char err[MD_CONFIG_ERR_LEN];
    if (md_config_load(path, cfg, err, sizeof err) < 0) {
        fprintf(stderr, "medic: config error: %s\n", err);
        return -1;
    }
    return 0;
}

static int cmd_node(int argc, char **argv)
{
    const char *path = NULL, *fmt = NULL, *level = NULL;
    bool insecure_dev = false;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--insecure-dev") == 0)
            insecure_dev = true;
        else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            path = argv[++i];
        else if (strcmp(argv[i], "--log-format") == 0 && i + 1 < argc)
            fmt = argv[++i];
        else if (strcmp(argv[i], "--log-level") == 0 && i + 1 < argc)
            level = argv[++i];
        else {
            fprintf(stderr, "medic node: unknown or incomplete argument '%s'\n\n%s", argv[i], usage);
            return EXIT_USAGE;
        }
    }
    if (fmt && strcmp(fmt, "text") != 0 && strcmp(fmt, "json") != 0) {
        fprintf(stderr, "medic node: --log-format must be text or json, not '%s'\n", fmt);
        return EXIT_USAGE;
    }
    if (level && md_log_level_parse(level) < 0) {
        fprintf(stderr, "medic node: --log-level must be debug, info, warn or error, not '%s'\n", level);
        return EXIT_USAGE;
    }
    md_config *cfg = NULL;
    if (load_config(path, &cfg) < 0)
        return EXIT_USAGE;
    if (cfg->cluster.enabled && !cfg->cluster.secret && !insecure_dev) {
        fprintf(stderr, "medic: config error: %s: cluster.secret: is required (every node of the cluster shares it; "
                        "for a local demo only, run with --insecure-dev)\n", cfg->origin);
        md_config_free(cfg);
        return EXIT_USAGE;
    }
    char err[1024];
    if (md_identity_check(cfg, err, sizeof err) < 0) {
        fprintf(stderr, "medic: config error: %s\n", err);
        md_config_free(cfg);
        return EXIT_USAGE;
    }
    if (fmt)
        cfg->log_format = strcmp(fmt, "json") == 0 ? MD_LOGFMT_JSON : MD_LOGFMT_TEXT;
    if (level)
        cfg->log_level = md_log_level_parse(level);
    md_log_setup(cfg->log_format == MD_LOGFMT_JSON, (md_log_level)cfg->log_level, stderr);
    int rc = md_daemon_run(cfg, insecure_dev);
    md_config_free(cfg);
    return rc;
}

static int cmd_status(int argc, char **argv)
{
    const char *node = getenv("MEDIC_NODE");
    bool json = false;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--node") == 0 && i + 1 < argc)
            node = argv[++i];
        else if (strcmp(argv[i], "--json") == 0)
            json = true;
        else {
            fprintf(stderr, "medic status: unknown or incomplete argument '%s'\n\n%s", argv[i], usage);
            return EXIT_USAGE;
        }
    }
    return md_status_cmd(node && *node ? node : "http://127.0.0.1:8700", json, stdout);
}

static int cmd_health(int argc, char **argv)
{
    const char *node = getenv("MEDIC_NODE");
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--node") == 0 && i + 1 < argc)
            node = argv[++i];
        else {
            fprintf(stderr, "medic health: unknown or incomplete argument '%s'\n\n%s", argv[i], usage);
            return EXIT_USAGE;
        }
    }
    return md_health_cmd(node && *node ? node : "http://127.0.0.1:8700", stdout);
}

static int cmd_action(int argc, char **argv)
{
    const char *node = getenv("MEDIC_NODE"), *service = NULL, *reason = NULL, *token = getenv("MEDIC_ADMIN_TOKEN");
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--node") == 0 && i + 1 < argc)
            node = argv[++i];
        else if (strcmp(argv[i], "--reason") == 0 && i + 1 < argc)
            reason = argv[++i];
        else if (strcmp(argv[i], "--token") == 0 && i + 1 < argc)
            token = argv[++i];
        else if (argv[i][0] != '-' && !service)
            service = argv[i];
        else {
            fprintf(stderr, "medic %s: unknown or incomplete argument '%s'\n\n%s", argv[1], argv[i], usage);
            return EXIT_USAGE;
        }
    }
    if (!service) {
        fprintf(stderr, "medic %s: which service?\n\n%s", argv[1], usage);
        return EXIT_USAGE;
    }
    return md_action_cmd(argv[1], node && *node ? node : "http://127.0.0.1:8700", service, reason, token, stdout);
}

static int cmd_check_config(int argc, char **argv)
{
    if (argc > 3) {
        fprintf(stderr, "medic check-config: takes one FILE (or none to read $MEDIC_CONFIG)\n");
        return EXIT_USAGE;
    }
    md_config *cfg = NULL;
    if (load_config(argc == 3 ? argv[2] : NULL, &cfg) < 0)
        return EXIT_USAGE;
    char *text = md_config_to_json(cfg, true);
    if (!text) {
        md_config_free(cfg);
        fprintf(stderr, "medic check-config: out of memory\n");
        return 1;
    }
    printf("%s\n", text);
    fprintf(stderr, "medic check-config: %s is valid (%zu services)\n", cfg->origin, cfg->n_services);
    free(text);
    md_config_free(cfg);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "node") == 0)
        return cmd_node(argc, argv);
    if (strcmp(cmd, "status") == 0)
        return cmd_status(argc, argv);
    if (strcmp(cmd, "pause") == 0 || strcmp(cmd, "resume") == 0 || strcmp(cmd, "ack") == 0)
        return cmd_action(argc, argv);
    if (strcmp(cmd, "health") == 0)
        return cmd_health(argc, argv);
    if (strcmp(cmd, "gen-certs") == 0)
        return md_gen_certs_cmd(argc - 1, argv + 1);
    if (strcmp(cmd, "check-config") == 0)
        return cmd_check_config(argc, argv);
    if (strcmp(cmd, "demo") == 0)
        return md_demo_run(argc - 1, argv + 1);
    if (strcmp(cmd, "chaos") == 0)
        return md_chaos_run(argc - 1, argv + 1);
    if (strcmp(cmd, "railway") == 0)
        return md_railway_cmd(argc - 1, argv + 1);
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("medic %s\n", MD_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        fputs(usage, stdout);
        return 0;
    }
    fprintf(stderr, "medic: unknown command '%s'\n\n%s", cmd, usage);
    return EXIT_USAGE;
}
