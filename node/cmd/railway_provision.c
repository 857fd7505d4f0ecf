/* railway_provision.c: `medic railway provision`: reads what the project holds, prints the plan
 * (provision/: pure), and runs it. Idempotent by construction: every run starts from what
 * Railway reports, so a second run finds nothing to do and a run after a failure does only
 * what is missing. Secrets come from getrandom on the first run and live in the services'
 * variables afterwards; none is ever printed unless --print-admin-token asks for that one. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "railway_cli.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "config/config.h"
#include "provision/provision.h"

typedef struct {
    md_rwc_opts o;
    const char *project, *env, *regions_csv, *config_path, *image, *repo, *prefix;
    const char *ptoken_env, *ptoken_file;
    bool dry_run, print_admin;
    char regions_buf[1024];
} args;

static const char usage_line[] =
    "usage: medic railway provision --project ID --environment ID --regions R1,R2,R3 --config FILE\n"
    "         [--image REF | --repo OWNER/NAME] [--name PREFIX] [--project-token-env VAR | --project-token-file FILE]\n"
    "         [--dry-run] [--print-admin-token] [--token-env VAR | --token-file FILE] [--endpoint URL] [--verbose]\n";

static int usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "medic railway provision: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n%s", usage_line);
    return MD_RWC_USAGE;
}

static bool id_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    return n > 0 && n < max && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == n;
}

static bool dns_label_ok(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= MD_PROV_PREFIX_MAX && s[0] != '-' && s[n - 1] != '-' &&
           strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

static int parse(args *a, md_prov_desired *d, int argc, char **argv)
{
    a->prefix = "medic";
    for (int i = 1; i < argc; i++) {
        int r = md_rwc_common_opt(&a->o, argc, argv, &i, "provision");
        if (r < 0)
            return MD_RWC_USAGE;
        if (r > 0)
            continue;
        const char *k = argv[i];
        const char **slot = strcmp(k, "--project") == 0              ? &a->project
                            : strcmp(k, "--environment") == 0        ? &a->env
                            : strcmp(k, "--regions") == 0            ? &a->regions_csv
                            : strcmp(k, "--config") == 0             ? &a->config_path
                            : strcmp(k, "--image") == 0              ? &a->image
                            : strcmp(k, "--repo") == 0               ? &a->repo
                            : strcmp(k, "--name") == 0               ? &a->prefix
                            : strcmp(k, "--project-token-env") == 0  ? &a->ptoken_env
                            : strcmp(k, "--project-token-file") == 0 ? &a->ptoken_file
                                                                     : NULL;
        if (strcmp(k, "--dry-run") == 0)
            a->dry_run = true;
        else if (strcmp(k, "--print-admin-token") == 0)
            a->print_admin = true;
        else if (slot && i + 1 < argc)
            *slot = argv[++i];
        else
            return usage("unknown or incomplete argument '%s'", k);
    }
    if (!a->project || !a->env || !a->regions_csv || !a->config_path)
        return usage("%s", "--project, --environment, --regions and --config are required");
    if (!id_ok(a->project, RW_ID_MAX) || !id_ok(a->env, RW_ID_MAX))
        return usage("%s", "--project and --environment take Railway ids (A-Z a-z 0-9 - _ .)");
    if (a->image && a->repo)
        return usage("%s", "give --image or --repo, not both");
    if (a->ptoken_env && a->ptoken_file)
        return usage("%s", "give --project-token-env or --project-token-file, not both");
    if (!dns_label_ok(a->prefix))
        return usage("--name '%s': 1-40 characters of a-z 0-9 - (it names the services and their private DNS "
                     "names), not starting or ending with -", a->prefix);
    if ((a->image && (!*a->image || strpbrk(a->image, " \t\r\n"))) ||
        (a->repo && (!strchr(a->repo, '/') || strpbrk(a->repo, " \t\r\n"))))
        return usage("%s", "--image takes an image reference, --repo OWNER/NAME");
    snprintf(a->regions_buf, sizeof a->regions_buf, "%s", a->regions_csv);
    d->prefix = a->prefix;
    for (char *save = NULL, *t = strtok_r(a->regions_buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (d->n_nodes == MD_PROV_MAX_NODES)
            return usage("--regions: at most %s regions (one node each)", "7");
        if (!id_ok(t, MD_PROV_NAME_MAX))
            return usage("--regions: '%s' is not a region id (see medic railway regions)", t);
        d->regions[d->n_nodes++] = t;
    }
    if (d->n_nodes == 0 || d->n_nodes == 2)
        return usage("%s", d->n_nodes ? "--regions: two nodes cannot keep a majority once either is lost; give three"
                                      : "--regions: give at least one region");
    d->source_kind = a->image ? MD_PROV_SRC_IMAGE : a->repo ? MD_PROV_SRC_REPO : MD_PROV_SRC_KEEP;
    d->source = a->image ? a->image : a->repo;
    return 0;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    char chunk[4096];
    size_t n;
    while (m && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        fwrite(chunk, 1, n, m);
    fclose(f);
    if (m)
        fclose(m);
    return buf;
}

/* Sets a placeholder for a variable the services will have but this shell may not, so the
 * config can be validated here as each node will load it. */
static void placeholder(const char *name, const char *value)
{
    if (!getenv(name))
        setenv(name, value, 1);
}

/* The node config, checked with the node's own loader before anything is sent. */
static int node_config(const args *a, const md_prov_desired *d, char **out)
{
    char *user = read_file(a->config_path), err[512];
    if (!user) {
        fprintf(stderr, "medic railway provision: --config %s: cannot read: %s\n", a->config_path, strerror(errno));
        return MD_RWC_USAGE;
    }
    int rc = md_prov_node_config(user, d->prefix, d->n_nodes, d->regions, out, err, sizeof err);
    free(user);
    if (rc) {
        fprintf(stderr, "medic railway provision: --config %s: %s\n", a->config_path, err);
        return MD_RWC_USAGE;
    }
    char foreign[512];
    md_prov_foreign_refs(*out, foreign, sizeof foreign);
    if (foreign[0])
        printf("note: the config references ${%s}: add %s to each medic service's variables yourself "
               "(provisioning sets only its own)\n", foreign, strchr(foreign, ',') ? "them" : "it");
    for (char *save = NULL, *t = strtok_r(foreign, ",", &save); t; t = strtok_r(NULL, ",", &save))
        placeholder(t, "placeholder-for-validation-0000");
    placeholder(MD_PROV_VAR_NODE_ID, "n1");
    placeholder(MD_PROV_VAR_REGION, d->regions[0]);
    placeholder(MD_PROV_VAR_PORT, MD_PROV_API_PORT);
    placeholder(MD_PROV_VAR_SECRET, "placeholder-cluster-secret-0000");
    placeholder(MD_PROV_VAR_ADMIN, "placeholder-admin-token-0000");
    placeholder(MD_PROV_VAR_TOKEN, "placeholder-project-token");
    md_config *cfg = NULL;
    if (md_config_parse(*out, strlen(*out), "MEDIC_CONFIG", &cfg, err, sizeof err) < 0) {
        fprintf(stderr, "medic railway provision: the nodes' config would not load: %s\n", err);
        free(*out);
        *out = NULL;
        return MD_RWC_USAGE;
    }
    md_config_free(cfg);
    return 0;
}

static int fresh(char *out, size_t hexlen)
{
    unsigned char raw[32];
    if (hexlen / 2 > sizeof raw || getrandom(raw, hexlen / 2, 0) != (ssize_t)(hexlen / 2))
        return -EIO;
    for (size_t i = 0; i < hexlen / 2; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
    explicit_bzero(raw, sizeof raw);
    return 0;
}

static char *vars_text(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *vars_text(const char *fmt, ...)
{
    char *s = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

/* Reads the project: services by name, their instances and volumes, their variables. */
static int read_state(md_rwc *c, const args *a, const md_prov_desired *d, md_prov_state *s)
{
    char sum[RW_SUMMARY_MAX], err[256], *pj = NULL, *ej = NULL;
    char *v1 = vars_text("{\"id\":\"%s\"}", a->project);
    char *v2 = vars_text("{\"id\":\"%s\",\"projectId\":\"%s\"}", a->env, a->project);
    rw_class cls = md_rwc_call(c, RW_CALL_PROJECT, v1, &pj, sum, sizeof sum);
    if (cls == RW_OK)
        cls = md_rwc_call(c, RW_CALL_ENVIRONMENT, v2, &ej, sum, sizeof sum);
    free(v1);
    free(v2);
    int rc = 0;
    if (cls != RW_OK) {
        fprintf(stderr, "medic railway provision: reading the project: %s (%s)%s\n", sum, rw_class_name(cls),
                cls == RW_ERR_AUTH ? "; provisioning needs an account or workspace token (medic railway check)" : "");
        rc = 1;
    } else if (md_prov_state_read(s, d, pj, ej, err, sizeof err)) {
        fprintf(stderr, "medic railway provision: %s\n", err);
        rc = 1;
    }
    free(pj);
    free(ej);
    for (size_t i = 0; rc == 0 && i < s->n; i++) {
        if (!s->svc[i].exists)
            continue;
        char *vd = NULL, *v = vars_text("{\"projectId\":\"%s\",\"environmentId\":\"%s\",\"serviceId\":\"%s\"}",
                                        a->project, a->env, s->svc[i].id);
        cls = md_rwc_call(c, RW_CALL_VARIABLES, v, &vd, sum, sizeof sum);
        free(v);
        if (cls != RW_OK) {
            fprintf(stderr, "medic railway provision: reading %s's variables: %s (%s)\n", s->svc[i].name, sum,
                    rw_class_name(cls));
            rc = 1;
        } else if (md_prov_state_vars(s, i, vd, err, sizeof err)) {
            fprintf(stderr, "medic railway provision: %s: %s\n", s->svc[i].name, err);
            rc = 1;
        }
        if (vd)
            explicit_bzero(vd, strlen(vd));
        free(vd);
    }
    return rc;
}

/* Runs one mutation; *out (may be NULL) gets the root field's value as a string. */
static int mutate(md_rwc *c, rw_call_doc doc, cJSON *vars, const char *field, const char *sub, char *out, size_t len)
{
    char *vt = cJSON_PrintUnformatted(vars), *data = NULL, sum[RW_SUMMARY_MAX];
    cJSON_Delete(vars);
    if (!vt)
        return -ENOMEM;
    rw_class cls = md_rwc_call(c, doc, vt, &data, sum, sizeof sum);
    explicit_bzero(vt, strlen(vt));
    free(vt);
    if (cls != RW_OK) {
        fprintf(stderr, "  failed: %s (%s)\n", sum, rw_class_name(cls));
        return -EIO;
    }
    cJSON *root = cJSON_Parse(data);
    explicit_bzero(data, strlen(data));
    free(data);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, field);
    if (sub)
        v = cJSON_GetObjectItemCaseSensitive(v, sub);
    int rc = 0;
    if (out && !cJSON_IsString(v)) {
        fprintf(stderr, "  failed: %s answered without %s%s%s\n", rw_call_name(doc), field, sub ? "." : "", sub ? sub : "");
        rc = -EBADMSG;
    } else if (out) {
        snprintf(out, len, "%s", v->valuestring);
    }
    cJSON_Delete(root);
    return rc;
}

static cJSON *base_input(const args *a, const char *service_id)
{
    cJSON *in = cJSON_CreateObject();
    cJSON_AddStringToObject(in, "projectId", a->project);
    cJSON_AddStringToObject(in, "environmentId", a->env);
    if (service_id)
        cJSON_AddStringToObject(in, "serviceId", service_id);
    return in;
}

static cJSON *wrap(cJSON *input)
{
    cJSON *v = cJSON_CreateObject();
    cJSON_AddItemToObject(v, "input", input);
    return v;
}

static int run_action(md_rwc *c, const args *a, const md_prov_desired *d, md_prov_state *s, md_prov_plan *p,
                      const md_prov_action *act)
{
    md_prov_service *v = act->node >= 0 ? &s->svc[act->node] : NULL;
    char out[1024];
    cJSON *in, *vars;
    int rc = 0;
    switch (act->kind) {
    case MD_PROV_CREATE_PROJECT_TOKEN:
        in = base_input(a, NULL);
        char name[96];
        snprintf(name, sizeof name, "%s remediation", d->prefix);
        cJSON_AddStringToObject(in, "name", name);
        if ((rc = mutate(c, RW_CALL_PROJECT_TOKEN_CREATE, wrap(in), "projectTokenCreate", NULL, out, sizeof out)))
            break;
        for (size_t i = 0; i < d->n_nodes; i++) {
            cJSON *slot = cJSON_GetObjectItemCaseSensitive(p->vars[i], MD_PROV_VAR_TOKEN);
            if (slot && cJSON_IsNull(slot))
                cJSON_ReplaceItemInObjectCaseSensitive(p->vars[i], MD_PROV_VAR_TOKEN, cJSON_CreateString(out));
        }
        explicit_bzero(out, sizeof out);
        printf("  done: created a project token (in %s)\n", MD_PROV_VAR_TOKEN);
        return 0;
    case MD_PROV_CREATE_SERVICE:
        in = base_input(a, NULL);
        cJSON_AddStringToObject(in, "name", v->name);
        if ((rc = mutate(c, RW_CALL_SERVICE_CREATE, wrap(in), "serviceCreate", "id", v->id, sizeof v->id)))
            break;
        v->exists = true;
        printf("  done: %s: created service %s\n", v->name, v->id);
        return 0;
    case MD_PROV_CREATE_VOLUME:
        in = base_input(a, v->id);
        cJSON_AddStringToObject(in, "mountPath", MD_PROV_MOUNT);
        cJSON_AddStringToObject(in, "region", d->regions[act->node]);
        rc = mutate(c, RW_CALL_VOLUME_CREATE, wrap(in), "volumeCreate", "id", out, sizeof out);
        break;
    case MD_PROV_UPDATE_INSTANCE:
        vars = cJSON_CreateObject();
        cJSON_AddStringToObject(vars, "serviceId", v->id);
        cJSON_AddStringToObject(vars, "environmentId", a->env);
        cJSON_AddItemToObject(vars, "input", cJSON_Duplicate(p->instance_input[act->node], 1));
        rc = mutate(c, RW_CALL_INSTANCE_UPDATE, vars, "serviceInstanceUpdate", NULL, NULL, 0);
        break;
    case MD_PROV_SET_VARIABLES:
        in = base_input(a, v->id);
        cJSON_AddItemToObject(in, "variables", cJSON_Duplicate(p->vars[act->node], 1));
        /* Deploy once, at the end, with everything in place. */
        cJSON_AddBoolToObject(in, "skipDeploys", 1);
        rc = mutate(c, RW_CALL_VARIABLES_UPSERT, wrap(in), "variableCollectionUpsert", NULL, NULL, 0);
        break;
    case MD_PROV_DEPLOY:
        vars = cJSON_CreateObject();
        cJSON_AddStringToObject(vars, "serviceId", v->id);
        cJSON_AddStringToObject(vars, "environmentId", a->env);
        rc = mutate(c, RW_CALL_DEPLOY, vars, "serviceInstanceDeployV2", NULL, out, sizeof out);
        break;
    }
    if (rc == 0 && act->kind == MD_PROV_DEPLOY)
        printf("  done: %s: deploy (deployment %s)\n", v->name, out);
    else if (rc == 0)
        printf("  done: %s: %s\n", v->name, md_prov_kind_name(act->kind));
    return rc;
}

static void print_admin_token(const md_prov_state *s, const md_prov_plan *p, const md_prov_desired *d)
{
    const char *t = NULL;
    for (size_t i = 0; !t && i < s->n; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(p->vars[i], MD_PROV_VAR_ADMIN);
        if (!cJSON_IsString(v))
            v = s->svc[i].vars ? cJSON_GetObjectItemCaseSensitive(s->svc[i].vars, MD_PROV_VAR_ADMIN) : NULL;
        t = cJSON_IsString(v) ? v->valuestring : NULL;
    }
    if (!t && p->admin_origin == MD_PROV_GENERATED)
        t = d->fresh_admin; /* a dry run of a first provisioning: nothing kept yet */
    if (t)
        printf("%s=%s\n", MD_PROV_VAR_ADMIN, t);
}

int md_railway_provision(int argc, char **argv)
{
    args a = { 0 };
    md_prov_desired d = { 0 };
    int rc = parse(&a, &d, argc, argv);
    if (rc)
        return rc;
    char *cfg_text = NULL, *token = NULL, *ptoken = NULL, secret[65], admin[65], err[512];
    if ((rc = node_config(&a, &d, &cfg_text)))
        return rc;
    d.medic_config = cfg_text;
    rc = MD_RWC_USAGE;
    if (!(token = md_rwc_read_token(a.o.token_env, a.o.token_file, "provision")))
        goto out;
    if ((a.ptoken_env || a.ptoken_file) && !(ptoken = md_rwc_read_token(a.ptoken_env, a.ptoken_file, "provision")))
        goto out;
    d.project_token = ptoken;
    rc = 1;
    if (fresh(secret, 64) || fresh(admin, 64)) {
        fprintf(stderr, "medic railway provision: getrandom failed\n");
        goto out;
    }
    secret[64] = admin[64] = '\0';
    d.fresh_secret = secret;
    d.fresh_admin = admin;
    md_rwc *c = NULL;
    if (md_rwc_open(a.o.endpoint, token, RW_TOKEN_BEARER, a.o.verbose, &c) != 0) {
        fprintf(stderr, "medic railway provision: cannot start the client\n");
        goto out;
    }
    md_prov_state s;
    memset(&s, 0, sizeof s);
    md_prov_plan p;
    memset(&p, 0, sizeof p);
    if (read_state(c, &a, &d, &s) != 0)
        goto close;
    if (md_prov_plan_make(&d, &s, &p, err, sizeof err) != 0) {
        fprintf(stderr, "medic railway provision: %s\n", err);
        goto close;
    }
    printf("plan for project %s, environment %s: %zu node%s (%s)\n", a.project, a.env, d.n_nodes,
           d.n_nodes == 1 ? "" : "s", a.regions_csv);
    md_prov_plan_print(&p, &d, &s, stdout);
    if (p.n_actions == 0) {
        printf("nothing to do: the cluster is as asked\n");
        rc = 0;
    } else if (a.dry_run) {
        printf("dry run: %zu change%s planned, none made\n", p.n_actions, p.n_actions == 1 ? "" : "s");
        rc = 0;
    } else {
        fflush(stdout);
        size_t k = 0;
        for (; k < p.n_actions; k++)
            if (run_action(c, &a, &d, &s, &p, &p.actions[k]) != 0)
                break;
        if (k < p.n_actions) {
            printf("stopped after %zu of %zu changes: run the same command again to finish (it reads what exists "
                   "first and does only what is missing)\n", k, p.n_actions);
            goto close;
        }
        printf("done: %zu change%s made\n", p.n_actions, p.n_actions == 1 ? "" : "s");
        rc = 0;
    }
    if (rc == 0 && a.print_admin)
        print_admin_token(&s, &p, &d);
    else if (rc == 0)
        printf("the admin token is the variable %s of every medic service (Railway dashboard: service, Variables), "
               "or run again with --print-admin-token\n", MD_PROV_VAR_ADMIN);
close:
    md_prov_plan_free(&p);
    md_prov_state_free(&s);
    md_rwc_close(c);
out:
    explicit_bzero(secret, sizeof secret);
    explicit_bzero(admin, sizeof admin);
    md_rwc_free_token(token);
    md_rwc_free_token(ptoken);
    free(cfg_text);
    return rc;
}
