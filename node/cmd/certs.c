/* certs.c: the certificate authority behind `medic gen-certs`, with mbedtls (the library nng's TLS
 * uses, so what it writes is what the transport can read): ECDSA P-256 keys, SHA-256 signatures. */
#include "certs_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/asn1write.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

struct md_certs {
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context rng;
    mbedtls_pk_context ca_key;
    char ca_name[256]; /* the CA's subject, the issuer of everything it signs */
    bool have_ca;
};

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return rc;
}

int md__certs_new(md_certs **out, char *err, size_t errlen)
{
    md_certs *c = calloc(1, sizeof *c);
    if (c == NULL)
        return fail(err, errlen, -ENOMEM, "out of memory");
    mbedtls_entropy_init(&c->entropy);
    mbedtls_ctr_drbg_init(&c->rng);
    mbedtls_pk_init(&c->ca_key);
    static const char pers[] = "medic gen-certs";
    if (mbedtls_ctr_drbg_seed(&c->rng, mbedtls_entropy_func, &c->entropy, (const unsigned char *)pers,
                              sizeof pers - 1) != 0) {
        md__certs_free(c);
        return fail(err, errlen, -EIO, "cannot seed the random generator");
    }
    *out = c;
    return 0;
}

void md__certs_free(md_certs *c)
{
    if (c == NULL)
        return;
    mbedtls_pk_free(&c->ca_key);
    mbedtls_ctr_drbg_free(&c->rng);
    mbedtls_entropy_free(&c->entropy);
    free(c);
}

static int new_key(md_certs *c, mbedtls_pk_context *key)
{
    if (mbedtls_pk_setup(key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) != 0)
        return -ENOMEM;
    if (mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(*key), mbedtls_ctr_drbg_random, &c->rng) != 0)
        return -EIO;
    return 0;
}

/* validity writes "YYYYMMDDhhmmss" (UTC) for now + offset_s. */
static void validity(char out[16], long long offset_s)
{
    time_t t = time(NULL) + (time_t)offset_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 16, "%Y%m%d%H%M%S", &tm);
}

/* A random positive 128-bit serial: unique without keeping a serial file. */
static int set_serial(md_certs *c, mbedtls_x509write_cert *w)
{
    unsigned char b[16];
    if (mbedtls_ctr_drbg_random(&c->rng, b, sizeof b) != 0)
        return -EIO;
    b[0] = (unsigned char)((b[0] & 0x7f) | 0x01);
    mbedtls_mpi serial;
    mbedtls_mpi_init(&serial);
    int rc = mbedtls_mpi_read_binary(&serial, b, sizeof b) == 0 && mbedtls_x509write_crt_set_serial(w, &serial) == 0
                 ? 0 : -EIO;
    mbedtls_mpi_free(&serial);
    return rc;
}

/* begin sets what every certificate shares: version 3, serial, validity, subject and issuer, the
 * keys, SHA-256, and both key identifiers. The not-before is an hour back, for clock skew. */
static int begin(md_certs *c, mbedtls_x509write_cert *w, const char *subject, mbedtls_pk_context *key, int days)
{
    char from[16], to[16];
    validity(from, -3600);
    validity(to, (long long)days * 86400);
    mbedtls_x509write_crt_set_version(w, MBEDTLS_X509_CRT_VERSION_3);
    mbedtls_x509write_crt_set_md_alg(w, MBEDTLS_MD_SHA256);
    mbedtls_x509write_crt_set_subject_key(w, key);
    mbedtls_x509write_crt_set_issuer_key(w, &c->ca_key);
    if (set_serial(c, w) != 0 || mbedtls_x509write_crt_set_validity(w, from, to) != 0 ||
        mbedtls_x509write_crt_set_subject_name(w, subject) != 0 ||
        mbedtls_x509write_crt_set_issuer_name(w, c->ca_name) != 0 ||
        mbedtls_x509write_crt_set_subject_key_identifier(w) != 0 ||
        mbedtls_x509write_crt_set_authority_key_identifier(w) != 0)
        return -EINVAL;
    return 0;
}

static int finish(md_certs *c, mbedtls_x509write_cert *w, mbedtls_pk_context *key, char *cert_pem, char *key_pem)
{
    if (mbedtls_x509write_crt_pem(w, (unsigned char *)cert_pem, MD_CERTS_PEM_MAX, mbedtls_ctr_drbg_random,
                                  &c->rng) != 0)
        return -EIO;
    if (mbedtls_pk_write_key_pem(key, (unsigned char *)key_pem, MD_CERTS_PEM_MAX) != 0)
        return -EIO;
    return 0;
}

/* A name for a distinguished name: the characters ',', '=', '+', '"', '\\' would need escaping, and
 * ids and host names never contain them, so they are refused instead. */
static bool dn_safe(const char *s)
{
    return *s != '\0' && strpbrk(s, ",=+\"\\<>;#") == NULL && strlen(s) <= 64;
}

int md__certs_make_ca(md_certs *c, const char *cn, int days, char *cert_pem, char *key_pem, char *err,
                      size_t errlen)
{
    if (!dn_safe(cn))
        return fail(err, errlen, -EINVAL, "CA name '%s': 1-64 characters, none of , = + \" \\ < > ; #", cn);
    mbedtls_pk_free(&c->ca_key);
    mbedtls_pk_init(&c->ca_key);
    c->have_ca = false;
    if (new_key(c, &c->ca_key) != 0)
        return fail(err, errlen, -EIO, "cannot make the CA key");
    snprintf(c->ca_name, sizeof c->ca_name, "CN=%s,O=medic", cn);
    mbedtls_x509write_cert w;
    mbedtls_x509write_crt_init(&w);
    int rc = begin(c, &w, c->ca_name, &c->ca_key, days);
    if (rc == 0 && (mbedtls_x509write_crt_set_basic_constraints(&w, 1, 0) != 0 ||
                    mbedtls_x509write_crt_set_key_usage(&w, MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN) != 0))
        rc = -EINVAL;
    if (rc == 0)
        rc = finish(c, &w, &c->ca_key, cert_pem, key_pem);
    mbedtls_x509write_crt_free(&w);
    if (rc != 0)
        return fail(err, errlen, rc, "cannot write the CA certificate");
    c->have_ca = true;
    return 0;
}

int md__certs_load_ca(md_certs *c, const char *cert_path, const char *key_path, char *err, size_t errlen)
{
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    mbedtls_pk_free(&c->ca_key);
    mbedtls_pk_init(&c->ca_key);
    c->have_ca = false;
    int rc = 0;
    if (mbedtls_x509_crt_parse_file(&crt, cert_path) != 0)
        rc = fail(err, errlen, -EINVAL, "%s: not a readable PEM certificate", cert_path);
    else if (!crt.ca_istrue)
        rc = fail(err, errlen, -EINVAL, "%s: not a CA certificate", cert_path);
    else if (mbedtls_pk_parse_keyfile(&c->ca_key, key_path, NULL) != 0)
        rc = fail(err, errlen, -EINVAL, "%s: not a readable unencrypted PEM key", key_path);
    else if (mbedtls_pk_check_pair(&crt.pk, &c->ca_key) != 0)
        rc = fail(err, errlen, -EINVAL, "%s does not belong to %s", key_path, cert_path);
    else if (mbedtls_x509_dn_gets(c->ca_name, sizeof c->ca_name, &crt.subject) < 0)
        rc = fail(err, errlen, -EINVAL, "%s: subject name too long", cert_path);
    mbedtls_x509_crt_free(&crt);
    c->have_ca = rc == 0;
    return rc;
}

/* put_san_entry prepends one GeneralName ([tag] value, implicit) before *p. */
static int put_san_entry(unsigned char **p, unsigned char *start, int tag, const void *v, size_t len, size_t *total)
{
    int a = mbedtls_asn1_write_raw_buffer(p, start, v, len);
    int b = a < 0 ? a : mbedtls_asn1_write_len(p, start, len);
    int t = b < 0 ? b : mbedtls_asn1_write_tag(p, start, (unsigned char)(MBEDTLS_ASN1_CONTEXT_SPECIFIC | tag));
    if (t < 0)
        return -ENOSPC;
    *total += (size_t)(a + b + t);
    return 0;
}

/* set_san writes subjectAltName: GeneralNames ::= SEQUENCE OF GeneralName, dNSName [2], iPAddress [7].
 * mbedtls's writers fill the buffer from its end backwards. */
static int set_san(mbedtls_x509write_cert *w, const char *const *names, size_t n)
{
    unsigned char buf[4096];
    unsigned char *p = buf + sizeof buf;
    size_t total = 0;
    for (size_t i = n; i-- > 0;) {
        unsigned char ip[16];
        size_t iplen = inet_pton(AF_INET, names[i], ip) == 1 ? 4 : inet_pton(AF_INET6, names[i], ip) == 1 ? 16 : 0;
        if (put_san_entry(&p, buf, 2, names[i], strlen(names[i]), &total) != 0)
            return -ENOSPC;
        if (iplen > 0 && put_san_entry(&p, buf, 7, ip, iplen, &total) != 0)
            return -ENOSPC;
    }
    int l = mbedtls_asn1_write_len(&p, buf, total);
    int t = l < 0 ? l : mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE);
    if (t < 0)
        return -ENOSPC;
    total += (size_t)(l + t);
    return mbedtls_x509write_crt_set_extension(w, MBEDTLS_OID_SUBJECT_ALT_NAME,
                                               MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0, p, total) == 0
               ? 0 : -EINVAL;
}

/* set_eku writes extendedKeyUsage: serverAuth and clientAuth (mbedtls 2.28 has no setter for it). */
static int set_eku(mbedtls_x509write_cert *w)
{
    unsigned char buf[64];
    unsigned char *p = buf + sizeof buf;
    int a = mbedtls_asn1_write_oid(&p, buf, MBEDTLS_OID_CLIENT_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH));
    int b = mbedtls_asn1_write_oid(&p, buf, MBEDTLS_OID_SERVER_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH));
    if (a < 0 || b < 0)
        return -ENOSPC;
    size_t total = (size_t)(a + b);
    int l = mbedtls_asn1_write_len(&p, buf, total);
    int t = l < 0 ? l : mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE);
    if (t < 0)
        return -ENOSPC;
    total += (size_t)(l + t);
    return mbedtls_x509write_crt_set_extension(w, MBEDTLS_OID_EXTENDED_KEY_USAGE,
                                               MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE), 0, p, total) == 0
               ? 0 : -EINVAL;
}

int md__certs_issue(md_certs *c, const char *cn, const char *const *names, size_t n_names, int days,
                    char *cert_pem, char *key_pem, char *err, size_t errlen)
{
    if (!c->have_ca)
        return fail(err, errlen, -EINVAL, "no CA to sign with");
    if (!dn_safe(cn))
        return fail(err, errlen, -EINVAL, "node id '%s': 1-64 characters, none of , = + \" \\ < > ; #", cn);
    if (n_names == 0 || n_names > MD_CERTS_MAX_NAMES)
        return fail(err, errlen, -EINVAL, "node %s: give 1 to %d host names or addresses", cn, MD_CERTS_MAX_NAMES);
    char subject[128];
    snprintf(subject, sizeof subject, "CN=%s,O=medic", cn);
    mbedtls_pk_context key;
    mbedtls_pk_init(&key);
    mbedtls_x509write_cert w;
    mbedtls_x509write_crt_init(&w);
    int rc = new_key(c, &key);
    if (rc == 0)
        rc = begin(c, &w, subject, &key, days);
    if (rc == 0 && (mbedtls_x509write_crt_set_basic_constraints(&w, 0, -1) != 0 ||
                    mbedtls_x509write_crt_set_key_usage(&w, MBEDTLS_X509_KU_DIGITAL_SIGNATURE) != 0))
        rc = -EINVAL;
    if (rc == 0)
        rc = set_eku(&w);
    if (rc == 0)
        rc = set_san(&w, names, n_names);
    if (rc == 0)
        rc = finish(c, &w, &key, cert_pem, key_pem);
    mbedtls_x509write_crt_free(&w);
    mbedtls_pk_free(&key);
    if (rc != 0)
        return fail(err, errlen, rc, "node %s: cannot make its certificate (names too long?)", cn);
    return 0;
}
