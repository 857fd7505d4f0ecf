/* fuzz_obs_codec.c: libFuzzer target for the gossip values peers send (observations and node
 * facts). Besides crashes, it checks that whatever decodes re-encodes to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "health/health.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1); /* exact size: ASan sees any read past the end */
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    md_obs o;
    if (md_obs_decode(copy, size, &o) == 0) {
        uint8_t again[MD_OBS_ENCODED_MAX];
        size_t n = md_obs_encode(&o, again);
        if (n != size || memcmp(again, copy, n) != 0)
            abort();
    }
    md_node_info info;
    if (md_node_info_decode(copy, size, &info) == 0) {
        uint8_t again[MD_NODE_INFO_ENCODED_MAX];
        size_t n = md_node_info_encode(&info, again);
        if (n != size || memcmp(again, copy, n) != 0)
            abort();
    }
    free(copy);
    return 0;
}
