/* fuzz_raft_codec.c: libFuzzer target for the Raft message decoder (raft_msg_decode), whose
 * bytes come from peers over the network, and for the core's handling of whatever decodes:
 * a decoded message is stepped into a fresh core (of 7 nodes, addressed to the message's
 * receiver), in each of the roles a node can be in, where it must be accepted or refused with
 * an error but never trip an assert. A snapshot chunk is also stepped again (a duplicate) and
 * followed by the chunk that would continue it, so the follower's assembly and install run on
 * whatever the fuzzer makes of offsets and lengths. The input is an exact-size heap copy, so ASan sees any read
 * past the end. It also checks the codec's contract: the result is 0, -EBADMSG, -EPROTONOSUPPORT
 * (another version) or -ENOMEM, and
 * anything that decodes re-encodes to exactly the same bytes. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../consensus/raft.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static raft *core(raft_id id, int role)
{
    static const raft_entry log[3] = {{.term = 1, .index = 1}, {.term = 2, .index = 2}, {.term = 2, .index = 3}};
    raft_config c = {.id = id, .n_nodes = 7, .heartbeat_ms = 10, .election_timeout_ms = 100, .lease_drift_ms = 5,
                     .seed = 1, .now_ms = 0, .hard_state = {.term = 2, .commit = 1}, .entries = log, .n_entries = 3};
    raft *r = NULL;
    if (raft_new(&c, &r, NULL, 0) != 0) {
        abort();
    }
    if (role >= 1) {
        raft_tick(r, 1000); /* pre-candidate */
    }
    if (role >= 2) { /* four pre-vote grants, then four votes: leader of term 3 */
        for (int type = RAFT_MSG_PRE_VOTE_RESP; type <= RAFT_MSG_VOTE_RESP; type += 2) {
            for (raft_id p = 1; p <= 7; p++) {
                raft_message g = {.type = (uint8_t)type, .from = p, .to = id, .term = 3};
                if (p != id) {
                    raft_step(r, &g, 1000);
                }
            }
        }
        if (raft_get_role(r) != RAFT_LEADER) {
            abort();
        }
    }
    return r;
}

/* Steps m again, then the next chunk of the same snapshot (up to 7 bytes of filler). */
static void step_more_chunks(raft *r, const raft_message *m)
{
    static uint8_t filler[7] = "chunk!";
    if (raft_step(r, m, 1000 + m->sent_ms % 1000) == 0 && m->snap_offset + m->snap_len < m->snap_total) {
        raft_message next = *m;
        next.snap_offset = m->snap_offset + m->snap_len;
        next.snap_len = m->snap_total - next.snap_offset < sizeof filler ? m->snap_total - next.snap_offset
                                                                          : (uint32_t)sizeof filler;
        next.snap_data = filler;
        int rc = raft_step(r, &next, 1000 + m->sent_ms % 1000);
        if (rc != 0 && rc != -EINVAL && rc != -EPROTO && rc != -ENOMEM) {
            abort();
        }
    }
}

static void drain(raft *r)
{
    while (raft_has_ready(r)) {
        raft_update u;
        if (raft_ready(r, &u) != 0) {
            return;
        }
        raft_advance(r, &u);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size ? size : 1);
    if (buf == NULL) {
        return 0;
    }
    memcpy(buf, data, size);
    raft_message m;
    int rc = raft_msg_decode(buf, size, &m);
    if (rc != 0 && rc != -EBADMSG && rc != -EPROTONOSUPPORT && rc != -ENOMEM) {
        abort();
    }
    if (rc == 0) {
        size_t n = raft_msg_encoded_len(&m);
        uint8_t *again = malloc(n ? n : 1);
        if (n != size || again == NULL || raft_msg_encode(&m, again, n) != (int)n || memcmp(again, buf, n) != 0) {
            abort();
        }
        free(again);
        for (int role = 0; role < 3; role++) {
            raft *r = core(m.to, role);
            drain(r);
            rc = raft_step(r, &m, 1000 + m.sent_ms % 1000);
            if (rc != 0 && rc != -EINVAL && rc != -EPROTO && rc != -ENOMEM) {
                abort();
            }
            drain(r);
            if (m.type == RAFT_MSG_SNAPSHOT) {
                step_more_chunks(r, &m);
                drain(r);
            }
            raft_tick(r, 5000);
            drain(r);
            raft_free(r);
        }
        raft_msg_release(&m);
    }
    free(buf);
    return 0;
}
