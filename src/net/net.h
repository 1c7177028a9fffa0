/*
 * net.h — listening sockets and the accept-time listener ACL (DESIGN §1, network-ACL semantics).
 */
#ifndef SK_NET_H
#define SK_NET_H

#include <stdbool.h>
#include <sys/socket.h>

#include "config/config.h"

/* Opens a non-blocking SO_REUSEPORT listening socket on addr. Returns the fd, or -1 with err filled. */
int sk_listen_open(const struct sk_addr *addr, struct sk_err *err);

/* Binds a throwaway socket to addr without SO_REUSEPORT: fails (-1, err filled) when another socket
 * listens there, where sk_listen_open would silently join that process's group and share its traffic.
 * Call it before the first sk_listen_open of an address this process does not hold yet. A process that
 * binds in the short gap between the probe and the real bind is not caught. */
int sk_listen_probe(const struct sk_addr *addr, struct sk_err *err);

/* Sets what an accepted socket inherits for its first ACKs. `answers` (HTTP listeners, whose every
 * request gets a response): TCP_QUICKACK off, so the kernel does not ACK the request on its own and the
 * response carries the ACK (HAProxy's tcp-smart-accept); tcp listeners keep quick ACKs. Called at every
 * attach: a reload may change the mode of a listener on the same socket. */
void sk_listen_set_answers(int fd, bool answers);

/* Network-ACL evaluation: rules are sorted by number; the lowest matching rule decides; when a listener
 * has rules and none match, the connection is denied. No rules: allowed. */
bool sk_acl_allows(const struct sk_listener *l, const struct sockaddr *peer);

#endif
