/* fake_railway_gql.c: the fake Railway API's GraphQL front half: a small parser for one
 * operation (fields, aliases, arguments with variables substituted; no fragments or directives)
 * and validation against the schema's field lists for the types the subset touches: unknown
 * fields, unknown or missing arguments, a selection on a scalar or none on an object are
 * rejected as backboard does (400 GRAPHQL_VALIDATION_FAILED). Execution is in
 * fake_railway_exec.c. */
#include "fake_railway.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *s;
    size_t i, n;
    const cJSON *vars;
    char err[256];
} gq_p;

/* ---- parsing ---- */

static void skip_ws(gq_p *p)
{
    while (p->i < p->n) {
        char c = p->s[p->i];
        if (c == '#') {
            while (p->i < p->n && p->s[p->i] != '\n')
                p->i++;
        } else if (isspace((unsigned char)c) || c == ',') {
            p->i++;
        } else {
            return;
        }
    }
}

static bool fail(gq_p *p, const char *msg)
{
    if (!p->err[0])
        snprintf(p->err, sizeof p->err, "Syntax Error: %s at offset %zu", msg, p->i);
    return false;
}

static bool eat(gq_p *p, char c)
{
    skip_ws(p);
    if (p->i < p->n && p->s[p->i] == c) {
        p->i++;
        return true;
    }
    return false;
}

static bool name(gq_p *p, char *out, size_t len)
{
    skip_ws(p);
    size_t st = p->i;
    while (p->i < p->n && (isalnum((unsigned char)p->s[p->i]) || p->s[p->i] == '_'))
        p->i++;
    size_t l = p->i - st;
    if (l == 0 || isdigit((unsigned char)p->s[st]) || l >= len)
        return fail(p, "expected a name");
    memcpy(out, p->s + st, l);
    out[l] = '\0';
    return true;
}

static cJSON *value(gq_p *p, int depth)
{
    char nm[64];
    skip_ws(p);
    if (depth > 16 || p->i >= p->n)
        return fail(p, "bad value"), NULL;
    char c = p->s[p->i];
    if (c == '$') {
        p->i++;
        if (!name(p, nm, sizeof nm))
            return NULL;
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(p->vars, nm);
        return v ? cJSON_Duplicate(v, 1) : cJSON_CreateNull();
    }
    if (c == '"') {
        char buf[1024];
        size_t k = 0;
        for (p->i++; p->i < p->n && p->s[p->i] != '"'; p->i++) {
            if (p->s[p->i] == '\\' && p->i + 1 < p->n)
                p->i++;
            if (k + 1 < sizeof buf)
                buf[k++] = p->s[p->i];
        }
        if (!eat(p, '"'))
            return fail(p, "unterminated string"), NULL;
        buf[k] = '\0';
        return cJSON_CreateString(buf);
    }
    if (c == '-' || isdigit((unsigned char)c)) {
        char *end;
        double d = strtod(p->s + p->i, &end);
        p->i = (size_t)(end - p->s);
        return cJSON_CreateNumber(d);
    }
    if (c == '[' || c == '{') {
        bool obj = c == '{';
        cJSON *a = obj ? cJSON_CreateObject() : cJSON_CreateArray();
        p->i++;
        while (!eat(p, obj ? '}' : ']')) {
            if (obj && (!name(p, nm, sizeof nm) || !eat(p, ':')))
                return cJSON_Delete(a), fail(p, "expected name: value"), NULL;
            cJSON *v = value(p, depth + 1);
            if (!v)
                return cJSON_Delete(a), NULL;
            if (obj)
                cJSON_AddItemToObject(a, nm, v);
            else
                cJSON_AddItemToArray(a, v);
        }
        return a;
    }
    if (!name(p, nm, sizeof nm))
        return NULL;
    if (strcmp(nm, "true") == 0 || strcmp(nm, "false") == 0)
        return cJSON_CreateBool(nm[0] == 't');
    if (strcmp(nm, "null") == 0)
        return cJSON_CreateNull();
    return cJSON_CreateString(nm); /* an enum value */
}

void fr_gq_free(fr_field *f)
{
    while (f) {
        fr_field *n = f->next;
        fr_gq_free(f->sel);
        cJSON_Delete(f->args);
        free(f);
        f = n;
    }
}

static bool selection(gq_p *p, fr_field **out, int depth)
{
    fr_field **tail = out;
    if (depth > 12 || !eat(p, '{'))
        return fail(p, "expected {");
    while (!eat(p, '}')) {
        skip_ws(p);
        if (p->i + 3 <= p->n && strncmp(p->s + p->i, "...", 3) == 0)
            return fail(p, "fragments are not supported by the fake");
        fr_field *f = calloc(1, sizeof *f);
        if (!f)
            return fail(p, "out of memory");
        *tail = f;
        tail = &f->next;
        f->args = cJSON_CreateObject();
        if (!name(p, f->name, sizeof f->name))
            return false;
        if (eat(p, ':')) {
            memcpy(f->alias, f->name, sizeof f->alias);
            if (!name(p, f->name, sizeof f->name))
                return false;
        }
        if (eat(p, '(')) {
            char an[64];
            while (!eat(p, ')')) {
                if (!name(p, an, sizeof an) || !eat(p, ':'))
                    return fail(p, "expected argument");
                cJSON *v = value(p, 0);
                if (!v)
                    return false;
                cJSON_AddItemToObject(f->args, an, v);
            }
        }
        skip_ws(p);
        if (p->i < p->n && p->s[p->i] == '@')
            return fail(p, "directives are not supported by the fake");
        if (p->i < p->n && p->s[p->i] == '{') {
            f->has_sel = true;
            if (!selection(p, &f->sel, depth + 1))
                return false;
        }
    }
    return true;
}

static fr_field *parse_doc(gq_p *p, bool *mutation, char *opname, size_t oplen)
{
    fr_field *root = NULL;
    char kw[64];
    *mutation = false;
    opname[0] = '\0';
    skip_ws(p);
    if (p->i < p->n && p->s[p->i] != '{') {
        if (!name(p, kw, sizeof kw))
            return NULL;
        if (strcmp(kw, "mutation") == 0)
            *mutation = true;
        else if (strcmp(kw, "query") != 0)
            return fail(p, "only query and mutation operations"), NULL;
        skip_ws(p);
        if (p->i < p->n && (isalpha((unsigned char)p->s[p->i]) || p->s[p->i] == '_') && !name(p, opname, oplen))
            return NULL;
        if (eat(p, '(')) { /* variable definitions: types are not checked here */
            int depth = 1;
            while (p->i < p->n && depth > 0) {
                char c = p->s[p->i++];
                depth += c == '(' ? 1 : c == ')' ? -1 : 0;
            }
        }
    }
    if (!selection(p, &root, 0)) {
        fr_gq_free(root);
        return NULL;
    }
    skip_ws(p);
    if (p->i != p->n) {
        fr_gq_free(root);
        return fail(p, "one operation per document"), NULL;
    }
    return root;
}

/* ---- validation ---- */

typedef struct {
    const char *name, *type; /* type as printed in messages; its base names the object type */
    const char *args[4];     /* allowed arguments */
    const char *required[3];
} fdef;

static const fdef query_f[] = {
    {"serviceInstance", "ServiceInstance!", {"environmentId", "serviceId"}, {"environmentId", "serviceId"}},
    {"deployment", "Deployment!", {"id"}, {"id"}},
    {"deployments", "QueryDeploymentsConnection!", {"input", "first", "after", "last"}, {"input"}},
    {"projectToken", "ProjectToken!", {0}, {0}},
    {"apiToken", "ApiTokenContext!", {0}, {0}},
    {"me", "User!", {0}, {0}},
    {"regions", "[Region!]!", {"projectId"}, {0}},
    {"project", "Project!", {"id"}, {"id"}},
    {"environment", "Environment!", {"id", "projectId"}, {"id"}},
    {"variables", "EnvironmentVariables!", {"environmentId", "projectId", "serviceId", "unrendered"},
     {"environmentId", "projectId"}},
    {"__typename", "String!", {0}, {0}},
    {0}};
static const fdef mutation_f[] = {
    {"serviceCreate", "Service!", {"input"}, {"input"}},
    {"volumeCreate", "Volume!", {"input"}, {"input"}},
    {"variableCollectionUpsert", "Boolean!", {"input"}, {"input"}},
    {"serviceInstanceUpdate", "Boolean!", {"environmentId", "input", "serviceId"}, {"input", "serviceId"}},
    {"projectTokenCreate", "String!", {"input"}, {"input"}},
    {"serviceInstanceDeployV2", "String!", {"commitSha", "environmentId", "serviceId"}, {"environmentId", "serviceId"}},
    {"deploymentRestart", "Boolean!", {"id"}, {"id"}},
    {"deploymentRedeploy", "Deployment!", {"id", "usePreviousImageTag"}, {"id"}},
    {"deploymentRollback", "Boolean!", {"id"}, {"id"}},
    {"serviceInstanceRedeploy", "Boolean!", {"environmentId", "serviceId"}, {"environmentId", "serviceId"}},
    {"__typename", "String!", {0}, {0}},
    {0}};
static const fdef deployment_f[] = {
    {"id", "ID!"}, {"status", "DeploymentStatus!"}, {"createdAt", "DateTime!"}, {"updatedAt", "DateTime!"},
    {"statusUpdatedAt", "DateTime"}, {"canRedeploy", "Boolean!"}, {"canRollback", "Boolean!"},
    {"deploymentStopped", "Boolean!"}, {"serviceId", "String"}, {"environmentId", "String!"},
    {"projectId", "String!"}, {"staticUrl", "String"}, {"url", "String"}, {"__typename", "String!"}, {0}};
static const fdef instance_f[] = {
    {"id", "ID!"}, {"serviceId", "String!"}, {"serviceName", "String!"}, {"environmentId", "String!"},
    {"numReplicas", "Int"}, {"latestDeployment", "Deployment"}, {"activeDeployments", "[Deployment!]!"},
    {"region", "String"}, {"healthcheckPath", "String"}, {"startCommand", "String"},
    {"restartPolicyType", "RestartPolicyType!"},
    {"dockerfilePath", "String"}, {"source", "ServiceSource"}, {"__typename", "String!"}, {0}};
/* provisioning (fake_railway_project.c) */
static const fdef region_f[] = {{"name", "String!"}, {"location", "String!"}, {"country", "String!"}, {"id", "String"},
                                {"region", "String"},
                                {"deploymentConstraints", "RegionDeploymentConstraints"}, {"__typename", "String!"}, {0}};
static const fdef rconstraints_f[] = {{"deprecationInfo", "RegionDeprecationInfo"}, {"__typename", "String!"}, {0}};
static const fdef rdeprecation_f[] = {{"isDeprecated", "Boolean!"}, {"replacementRegion", "String!"},
                                      {"__typename", "String!"}, {0}};
static const fdef project_f[] = {{"id", "ID!"}, {"name", "String!"},
                                 {"services", "ProjectServicesConnection!", {"first", "after", "last", "before"}},
                                 {"__typename", "String!"}, {0}};
static const fdef pconn_f[] = {{"edges", "[ProjectServicesConnectionEdge!]!"}, {"pageInfo", "PageInfo!"},
                               {"__typename", "String!"}, {0}};
static const fdef pedge_f[] = {{"cursor", "String!"}, {"node", "Service!"}, {"__typename", "String!"}, {0}};
static const fdef service_f[] = {{"id", "ID!"}, {"name", "String!"}, {"projectId", "String!"}, {"__typename", "String!"}, {0}};
static const fdef env_f[] = {{"id", "ID!"}, {"name", "String!"}, {"projectId", "String!"},
                             {"serviceInstances", "EnvironmentServiceInstancesConnection!", {"first", "after", "last", "before"}},
                             {"volumeInstances", "EnvironmentVolumeInstancesConnection!", {"first", "after", "last", "before"}},
                             {"__typename", "String!"}, {0}};
static const fdef siconn_f[] = {{"edges", "[EnvironmentServiceInstancesConnectionEdge!]!"}, {"pageInfo", "PageInfo!"},
                                {"__typename", "String!"}, {0}};
static const fdef siedge_f[] = {{"cursor", "String!"}, {"node", "ServiceInstance!"}, {"__typename", "String!"}, {0}};
static const fdef viconn_f[] = {{"edges", "[EnvironmentVolumeInstancesConnectionEdge!]!"}, {"pageInfo", "PageInfo!"},
                                {"__typename", "String!"}, {0}};
static const fdef viedge_f[] = {{"cursor", "String!"}, {"node", "VolumeInstance!"}, {"__typename", "String!"}, {0}};
static const fdef volinst_f[] = {{"id", "ID!"}, {"volumeId", "String!"}, {"serviceId", "String"}, {"mountPath", "String!"},
                                 {"region", "String"}, {"environmentId", "String!"}, {"__typename", "String!"}, {0}};
static const fdef volume_f[] = {{"id", "ID!"}, {"name", "String!"}, {"projectId", "String!"}, {"__typename", "String!"}, {0}};
static const fdef source_f[] = {{"image", "String"}, {"repo", "String"}, {"__typename", "String!"}, {0}};
static const fdef conn_f[] = {{"edges", "[QueryDeploymentsConnectionEdge!]!"}, {"pageInfo", "PageInfo!"},
                              {"__typename", "String!"}, {0}};
static const fdef edge_f[] = {{"cursor", "String!"}, {"node", "Deployment!"}, {"__typename", "String!"}, {0}};
static const fdef ptoken_f[] = {{"id", "ID!"}, {"projectId", "String!"}, {"environmentId", "String!"},
                                {"name", "String!"}, {"createdAt", "DateTime!"}, {"displayToken", "String!"},
                                {"__typename", "String!"}, {0}};
static const fdef apitoken_f[] = {{"workspaces", "[ApiTokenWorkspace!]!"}, {"__typename", "String!"}, {0}};
static const fdef apiws_f[] = {{"id", "String!"}, {"name", "String!"}, {"__typename", "String!"}, {0}};
static const fdef user_f[] = {{"id", "ID!"}, {"name", "String"}, {"username", "String"}, {"__typename", "String!"}, {0}};
static const fdef page_f[] = {{"endCursor", "String"}, {"hasNextPage", "Boolean!"}, {"hasPreviousPage", "Boolean!"},
                              {"startCursor", "String"}, {"__typename", "String!"}, {0}};

static const struct {
    const char *name;
    const fdef *fields;
} objects[] = {{"Deployment", deployment_f}, {"ServiceInstance", instance_f}, {"QueryDeploymentsConnection", conn_f},
               {"QueryDeploymentsConnectionEdge", edge_f}, {"PageInfo", page_f}, {"ProjectToken", ptoken_f},
               {"ApiTokenContext", apitoken_f}, {"ApiTokenWorkspace", apiws_f}, {"User", user_f},
               {"Region", region_f}, {"RegionDeploymentConstraints", rconstraints_f},
               {"RegionDeprecationInfo", rdeprecation_f}, {"Project", project_f},
               {"ProjectServicesConnection", pconn_f}, {"ProjectServicesConnectionEdge", pedge_f},
               {"Service", service_f}, {"Environment", env_f},
               {"EnvironmentServiceInstancesConnection", siconn_f},
               {"EnvironmentServiceInstancesConnectionEdge", siedge_f},
               {"EnvironmentVolumeInstancesConnection", viconn_f},
               {"EnvironmentVolumeInstancesConnectionEdge", viedge_f}, {"VolumeInstance", volinst_f},
               {"Volume", volume_f}, {"ServiceSource", source_f}};

static const fdef *object_fields(const char *type)
{
    char base[64];
    size_t k = 0;
    for (const char *c = type; *c && k + 1 < sizeof base; c++)
        if (*c != '[' && *c != ']' && *c != '!')
            base[k++] = *c;
    base[k] = '\0';
    for (size_t i = 0; i < sizeof objects / sizeof objects[0]; i++)
        if (strcmp(objects[i].name, base) == 0)
            return objects[i].fields;
    return NULL;
}

static bool validate(const fr_field *f, const fdef *defs, const char *tname, char *err, size_t len)
{
    for (; f; f = f->next) {
        const fdef *d = defs;
        while (d->name && strcmp(d->name, f->name) != 0)
            d++;
        if (!d->name)
            return snprintf(err, len, "Cannot query field \"%s\" on type \"%s\".", f->name, tname), false;
        for (const cJSON *a = f->args->child; a; a = a->next) {
            bool ok = false;
            for (int i = 0; i < 4 && d->args[i]; i++)
                ok = ok || strcmp(d->args[i], a->string) == 0;
            if (!ok)
                return snprintf(err, len, "Unknown argument \"%s\" on field \"%s.%s\".", a->string, tname, f->name),
                       false;
        }
        for (int i = 0; i < 3 && d->required[i]; i++) {
            const cJSON *a = cJSON_GetObjectItemCaseSensitive(f->args, d->required[i]);
            if (!a || cJSON_IsNull(a))
                return snprintf(err, len, "Field \"%s\" argument \"%s\" is required, but it was not provided.", f->name,
                                d->required[i]),
                       false;
        }
        const fdef *sub = object_fields(d->type);
        if (sub && !f->has_sel)
            return snprintf(err, len, "Field \"%s\" of type \"%s\" must have a selection of subfields.", f->name,
                            d->type),
                   false;
        if (!sub && f->has_sel)
            return snprintf(err, len, "Field \"%s\" must not have a selection since type \"%s\" has no subfields.",
                            f->name, d->type),
                   false;
        char base[64];
        snprintf(base, sizeof base, "%s", d->type + (d->type[0] == '['));
        base[strcspn(base, "!]")] = '\0';
        if (sub && !validate(f->sel, sub, base, err, len))
            return false;
    }
    return true;
}

fr_field *fr_gq_parse(const char *s, size_t n, const cJSON *vars, bool *mutation, char *opname, size_t oplen, char *err,
                      size_t errlen)
{
    gq_p p = {.s = s, .n = n, .vars = vars};
    fr_field *root = parse_doc(&p, mutation, opname, oplen);
    if (!root)
        snprintf(err, errlen, "%s", p.err[0] ? p.err : "Syntax Error");
    return root;
}

int fr_gq_validate(const fr_field *root, bool mutation, char *err, size_t len)
{
    return validate(root, mutation ? mutation_f : query_f, mutation ? "Mutation" : "Query", err, len) ? 0 : -1;
}
