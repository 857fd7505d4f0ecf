/* documents.c: every GraphQL document the Railway client can send, in one place, so the schema
 * contract test (tests/schema) can validate each against Railway's published schema. Fields and
 * return types follow the reference's schema notes: deploymentRestart and deploymentRollback
 * return Boolean! (no sub-selection), deploymentRedeploy returns the new Deployment!. */
#include "rw_int.h"

#include <stdlib.h>

/* The fields we read from any Deployment; all but statusUpdatedAt (nullable DateTime: when the
 * status last changed, so for a SUCCESS deployment when it went live) are non-null. */
#define DEPLOYMENT_FIELDS "id status canRedeploy canRollback createdAt statusUpdatedAt"

const rw__doc rw__docs[RW_DOC_COUNT] = {
    [RW_DOC_INSTANCE] = {
        .name = "MedicServiceInstance",
        .field = "serviceInstance",
        .write = false,
        .text = "query MedicServiceInstance($serviceId: String!, $environmentId: String!) {"
                " serviceInstance(serviceId: $serviceId, environmentId: $environmentId) {"
                " latestDeployment { " DEPLOYMENT_FIELDS " }"
                " activeDeployments { " DEPLOYMENT_FIELDS " } } }",
        .example_vars = "{\"serviceId\":\"svc\",\"environmentId\":\"env\"}",
    },
    [RW_DOC_DEPLOYMENT] = {
        .name = "MedicDeployment",
        .field = "deployment",
        .write = false,
        .text = "query MedicDeployment($id: String!) { deployment(id: $id) { " DEPLOYMENT_FIELDS " } }",
        .example_vars = "{\"id\":\"dep\"}",
    },
    /* Newest first (the CLI's "Recent Deployments" relies on that order too). */
    [RW_DOC_LIST] = {
        .name = "MedicDeployments",
        .field = "deployments",
        .write = false,
        .text = "query MedicDeployments($input: DeploymentListInput!, $first: Int) {"
                " deployments(input: $input, first: $first) {"
                " edges { node { " DEPLOYMENT_FIELDS " } }"
                " pageInfo { hasNextPage endCursor } } }",
        .example_vars = "{\"input\":{\"serviceId\":\"svc\",\"environmentId\":\"env\"},\"first\":20}",
    },
    [RW_DOC_RESTART] = {
        .name = "MedicDeploymentRestart",
        .field = "deploymentRestart",
        .write = true,
        .text = "mutation MedicDeploymentRestart($id: String!) { deploymentRestart(id: $id) }",
        .example_vars = "{\"id\":\"dep\"}",
    },
    /* deploymentRedeploy rather than serviceInstanceRedeploy: it names the new deployment, which
     * the ledger records and the wait polls; serviceInstanceRedeploy returns only a Boolean.
     * usePreviousImageTag is left out: its semantics are undocumented. */
    [RW_DOC_REDEPLOY] = {
        .name = "MedicDeploymentRedeploy",
        .field = "deploymentRedeploy",
        .write = true,
        .text = "mutation MedicDeploymentRedeploy($id: String!) { deploymentRedeploy(id: $id) { "
                DEPLOYMENT_FIELDS " } }",
        .example_vars = "{\"id\":\"dep\"}",
    },
    [RW_DOC_ROLLBACK] = {
        .name = "MedicDeploymentRollback",
        .field = "deploymentRollback",
        .write = true,
        .text = "mutation MedicDeploymentRollback($id: String!) { deploymentRollback(id: $id) }",
        .example_vars = "{\"id\":\"dep\"}",
    },
    /* The token check. Only IDs are asked for: a workspace's name or a user's email may be
     * personal, and the node logs what comes back. projectToken answers only to a project token. */
    [RW_DOC_PROJECT_TOKEN] = {
        .name = "MedicProjectToken",
        .field = "projectToken",
        .write = false,
        .text = "query MedicProjectToken { projectToken { projectId environmentId } }",
        .example_vars = "{}",
    },
    /* apiToken: the workspaces a Bearer (account, workspace or OAuth) token can operate on. */
    [RW_DOC_API_TOKEN] = {
        .name = "MedicApiToken",
        .field = "apiToken",
        .write = false,
        .text = "query MedicApiToken { apiToken { workspaces { id } } }",
        .example_vars = "{}",
    },
    /* me answers only to an account token; "Not Authorized" tells a workspace token. */
    [RW_DOC_ME] = {
        .name = "MedicMe",
        .field = "me",
        .write = false,
        .text = "query MedicMe { me { id } }",
        .example_vars = "{}",
    },
};

char *rw_documents_json(void)
{
    cJSON *arr = cJSON_CreateArray();
    if (!arr)
        return NULL;
    for (int i = 0; i < RW_DOC_COUNT; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON *vars = cJSON_Parse(rw__docs[i].example_vars);
        if (!o || !vars || !cJSON_AddStringToObject(o, "name", rw__docs[i].name) ||
            !cJSON_AddStringToObject(o, "field", rw__docs[i].field) ||
            !cJSON_AddStringToObject(o, "text", rw__docs[i].text)) {
            cJSON_Delete(o);
            cJSON_Delete(vars);
            cJSON_Delete(arr);
            return NULL;
        }
        cJSON_AddItemToObject(o, "variables", vars);
        cJSON_AddItemToArray(arr, o);
    }
    char *s = cJSON_PrintUnformatted(arr);
    cJSON_Delete(arr);
    return s;
}
