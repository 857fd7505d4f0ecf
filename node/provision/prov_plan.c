/* prov_plan.c: the plan from what the project holds to what the cluster should be, and its
 * printout. Pure: the same state and wishes give the same plan, so a second run after a complete
 * one plans nothing, and a run after a partial failure plans exactly what is missing. */
#include "provision/provision.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[] = {
    [MD_PROV_CREATE_PROJECT_TOKEN] = "create project token",
    [MD_PROV_CREATE_SERVICE] = "create service",
    [MD_PROV_CREATE_VOLUME] = "create volume",
    [MD_PROV_UPDATE_INSTANCE] = "update settings",
    [MD_PROV_SET_VARIABLES] = "set variables",
    [MD_PROV_DEPLOY] = "deploy",
};

const char *md_prov_kind_name(md_prov_kind k)
{
    return (unsigned)k < sizeof kind_names / sizeof kind_names[0] ? kind_names[k] : "?";
}

static void add(md_prov_plan *p, md_prov_kind k, int node, const char *fmt, ...)
{
    if (p->n_actions >= MD_PROV_MAX_ACTIONS)
        return; /* cannot happen: at most one token and five actions a node */
    md_prov_action *a = &p->actions[p->n_actions++];
    a->kind = k;
    a->node = node;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->what, sizeof a->what, fmt, ap);
    va_end(ap);
}

static void note(md_prov_plan *p, const char *fmt, ...)
{
    size_t at = strlen(p->notes);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->notes + at, sizeof p->notes - at, fmt, ap);
    va_end(ap);
}

static const char *var(const md_prov_service *s, const char *name)
{
    const cJSON *v = s->exists ? cJSON_GetObjectItemCaseSensitive(s->vars, name) : NULL;
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* keep: the value the first service (node order) holds for name, if long enough; else NULL.
 * Notes when services disagree. */
static const char *kept(md_prov_plan *p, const md_prov_state *s, const char *name, size_t min)
{
    const char *first = NULL;
    for (size_t i = 0; i < s->n; i++) {
        const char *v = var(&s->svc[i], name);
        if (!v || strlen(v) < min)
            continue;
        if (!first)
            first = v;
        else if (strcmp(first, v) != 0)
            note(p, "%s differs between services: %s takes the value of the first that holds one\n", name, s->svc[i].name);
    }
    return first;
}

/* instance: the ServiceInstanceUpdateInput fields that differ, and their names in what. */
static int instance_diff(const md_prov_desired *d, const md_prov_service *v, size_t i, cJSON **out, char *what,
                         size_t len, char *err, size_t errlen)
{
    cJSON *in = cJSON_CreateObject();
    size_t at = 0;
    *out = NULL;
    what[0] = '\0';
    if (!in)
        return -ENOMEM;
#define DIFF(field, have, want)                                                                                 \
    do {                                                                                                        \
        if (strcmp(have, want) != 0) {                                                                          \
            if (!cJSON_AddStringToObject(in, field, want))                                                      \
                goto oom;                                                                                       \
            at += (size_t)snprintf(what + at, at < len ? len - at : 0, "%s%s %s", at ? ", " : "", field, want); \
        }                                                                                                       \
    } while (0)
    DIFF("region", v->region, d->regions[i]);
    DIFF("healthcheckPath", v->healthcheck, MD_PROV_HEALTH_PATH);
    DIFF("startCommand", v->start, MD_PROV_START);
    DIFF("restartPolicyType", v->restart, MD_PROV_RESTART);
    if (d->source_kind == MD_PROV_SRC_REPO)
        DIFF("dockerfilePath", v->dockerfile, MD_PROV_DOCKERFILE);
#undef DIFF
    bool image = d->source_kind == MD_PROV_SRC_IMAGE, repo = d->source_kind == MD_PROV_SRC_REPO;
    if ((image && (strcmp(v->image, d->source) != 0 || v->repo[0])) ||
        (repo && (strcmp(v->repo, d->source) != 0 || v->image[0]))) {
        cJSON *src = cJSON_AddObjectToObject(in, "source");
        if (!src || !cJSON_AddStringToObject(src, image ? "image" : "repo", d->source))
            goto oom;
        at += (size_t)snprintf(what + at, at < len ? len - at : 0, "%ssource %s %s", at ? ", " : "",
                               image ? "image" : "repo", d->source);
    } else if (d->source_kind == MD_PROV_SRC_KEEP && !v->image[0] && !v->repo[0]) {
        cJSON_Delete(in);
        snprintf(err, errlen, "%s has no source to deploy: give --image REF or --repo OWNER/NAME", v->name);
        return -EINVAL;
    }
    if (!in->child) {
        cJSON_Delete(in);
        return 0;
    }
    *out = in;
    return 0;
oom:
    cJSON_Delete(in);
    return -ENOMEM;
}

/* vars: node i's variables that differ from what it should hold. token NULL: to be created (a
 * null stands for it until the executor has it). */
static int vars_diff(const md_prov_desired *d, const md_prov_service *v, size_t i, const char *secret,
                     const char *admin, const char *token, cJSON **out, char *what, size_t len)
{
    char id[24];
    snprintf(id, sizeof id, "n%zu", i + 1);
    const char *names[] = { MD_PROV_VAR_NODE_ID, MD_PROV_VAR_REGION, MD_PROV_VAR_PORT,  MD_PROV_VAR_CONFIG,
                            MD_PROV_VAR_SECRET,  MD_PROV_VAR_ADMIN,  MD_PROV_VAR_TOKEN, MD_PROV_VAR_RUN_UID };
    const char *want[] = { id, d->regions[i], MD_PROV_API_PORT, d->medic_config, secret, admin, token, MD_PROV_RUN_UID };
    cJSON *o = cJSON_CreateObject();
    size_t at = 0;
    *out = NULL;
    what[0] = '\0';
    if (!o)
        return -ENOMEM;
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        const char *have = var(v, names[k]);
        if (want[k] && have && strcmp(have, want[k]) == 0)
            continue;
        cJSON *item = want[k] ? cJSON_CreateString(want[k]) : cJSON_CreateNull();
        if (!item) {
            cJSON_Delete(o);
            return -ENOMEM;
        }
        cJSON_AddItemToObject(o, names[k], item);
        at += (size_t)snprintf(what + at, at < len ? len - at : 0, "%s%s", at ? ", " : "", names[k]);
    }
    if (!o->child)
        cJSON_Delete(o);
    else
        *out = o;
    return 0;
}

static int plan_node(md_prov_plan *p, const md_prov_desired *d, const md_prov_service *v, size_t i,
                     const char *secret, const char *admin, const char *token, char *err, size_t errlen)
{
    char what[512];
    int node = (int)i, rc;
    bool changed = false;
    if (v->exists && !v->has_instance) {
        snprintf(err, errlen, "%s exists but has no instance in this environment (made in another one?): remove it "
                 "or pick its environment", v->name);
        return -EINVAL;
    }
    if (v->has_volume && (strcmp(v->mount, MD_PROV_MOUNT) != 0 ||
                          (v->volume_region[0] && strcmp(v->volume_region, d->regions[i]) != 0))) {
        snprintf(err, errlen, "%s has a volume at %s in %s, wanted %s in %s: a volume cannot move; delete it (and "
                 "its data) or keep the region", v->name, v->mount, v->volume_region[0] ? v->volume_region : "?",
                 MD_PROV_MOUNT, d->regions[i]);
        return -EINVAL;
    }
    if (!v->exists) {
        add(p, MD_PROV_CREATE_SERVICE, node, "%s", v->name);
        changed = true;
    }
    if (!v->has_volume) {
        add(p, MD_PROV_CREATE_VOLUME, node, "%s in %s", MD_PROV_MOUNT, d->regions[i]);
        changed = true;
    }
    if ((rc = instance_diff(d, v, i, &p->instance_input[i], what, sizeof what, err, errlen)))
        return rc;
    if (p->instance_input[i]) {
        add(p, MD_PROV_UPDATE_INSTANCE, node, "%s", what);
        changed = true;
    }
    if ((rc = vars_diff(d, v, i, secret, admin, token, &p->vars[i], what, sizeof what)))
        return rc;
    if (p->vars[i]) {
        add(p, MD_PROV_SET_VARIABLES, node, "%s", what);
        changed = true;
    }
    if (changed || !v->deployed)
        add(p, MD_PROV_DEPLOY, node, "%s", changed ? "to apply the changes" : "it has never deployed");
    return 0;
}

int md_prov_plan_make(const md_prov_desired *d, const md_prov_state *s, md_prov_plan *p, char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    if (d->n_nodes < 1 || d->n_nodes > MD_PROV_MAX_NODES || s->n != d->n_nodes || !d->medic_config) {
        snprintf(err, errlen, "1 to %d nodes", MD_PROV_MAX_NODES);
        return -EINVAL;
    }
    const char *secret = kept(p, s, MD_PROV_VAR_SECRET, MD_PROV_SECRET_MIN);
    const char *admin = kept(p, s, MD_PROV_VAR_ADMIN, MD_PROV_SECRET_MIN);
    const char *token = d->project_token ? d->project_token : kept(p, s, MD_PROV_VAR_TOKEN, 1);
    p->secret_origin = secret ? MD_PROV_KEPT : MD_PROV_GENERATED;
    p->admin_origin = admin ? MD_PROV_KEPT : MD_PROV_GENERATED;
    p->token_origin = d->project_token ? MD_PROV_GIVEN : token ? MD_PROV_KEPT : MD_PROV_TO_CREATE;
    if (!secret)
        secret = d->fresh_secret;
    if (!admin)
        admin = d->fresh_admin;
    if (!secret || !admin || strlen(secret) < MD_PROV_SECRET_MIN || strlen(admin) < MD_PROV_SECRET_MIN) {
        snprintf(err, errlen, "no fresh secrets of at least %d characters to use", MD_PROV_SECRET_MIN);
        return -EINVAL;
    }
    if (!token)
        add(p, MD_PROV_CREATE_PROJECT_TOKEN, -1, "for remediation, kept in %s", MD_PROV_VAR_TOKEN);
    for (size_t i = 0; i < d->n_nodes; i++) {
        int rc = plan_node(p, d, &s->svc[i], i, secret, admin, token, err, errlen);
        if (rc) {
            if (rc == -ENOMEM)
                snprintf(err, errlen, "out of memory");
            md_prov_plan_free(p);
            return rc;
        }
    }
    return 0;
}

void md_prov_plan_free(md_prov_plan *p)
{
    for (size_t i = 0; i < MD_PROV_MAX_NODES; i++) {
        cJSON_Delete(p->instance_input[i]);
        cJSON_Delete(p->vars[i]);
        p->instance_input[i] = p->vars[i] = NULL;
    }
}

static const char *origin(md_prov_origin o)
{
    return o == MD_PROV_KEPT ? "kept" : o == MD_PROV_GENERATED ? "generated now" : o == MD_PROV_GIVEN ? "given"
                                                                                                      : "to be created";
}

void md_prov_plan_print(const md_prov_plan *p, const md_prov_desired *d, const md_prov_state *s, FILE *out)
{
    for (size_t i = 0; i < d->n_nodes; i++) {
        const md_prov_service *v = &s->svc[i];
        size_t n = 0;
        fprintf(out, "  %s (node n%zu, region %s): %s\n", v->name, i + 1, d->regions[i],
                v->exists ? (v->deployed ? "exists, deployed" : "exists, never deployed") : "missing");
        for (size_t k = 0; k < p->n_actions; k++) {
            if (p->actions[k].node != (int)i)
                continue;
            fprintf(out, "    - %s: %s\n", md_prov_kind_name(p->actions[k].kind), p->actions[k].what);
            n++;
        }
        if (!n)
            fprintf(out, "    up to date\n");
    }
    fprintf(out, "  secrets (values never printed; they live in every medic service's variables):\n"
                 "    %s: %s\n    %s: %s\n    %s (project token, remediation): %s\n",
            MD_PROV_VAR_SECRET, origin(p->secret_origin), MD_PROV_VAR_ADMIN, origin(p->admin_origin),
            MD_PROV_VAR_TOKEN, origin(p->token_origin));
    if (!p->notes[0])
        return;
    fprintf(out, "  notes:\n");
    for (const char *l = p->notes; *l;) {
        size_t n = strcspn(l, "\n");
        fprintf(out, "    %.*s\n", (int)n, l);
        l += n + (l[n] == '\n');
    }
}
