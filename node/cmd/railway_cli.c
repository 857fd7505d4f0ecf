/* railway_cli.c: `medic railway regions|check` and what every `medic railway` subcommand shares:
 * the token (from an environment variable or a file, never from the command line, where `ps`
 * would show it), the endpoint, and the dispatch. provision is in railway_provision.c. */
#include "railway_cli.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cmd.h"

#define DEFAULT_TOKEN_ENV "RAILWAY_API_TOKEN"

int md_rwc_common_opt(md_rwc_opts *o, int argc, char **argv, int *i, const char *cmd)
{
    const char *a = argv[*i];
    const char **slot = strcmp(a, "--endpoint") == 0     ? &o->endpoint
                        : strcmp(a, "--token-env") == 0  ? &o->token_env
                        : strcmp(a, "--token-file") == 0 ? &o->token_file
                                                         : NULL;
    if (strcmp(a, "--verbose") == 0) {
        o->verbose = true;
        return 1;
    }
    if (strcmp(a, "--token") == 0) {
        fprintf(stderr, "medic railway %s: --token is not accepted (a command line shows in ps): put the token in "
                        "$%s or a file given with --token-file\n", cmd, DEFAULT_TOKEN_ENV);
        return -1;
    }
    if (!slot)
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "medic railway %s: %s needs a value\n", cmd, a);
        return -1;
    }
    *slot = argv[++*i];
    if (slot == &o->endpoint && !md_rwc_endpoint_ok(o->endpoint)) {
        fprintf(stderr, "medic railway %s: --endpoint must be https://..., or http:// to a loopback address\n", cmd);
        return -1;
    }
    return 1;
}

bool md_rwc_endpoint_ok(const char *url)
{
    if (strncasecmp(url, "https://", 8) == 0)
        return url[8] != '\0';
    if (strncasecmp(url, "http://", 7) != 0)
        return false;
    const char *h = url + 7;
    size_t n = strcspn(h, ":/");
    if (h[0] == '[')
        return strncmp(h, "[::1]", 5) == 0;
    char host[64];
    if (n == 0 || n >= sizeof host)
        return false;
    memcpy(host, h, n);
    host[n] = '\0';
    struct in_addr a;
    if (inet_pton(AF_INET, host, &a) == 1)
        return (ntohl(a.s_addr) >> 24) == 127;
    return strcasecmp(host, "localhost") == 0;
}

char *md_rwc_read_token(const char *env, const char *file, const char *cmd)
{
    char buf[1024] = "";
    if (file) {
        FILE *f = fopen(file, "r");
        if (!f || !fgets(buf, sizeof buf, f)) {
            fprintf(stderr, "medic railway %s: cannot read a token from %s\n", cmd, file);
            if (f)
                fclose(f);
            return NULL;
        }
        fclose(f);
        buf[strcspn(buf, "\r\n")] = '\0';
    } else {
        const char *v = getenv(env ? env : DEFAULT_TOKEN_ENV);
        snprintf(buf, sizeof buf, "%s", v ? v : "");
    }
    /* surrounding blanks are a copy-and-paste accident, never part of a token */
    char *s = buf;
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    char *t = n ? strdup(s) : NULL;
    explicit_bzero(buf, sizeof buf);
    if (!n)
        fprintf(stderr, "medic railway %s: no Railway token: set $%s (an account or workspace token for provisioning) "
                        "or give --token-file FILE\n", cmd, file ? "(the file is empty)" : env ? env : DEFAULT_TOKEN_ENV);
    return t;
}

void md_rwc_free_token(char *t)
{
    if (t) {
        explicit_bzero(t, strlen(t));
        free(t);
    }
}

/* ---- regions ---- */

int md_railway_regions(int argc, char **argv)
{
    md_rwc_opts o = { 0 };
    const char *project = NULL;
    bool all = false;
    for (int i = 1; i < argc; i++) {
        int r = md_rwc_common_opt(&o, argc, argv, &i, "regions");
        if (r < 0)
            return MD_RWC_USAGE;
        if (r > 0)
            continue;
        if (strcmp(argv[i], "--project") == 0 && i + 1 < argc)
            project = argv[++i];
        else if (strcmp(argv[i], "--all") == 0)
            all = true;
        else {
            fprintf(stderr, "medic railway regions: unknown or incomplete argument '%s'\n", argv[i]);
            return MD_RWC_USAGE;
        }
    }
    char *token = md_rwc_read_token(o.token_env, o.token_file, "regions");
    if (!token)
        return MD_RWC_USAGE;
    md_rwc *c = NULL;
    int rc = md_rwc_open(o.endpoint, token, RW_TOKEN_BEARER, o.verbose, &c);
    md_rwc_free_token(token);
    if (rc) {
        fprintf(stderr, "medic railway regions: cannot start the client (%s)\n", strerror(-rc));
        return 1;
    }
    cJSON *vars = cJSON_CreateObject();
    if (project)
        cJSON_AddStringToObject(vars, "projectId", project);
    char *vt = cJSON_PrintUnformatted(vars), *data = NULL, sum[RW_SUMMARY_MAX];
    cJSON_Delete(vars);
    rw_class cls = md_rwc_call(c, RW_CALL_REGIONS, vt, &data, sum, sizeof sum);
    free(vt);
    md_rwc_close(c);
    if (cls != RW_OK) {
        fprintf(stderr, "medic railway regions: %s (%s)\n", sum, rw_class_name(cls));
        return 1;
    }
    cJSON *root = cJSON_Parse(data);
    free(data);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, "regions"), *r;
    size_t shown = 0, hidden = 0;
    printf("%-28s %-24s %s\n", "REGION ID", "LOCATION", "COUNTRY");
    cJSON_ArrayForEach(r, list)
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(r, "name");
        const cJSON *loc = cJSON_GetObjectItemCaseSensitive(r, "location");
        const cJSON *cty = cJSON_GetObjectItemCaseSensitive(r, "country");
        const cJSON *dep = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r, "deploymentConstraints"),
                                             "deprecationInfo"),
            "isDeprecated");
        bool deprecated = cJSON_IsTrue(dep);
        if (!cJSON_IsString(name))
            continue;
        if (deprecated && !all) {
            hidden++;
            continue;
        }
        printf("%-28s %-24s %s%s\n", name->valuestring, cJSON_IsString(loc) ? loc->valuestring : "",
               cJSON_IsString(cty) ? cty->valuestring : "", deprecated ? "  (deprecated)" : "");
        shown++;
    }
    cJSON_Delete(root);
    if (hidden)
        printf("(%zu deprecated region%s not shown; --all lists them)\n", hidden, hidden == 1 ? "" : "s");
    return shown ? 0 : 1;
}

/* ---- check ---- */

/* Can this Bearer token see the project (and environment)? Prints the answer; 0 or 1. */
static int check_reach(md_rwc *c, const char *project, const char *env)
{
    char vars[256], sum[RW_SUMMARY_MAX], *data = NULL;
    snprintf(vars, sizeof vars, "{\"id\":\"%s\"}", project);
    rw_class cls = md_rwc_call(c, RW_CALL_PROJECT, vars, &data, sum, sizeof sum);
    if (cls != RW_OK) {
        printf("project %s: not reachable with this token (%s: %s)\n", project, rw_class_name(cls), sum);
        return 1;
    }
    cJSON *root = cJSON_Parse(data);
    free(data);
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "project");
    const cJSON *edges = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(p, "services"), "edges");
    printf("project %s: reachable (\"%s\", %d services)\n", project,
           cJSON_IsString(cJSON_GetObjectItem(p, "name")) ? cJSON_GetObjectItem(p, "name")->valuestring : "?",
           cJSON_GetArraySize(edges));
    cJSON_Delete(root);
    if (!env)
        return 0;
    snprintf(vars, sizeof vars, "{\"id\":\"%s\",\"projectId\":\"%s\"}", env, project);
    cls = md_rwc_call(c, RW_CALL_ENVIRONMENT, vars, &data, sum, sizeof sum);
    if (cls != RW_OK) {
        printf("environment %s: not reachable in that project (%s: %s)\n", env, rw_class_name(cls), sum);
        return 1;
    }
    root = cJSON_Parse(data);
    free(data);
    const cJSON *name = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "environment"), "name");
    printf("environment %s: reachable (\"%s\")\n", env, cJSON_IsString(name) ? name->valuestring : "?");
    cJSON_Delete(root);
    return 0;
}

static bool valid_id_arg(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n < RW_ID_MAX && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == n;
}

int md_railway_check(int argc, char **argv)
{
    md_rwc_opts o = { 0 };
    const char *project = NULL, *env = NULL, *kind = "auto";
    for (int i = 1; i < argc; i++) {
        int r = md_rwc_common_opt(&o, argc, argv, &i, "check");
        if (r < 0)
            return MD_RWC_USAGE;
        if (r > 0)
            continue;
        if (strcmp(argv[i], "--project") == 0 && i + 1 < argc)
            project = argv[++i];
        else if (strcmp(argv[i], "--environment") == 0 && i + 1 < argc)
            env = argv[++i];
        else if (strcmp(argv[i], "--token-kind") == 0 && i + 1 < argc)
            kind = argv[++i];
        else {
            fprintf(stderr, "medic railway check: unknown or incomplete argument '%s'\n", argv[i]);
            return MD_RWC_USAGE;
        }
    }
    if (strcmp(kind, "auto") != 0 && strcmp(kind, "bearer") != 0 && strcmp(kind, "project") != 0) {
        fprintf(stderr, "medic railway check: --token-kind must be auto, bearer or project, not '%s'\n", kind);
        return MD_RWC_USAGE;
    }
    if ((project && !valid_id_arg(project)) || (env && !valid_id_arg(env)) || (env && !project)) {
        fprintf(stderr, "medic railway check: --project and --environment take Railway ids (--environment needs "
                        "--project)\n");
        return MD_RWC_USAGE;
    }
    char *token = md_rwc_read_token(o.token_env, o.token_file, "check");
    if (!token)
        return MD_RWC_USAGE;
    /* auto: as a Bearer token first (account, workspace); refused, then as a project token. */
    rw_token_kind kinds[2] = { strcmp(kind, "project") == 0 ? RW_TOKEN_PROJECT : RW_TOKEN_BEARER, RW_TOKEN_PROJECT };
    int tries = strcmp(kind, "auto") == 0 ? 2 : 1, rc = 1;
    rw_token_info info = { 0 };
    char sum[RW_SUMMARY_MAX] = "";
    rw_class cls = RW_ERR_AUTH;
    md_rwc *c = NULL;
    for (int t = 0; t < tries && cls == RW_ERR_AUTH; t++) {
        md_rwc_close(c);
        c = NULL;
        if (md_rwc_open(o.endpoint, token, kinds[t], o.verbose, &c) != 0) {
            fprintf(stderr, "medic railway check: cannot start the client\n");
            md_rwc_free_token(token);
            return 1;
        }
        cls = md_rwc_check_token(c, &info, sum, sizeof sum);
    }
    md_rwc_free_token(token);
    if (cls != RW_OK) {
        printf("token: refused or unusable: %s (%s)\n", sum, rw_class_name(cls));
        md_rwc_close(c);
        return 1;
    }
    printf("token: %s\n", sum);
    if (info.scope == RW_SCOPE_PROJECT) {
        printf("use: remediation in that environment (restart, redeploy, roll back); it cannot provision (serviceCreate "
               "needs an account or workspace token)\n");
        rc = 0;
        if (project && strcmp(project, info.project_id) != 0) {
            printf("project %s: not reachable: this token belongs to project %s\n", project, info.project_id);
            rc = 1;
        }
        if (env && strcmp(env, info.environment_id) != 0) {
            printf("environment %s: not reachable: this token belongs to environment %s\n", env, info.environment_id);
            rc = 1;
        }
    } else {
        printf("use: provisioning (medic railway provision) and remediation in every project it reaches%s\n",
               info.scope == RW_SCOPE_WORKSPACE ? " of its workspace" : "");
        rc = project ? check_reach(c, project, env) : 0;
    }
    md_rwc_close(c);
    return rc;
}

/* ---- dispatch ---- */

int md_railway_cmd(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "medic railway: which? provision, regions or check (medic help)\n");
        return MD_RWC_USAGE;
    }
    if (strcmp(argv[1], "regions") == 0)
        return md_railway_regions(argc - 1, argv + 1);
    if (strcmp(argv[1], "check") == 0)
        return md_railway_check(argc - 1, argv + 1);
    if (strcmp(argv[1], "provision") == 0)
        return md_railway_provision(argc - 1, argv + 1);
    fprintf(stderr, "medic railway: unknown subcommand '%s' (provision, regions or check)\n", argv[1]);
    return MD_RWC_USAGE;
}
