/* types.c: names of states and error classes, as they appear in logs, the API and metrics. */
#include "health.h"

const char *md_state_name(md_state s)
{
    switch (s) {
    case MD_STATE_UP: return "UP";
    case MD_STATE_DEGRADED: return "DEGRADED";
    case MD_STATE_DOWN: return "DOWN";
    default: return "UNKNOWN";
    }
}

const char *md_err_name(md_err_class e)
{
    switch (e) {
    case MD_ERR_NONE: return "none";
    case MD_ERR_DNS: return "dns";
    case MD_ERR_CONNECT: return "connect";
    case MD_ERR_TIMEOUT: return "timeout";
    case MD_ERR_TLS: return "tls";
    case MD_ERR_STATUS: return "status";
    case MD_ERR_BODY: return "body";
    default: return "unknown";
    }
}
