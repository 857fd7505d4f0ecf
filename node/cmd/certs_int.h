/* certs_int.h: private to node/cmd: a small certificate authority for `medic gen-certs` (mbedtls):
 * ECDSA P-256 keys, a CA certificate, and node certificates it signs for mutual TLS. */
#ifndef MD_CERTS_INT_H
#define MD_CERTS_INT_H

#include <stddef.h>

#define MD_CERTS_MAX_NAMES 16
#define MD_CERTS_PEM_MAX 8192

typedef struct md_certs md_certs;

/* md__certs_new allocates a CA holder with a seeded random generator (no CA yet). Returns 0 or a
 * negative errno with the reason in err. */
int md__certs_new(md_certs **out, char *err, size_t errlen);
void md__certs_free(md_certs *c);

/* md__certs_make_ca makes a fresh CA key and a self-signed CA certificate named cn, valid for days.
 * cert_pem and key_pem (MD_CERTS_PEM_MAX bytes each) receive the PEM texts. Returns 0 or -errno. */
int md__certs_make_ca(md_certs *c, const char *cn, int days, char *cert_pem, char *key_pem, char *err,
                      size_t errlen);

/* md__certs_load_ca loads an existing CA (its certificate and key, PEM files) to sign with. Returns 0,
 * or -errno with the reason (unreadable, not a CA, key does not match) in err. */
int md__certs_load_ca(md_certs *c, const char *cert_path, const char *key_path, char *err, size_t errlen);

/* md__certs_issue makes a node key and a certificate for it signed by the CA: subject CN=cn,
 * subjectAltName every name (host names as dNSName; IP addresses as iPAddress and also as dNSName,
 * because Debian 12's mbedtls 2.28, which nng uses, matches only dNSName entries against the host a
 * node dials), key usage digitalSignature, extended key usage serverAuth and clientAuth (every node
 * is both server and client). Returns 0 or -errno. */
int md__certs_issue(md_certs *c, const char *cn, const char *const *names, size_t n_names, int days,
                    char *cert_pem, char *key_pem, char *err, size_t errlen);

#endif
