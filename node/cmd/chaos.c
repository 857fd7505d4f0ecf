/* chaos.c: `medic chaos`: the failure scenarios live in a harness of their own (medic-chaos,
 * tests/chaos/), which node/ may not include; this command finds that program where medic's
 * helpers are (a build tree, or ${prefix}/libexec/medic) and execs it. */
#include "cmd.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"

int md_helper_path(const char *name, char *out, size_t len)
{
    char dir[PATH_MAX];
    if (md_proc_self_dir(dir, sizeof dir) < 0)
        return -ENOENT;
    char libexec[PATH_MAX + 64];
    snprintf(libexec, sizeof libexec, "%s/../libexec/medic/%s", dir, name);
    snprintf(out, len, "%s/%s", dir, name);
    if (access(out, X_OK) == 0)
        return 0;
    if (access(libexec, X_OK) == 0) {
        snprintf(out, len, "%s", libexec);
        return 0;
    }
    return -ENOENT;
}

int md_chaos_run(int argc, char **argv)
{
    char harness[PATH_MAX + 64], self[PATH_MAX], medic[PATH_MAX + 16];
    if (md_helper_path("medic-chaos", harness, sizeof harness) < 0) {
        fprintf(stderr, "medic chaos: the chaos harness %s is missing (it is built and installed with medic: "
                        "`make`, or `cmake --install`)\n", harness);
        return 1;
    }
    if (md_proc_self_dir(self, sizeof self) < 0)
        return 1;
    snprintf(medic, sizeof medic, "%s/medic", self);
    char *args[64];
    int k = 0;
    args[k++] = harness;
    args[k++] = "--medic";
    args[k++] = medic;
    /* The helpers sit beside the harness wherever it is found. */
    for (int i = 1; i < argc && k < 63; i++)
        args[k++] = argv[i];
    args[k] = NULL;
    fflush(stdout);
    execv(harness, args);
    fprintf(stderr, "medic chaos: could not run %s: %s\n", harness, strerror(errno));
    return 1;
}
