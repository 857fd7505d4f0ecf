#!/usr/bin/env python3
"""probe_https_perf.py: where a medic node's CPU goes on HTTPS checks, from `perf script` text.

Reads the samples (with dwarf call chains) of `perf record -g --call-graph dwarf -p <node>` and puts
each sample in one bucket by the OpenSSL or libcurl entry point found in its chain, first match in
the order below (Debian's libssl/libcrypto export only their API, so internal frames are bare
addresses and the exported caller names the work). Prints a Markdown table of shares.
usage: perf script -i perf.data | bench/probe_https_perf.py
"""
import collections
import re
import sys

BUCKETS = [
    ("X.509 chain verification (full handshakes)", ("X509_verify_cert",)),
    ("(EC)DHE key generation (X25519 key share)", ("EVP_PKEY_generate", "EVP_PKEY_keygen")),
    ("(EC)DHE shared secret", ("EVP_PKEY_derive",)),
    ("SSL_CTX_new and curl's context set-up", ("SSL_CTX_new_ex", "SSL_CTX_new")),
    ("SSL_CTX_free", ("SSL_CTX_free",)),
    ("SSL_new / SSL_free", ("SSL_new", "SSL_free")),
    ("record layer: SSL_read / SSL_write (HTTP request, answer, tickets)",
     ("SSL_read", "SSL_read_ex", "SSL_write", "SSL_write_ex", "SSL_peek")),
    ("SSL_shutdown (close_notify)", ("SSL_shutdown",)),
]


def bucket(frames):
    names = {f[0] for f in frames}
    for label, entry in BUCKETS:
        if names.intersection(entry):
            return label
    dsos = [f[1] for f in frames]
    if any(d.startswith("libssl") for d in dsos):
        return "rest of the handshake in libssl (state machine, HKDF, transcript, its socket I/O)"
    if any(d.startswith("libcrypto") for d in dsos):
        return "other libcrypto"
    if frames and frames[0][1].startswith("[kernel"):
        return "kernel outside TLS (connect, HTTP bytes, close, epoll)"
    return "rest: curl, libuv, medic, libc"


def main():
    counts = collections.Counter()
    frames = []
    total = 0

    def flush():
        nonlocal total
        if frames:
            total += 1
            counts[bucket(frames)] += 1
        frames.clear()

    for line in sys.stdin:
        if not line.strip() or line[0] not in " \t":
            flush()
            continue
        m = re.match(r"\s+[0-9a-f]+\s+(\S+)\s+\((.*)\)", line)
        if m:
            frames.append((re.sub(r"\+0x[0-9a-f]+$", "", m.group(1)), m.group(2).split("/")[-1]))
    flush()
    print("| where | share of samples |")
    print("|---|---|")
    for label, n in counts.most_common():
        print(f"| {label} | {100 * n / max(total, 1):.1f}% |")
    print(f"| (samples) | {total} |")


if __name__ == "__main__":
    main()
