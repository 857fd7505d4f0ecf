/* it_sock.h: raw-socket helpers for the proxy tests (it_failover_limits, it_failover_resolve):
 * listeners the test owns (backends that read or not, a port that never answers SYN), tagged
 * accepts, small identity servers, and a node's resident memory. Loopback only. */
#ifndef MD_IT_SOCK_H
#define MD_IT_SOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* it_listen binds ip:port (port 0: any) with the given backlog; rcvbuf > 0 sets SO_RCVBUF first
 * (accepted sockets inherit it). Returns the fd (its port in *port_out) or -1. */
int it_listen(const char *ip, int port, int backlog, int rcvbuf, int *port_out);

/* it_connect connects to ip:port (blocking, 2 s timeouts); sndbuf/rcvbuf > 0 set before connect.
 * Returns the fd or -1. */
int it_connect(const char *ip, int port, int sndbuf, int rcvbuf);

/* it_blackhole makes a listener on 127.0.0.1 whose accept queue is full and never drained: SYNs
 * to it are dropped, so a connect neither succeeds nor is refused. Returns its fd (port in
 * *port); the connections filling it go to fill[] (*n_fill of them, at most cap). */
int it_blackhole(int *port, int *fill, int cap, int *n_fill);

/* it_accept_tagged accepts connections on l until one sends tag first (others, like probes that
 * connect and close, are closed). Returns the fd or -1 after timeout_ms. */
int it_accept_tagged(int l, const char *tag, int timeout_ms);

/* it_ident_start forks a server that answers every connection on listener l with id and closes
 * it; the parent's copy of l is closed (so stopping the child frees the port). Returns the pid
 * or -1. it_ident_stop kills and reaps it. */
pid_t it_ident_start(int l, const char *id);
/* it_closer_start forks a server that accepts on l, says nothing and closes each connection
 * delay_ms after accepting it (a server's own timeout for an idle connection); as it_ident_start. */
pid_t it_closer_start(int l, int delay_ms);
void it_ident_stop(pid_t pid);

/* it_read_all reads what fd sends until EOF (up to cap - 1 bytes, NUL-terminated), within
 * timeout_ms. Returns the byte count, or -1 on an error or timeout. */
int it_read_all(int fd, char *buf, size_t cap, int timeout_ms);

/* it_rss_kib returns pid's VmRSS in KiB, or -1. */
long it_rss_kib(pid_t pid);

#endif
