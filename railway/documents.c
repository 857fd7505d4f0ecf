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
    /* ---- RW_OP_CALL: provisioning (`medic railway provision|regions|check`) ---- */
    /* name is the deploy-region id a service instance takes; deprecated regions are skipped. */
    [RW_DOC_REGIONS] = {
        .name = "MedicRegions",
        .field = "regions",
        .write = false,
        .text = "query MedicRegions($projectId: String) { regions(projectId: $projectId) {"
                " name country location deploymentConstraints { deprecationInfo { isDeprecated } } } }",
        .example_vars = "{\"projectId\":\"prj\"}",
    },
    /* The services of a project, to find ours by name (100 is far more than a project holds). */
    [RW_DOC_PROJECT] = {
        .name = "MedicProject",
        .field = "project",
        .write = false,
        .text = "query MedicProject($id: String!) { project(id: $id) { id name"
                " services(first: 100) { edges { node { id name } } } } }",
        .example_vars = "{\"id\":\"prj\"}",
    },
    /* What an environment holds of them: each instance's settings and whether it ever deployed,
     * and the volumes (a volume pins its service to the volume's region). */
    [RW_DOC_ENVIRONMENT] = {
        .name = "MedicEnvironment",
        .field = "environment",
        .write = false,
        .text = "query MedicEnvironment($id: String!, $projectId: String) {"
                " environment(id: $id, projectId: $projectId) { id name"
                " serviceInstances(first: 100) { edges { node { serviceId serviceName region healthcheckPath"
                " startCommand restartPolicyType dockerfilePath source { image repo } latestDeployment { id status } } } }"
                " volumeInstances(first: 100) { edges { node { volumeId serviceId mountPath region } } } } }",
        .example_vars = "{\"id\":\"env\",\"projectId\":\"prj\"}",
    },
    /* One service's variables (EnvironmentVariables: a JSON map of name to value). */
    [RW_DOC_VARIABLES] = {
        .name = "MedicVariables",
        .field = "variables",
        .write = false,
        .text = "query MedicVariables($projectId: String!, $environmentId: String!, $serviceId: String) {"
                " variables(projectId: $projectId, environmentId: $environmentId, serviceId: $serviceId) }",
        .example_vars = "{\"projectId\":\"prj\",\"environmentId\":\"env\",\"serviceId\":\"svc\"}",
    },
    /* An empty service (no source yet): nothing deploys before its volume, region and variables. */
    [RW_DOC_SERVICE_CREATE] = {
        .name = "MedicServiceCreate",
        .field = "serviceCreate",
        .write = true,
        .text = "mutation MedicServiceCreate($input: ServiceCreateInput!) { serviceCreate(input: $input) { id name } }",
        .example_vars = "{\"input\":{\"projectId\":\"prj\",\"environmentId\":\"env\",\"name\":\"medic-n1\"}}",
    },
    [RW_DOC_VOLUME_CREATE] = {
        .name = "MedicVolumeCreate",
        .field = "volumeCreate",
        .write = true,
        .text = "mutation MedicVolumeCreate($input: VolumeCreateInput!) { volumeCreate(input: $input) { id name } }",
        .example_vars = "{\"input\":{\"projectId\":\"prj\",\"environmentId\":\"env\",\"serviceId\":\"svc\","
                        "\"mountPath\":\"/data\",\"region\":\"us-west2\"}}",
    },
    /* skipDeploys: provisioning deploys once, after every setting is in place. */
    [RW_DOC_VARIABLES_UPSERT] = {
        .name = "MedicVariableCollectionUpsert",
        .field = "variableCollectionUpsert",
        .write = true,
        .text = "mutation MedicVariableCollectionUpsert($input: VariableCollectionUpsertInput!) {"
                " variableCollectionUpsert(input: $input) }",
        .example_vars = "{\"input\":{\"projectId\":\"prj\",\"environmentId\":\"env\",\"serviceId\":\"svc\","
                        "\"variables\":{\"MEDIC_NODE_ID\":\"n1\"},\"skipDeploys\":true}}",
    },
    [RW_DOC_INSTANCE_UPDATE] = {
        .name = "MedicServiceInstanceUpdate",
        .field = "serviceInstanceUpdate",
        .write = true,
        .text = "mutation MedicServiceInstanceUpdate($serviceId: String!, $environmentId: String,"
                " $input: ServiceInstanceUpdateInput!) {"
                " serviceInstanceUpdate(serviceId: $serviceId, environmentId: $environmentId, input: $input) }",
        .example_vars = "{\"serviceId\":\"svc\",\"environmentId\":\"env\",\"input\":{\"region\":\"us-west2\","
                        "\"healthcheckPath\":\"/v1/health\",\"restartPolicyType\":\"ON_FAILURE\","
                        "\"source\":{\"image\":\"ghcr.io/example/medic:1\"}}}",
    },
    /* Returns the new token itself (String!): it goes into the services' variables, never a log. */
    [RW_DOC_PROJECT_TOKEN_CREATE] = {
        .name = "MedicProjectTokenCreate",
        .field = "projectTokenCreate",
        .write = true,
        .text = "mutation MedicProjectTokenCreate($input: ProjectTokenCreateInput!) { projectTokenCreate(input: $input) }",
        .example_vars = "{\"input\":{\"projectId\":\"prj\",\"environmentId\":\"env\",\"name\":\"medic remediation\"}}",
    },
    /* Deploys the service's source as configured; returns the deployment id. */
    [RW_DOC_DEPLOY] = {
        .name = "MedicServiceInstanceDeploy",
        .field = "serviceInstanceDeployV2",
        .write = true,
        .text = "mutation MedicServiceInstanceDeploy($serviceId: String!, $environmentId: String!) {"
                " serviceInstanceDeployV2(serviceId: $serviceId, environmentId: $environmentId) }",
        .example_vars = "{\"serviceId\":\"svc\",\"environmentId\":\"env\"}",
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
