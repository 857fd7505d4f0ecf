/* fuzz_config.c: libFuzzer target for the config loader: arbitrary bytes into md_config_parse.
 * Besides crashes and leaks it checks two properties of every accepted config: rendering never
 * fails, and (when nothing came from ${VAR}) the unmasked rendering parses back to itself. An
 * error must leave *out untouched and explain itself. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[MD_CONFIG_ERR_LEN];
    md_config *cfg = NULL;
    if (md_config_parse((const char *)data, size, "fuzz", &cfg, err, sizeof err) != 0) {
        if (cfg != NULL || err[0] == '\0')
            abort(); /* an error must leave *out untouched and say why */
        return 0;
    }
    char *masked = md_config_to_json(cfg, true);
    char *raw = md_config_to_json(cfg, false);
    if (!masked || !raw)
        abort();
    char out[64];
    md_config_mask(cfg, raw, out, sizeof out);
    /* Substitution can leave a "${" behind ("$${EMPTY}{X}" with EMPTY set to ""), and secrets are
     * rendered as they are, so only configs free of both must round-trip exactly. */
    if (cfg->n_secrets == 0 && !strstr(raw, "${")) {
        md_config *again = NULL;
        if (md_config_parse(raw, strlen(raw), "fuzz-rt", &again, err, sizeof err) != 0) {
            fprintf(stderr, "rendered config does not parse back: %s\n%s\n", err, raw);
            abort();
        }
        char *raw2 = md_config_to_json(again, false);
        if (!raw2 || strcmp(raw, raw2) != 0) {
            fprintf(stderr, "round trip changed the config:\n%s\n---\n%s\n", raw, raw2 ? raw2 : "(null)");
            abort();
        }
        free(raw2);
        md_config_free(again);
    }
    free(masked);
    free(raw);
    md_config_free(cfg);
    return 0;
}
