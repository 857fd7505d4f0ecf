/* it_gen_certs.c: `medic gen-certs` makes a CA and node certificates that openssl accepts for both
 * server and client use, with private keys only the owner can read, refuses to replace a key
 * without --force, and three real nodes form a cluster over tls+tcp:// with them (a leader, every
 * peer alive); a node whose certificate lacks the name it is dialled by hears from nobody. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

typedef struct {
    char dir[64];
    it_trio t;
} fixture;

static int sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int setup(void **state)
{
    if (sh("command -v openssl >/dev/null 2>&1") != 0)
        it_skip("no openssl CLI to verify the certificates (scripts/bootstrap installs it)");
    fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/medic-certs-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    assert_int_equal(it_trio_init(&fx->t, false), 0);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    it_trio_stop(&fx->t);
    it_rmtree(fx->dir);
    free(fx);
    return 0;
}

static mode_t mode_of(const char *dir, const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_mode & 07777;
}

/* start_node runs node i over tls+tcp:// with the certificate files of cert_id in dir. */
static void start_node(fixture *fx, int i, const char *dir, const char *cert_id)
{
    char peers[1024] = "", cfg[4096];
    for (int j = 0, at = 0; j < IT_TRIO; j++)
        at += snprintf(peers + at, sizeof peers - (size_t)at, "%s{\"id\":\"%s\",\"address\":\"tls+tcp://%s:%d\"}",
                       j ? "," : "", it_trio_ids[j], j == 2 ? "localhost" : "127.0.0.1", fx->t.cluster_port[j]);
    snprintf(cfg, sizeof cfg,
             "{\"node\":{\"id\":\"%s\",\"data_dir\":\"@DIR@/data\"},\"api\":{\"listen\":\"127.0.0.1:@API@\"},"
             "\"status_print_interval_ms\":0,"
             "\"cluster\":{\"name\":\"itc\",\"secret\":\"it-gen-certs-secret-0123\",\"peers\":[%s],"
             "\"gossip_interval_ms\":100,\"heartbeat_ms\":50,\"election_timeout_ms\":500,"
             "\"tls\":{\"cert_file\":\"%s/%s.pem\",\"key_file\":\"%s/%s.key\",\"ca_file\":\"%s/ca.pem\"}},"
             "\"services\":[{\"name\":\"self\",\"tcp\":\"127.0.0.1:%d\",\"interval_ms\":1000,\"timeout_ms\":500}]}",
             it_trio_ids[i], peers, dir, cert_id, dir, cert_id, dir, fx->t.cluster_port[i]);
    assert_int_equal(it_node_start(&fx->t.node[i], cfg, NULL), 0);
    fx->t.running[i] = true;
}

/* alive_peers counts the peers node i sees alive. */
static int alive_peers(fixture *fx, int i)
{
    cJSON *doc = it_get_json(fx->t.node[i].api_port, "/v1/cluster", NULL);
    const cJSON *n, *nodes = cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "cluster"), "nodes");
    int alive = 0;
    cJSON_ArrayForEach(n, nodes)
    {
        const cJSON *l = cJSON_GetObjectItem(n, "liveness");
        alive += cJSON_IsString(l) && strcmp(l->valuestring, "alive") == 0;
    }
    cJSON_Delete(doc);
    return alive;
}

static bool all_alive(fixture *fx, int timeout_ms)
{
    for (int64_t deadline = it_wall_ms() + timeout_ms; it_wall_ms() < deadline; it_sleep_ms(50)) {
        bool all = true;
        for (int i = 0; i < IT_TRIO && all; i++)
            all = alive_peers(fx, i) == IT_TRIO - 1;
        if (all)
            return true;
    }
    return false;
}

static void test_certificates_verify_and_keys_are_private(void **state)
{
    fixture *fx = *state;
    assert_int_equal(sh("%s gen-certs --out %s n1=127.0.0.1 n2=127.0.0.1,n2.example.org n3=localhost >/dev/null",
                        MEDIC_BIN, fx->dir), 0);
    assert_int_equal(mode_of(fx->dir, "ca.key"), 0600);
    const char *ids[] = { "n1", "n2", "n3" };
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof name, "%s.key", ids[i]);
        assert_int_equal(mode_of(fx->dir, name), 0600);
        /* signed by the CA, and fit for both ends of a TLS connection (mutual TLS) */
        assert_int_equal(sh("cd %s && openssl verify -CAfile ca.pem -purpose sslserver %s.pem >/dev/null", fx->dir,
                            ids[i]), 0);
        assert_int_equal(sh("cd %s && openssl verify -CAfile ca.pem -purpose sslclient %s.pem >/dev/null", fx->dir,
                            ids[i]), 0);
        assert_int_equal(sh("cd %s && openssl pkey -in %s.key -noout", fx->dir, ids[i]), 0);
    }
    /* the names given, as DNS and IP subject alternative names */
    assert_int_equal(sh("cd %s && openssl x509 -in n2.pem -noout -ext subjectAltName | grep -q 'IP Address:127.0.0.1' "
                        "&& openssl x509 -in n2.pem -noout -ext subjectAltName | grep -q 'DNS:n2.example.org' && "
                        "openssl verify -CAfile ca.pem -verify_ip 127.0.0.1 n2.pem >/dev/null && "
                        "openssl verify -CAfile ca.pem -verify_hostname localhost n3.pem >/dev/null",
                        fx->dir), 0);
    /* a certificate from another CA does not verify against this one */
    assert_int_equal(sh("%s gen-certs --out %s/other n1=127.0.0.1 >/dev/null", MEDIC_BIN, fx->dir), 0);
    assert_int_not_equal(sh("cd %s && openssl verify -CAfile ca.pem other/n1.pem >/dev/null 2>&1", fx->dir), 0);

    /* an existing key is not replaced without --force; the CA is reused for a new node */
    assert_int_equal(sh("cp %s/n1.key %s/n1.key.before", fx->dir, fx->dir), 0);
    assert_int_equal(sh("%s gen-certs --out %s n1=127.0.0.1 >/dev/null 2>&1", MEDIC_BIN, fx->dir), 1);
    assert_int_equal(sh("cmp -s %s/n1.key %s/n1.key.before", fx->dir, fx->dir), 0);
    assert_int_equal(sh("%s gen-certs --out %s --force n1=127.0.0.1 n4=127.0.0.1 >/dev/null", MEDIC_BIN, fx->dir), 0);
    assert_int_not_equal(sh("cmp -s %s/n1.key %s/n1.key.before", fx->dir, fx->dir), 0);
    assert_int_equal(sh("cd %s && openssl verify -CAfile ca.pem n1.pem n4.pem >/dev/null", fx->dir), 0);

    /* bad arguments exit 2 */
    assert_int_equal(sh("%s gen-certs --out %s n5 >/dev/null 2>&1", MEDIC_BIN, fx->dir), 2);
    assert_int_equal(sh("%s gen-certs --out %s 'n5=bad name' >/dev/null 2>&1", MEDIC_BIN, fx->dir), 2);
    assert_int_equal(sh("%s gen-certs n5=127.0.0.1 >/dev/null 2>&1", MEDIC_BIN), 2);
}

static void test_three_nodes_over_mutual_tls(void **state)
{
    fixture *fx = *state;
    /* n3 is dialled as localhost, the others by address */
    assert_int_equal(sh("%s gen-certs --out %s n1=127.0.0.1 n2=127.0.0.1 n3=localhost >/dev/null", MEDIC_BIN, fx->dir),
                     0);
    for (int i = 0; i < IT_TRIO; i++)
        start_node(fx, i, fx->dir, it_trio_ids[i]);
    assert_true(it_wait_leader(&fx->t.node[0], 15000));
    assert_true(all_alive(fx, 10000));
    char *log = it_node_log(&fx->t.node[0]);
    assert_null(strstr(log, "level=error"));
    free(log);
}

static void test_wrong_name_is_refused(void **state)
{
    fixture *fx = *state;
    /* n3's certificate names another host than the one its peers dial (localhost): they refuse
     * it, so n1 and n2 see each other and never n3. */
    assert_int_equal(sh("%s gen-certs --out %s n1=127.0.0.1 n2=127.0.0.1 n3=elsewhere.example.org >/dev/null",
                        MEDIC_BIN, fx->dir), 0);
    for (int i = 0; i < IT_TRIO; i++)
        start_node(fx, i, fx->dir, it_trio_ids[i]);
    /* (no leader: a new cluster elects its first one only once every node is up, docs/cluster.md)
     * n1 and n2 talk both ways; n3 can dial them (they check only that its certificate is the CA's),
     * but their dials to n3 fail the name check, so n3 never hears anyone. */
    int64_t deadline = it_wall_ms() + 10000;
    while (it_wall_ms() < deadline && (alive_peers(fx, 0) < 1 || alive_peers(fx, 1) < 1))
        it_sleep_ms(50);
    assert_true(alive_peers(fx, 0) >= 1 && alive_peers(fx, 1) >= 1);
    for (int64_t until = it_wall_ms() + 3000; it_wall_ms() < until; it_sleep_ms(100))
        assert_int_equal(alive_peers(fx, 2), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_certificates_verify_and_keys_are_private, setup, teardown),
        cmocka_unit_test_setup_teardown(test_three_nodes_over_mutual_tls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_name_is_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
