/*
 * listener.c — listening sockets (one per worker per listener, SO_REUSEPORT so the kernel spreads
 * connections), the probe that keeps a second process out of that group, and the accept-time ACL check.
 */
#include "net/net.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <unistd.h>

#include "net/ipset.h"

int sk_listen_open(const struct sk_addr *addr, struct sk_err *err)
{
	int fd = socket(addr->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		sk_err_set(err, NULL, 0, 0, "socket for %s: %s", addr->text, strerror(errno));
		return -1;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == -1) {
		sk_err_set(err, NULL, 0, 0, "setsockopt for %s: %s", addr->text, strerror(errno));
		close(fd);
		return -1;
	}
	if (bind(fd, (const struct sockaddr *)&addr->ss, addr->len) == -1) {
		sk_err_set(err, NULL, 0, 0, "bind %s: %s", addr->text, strerror(errno));
		close(fd);
		return -1;
	}
	if (listen(fd, 4096) == -1) {
		sk_err_set(err, NULL, 0, 0, "listen %s: %s", addr->text, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

void sk_listen_set_answers(int fd, bool answers)
{
	/* Linux keeps this on the listening socket (delayed-ACK "pingpong" mode) and copies it to every
	 * connection it accepts. A request's ACK is then held until the response leaves (one segment less
	 * per connection) or the delayed-ACK timer fires (40 ms at most) if the response is slow. */
	int quick = answers ? 0 : 1;
	setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &quick, sizeof(quick));
}

int sk_listen_probe(const struct sk_addr *addr, struct sk_err *err)
{
	int fd = socket(addr->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		sk_err_set(err, NULL, 0, 0, "socket for %s: %s", addr->text, strerror(errno));
		return -1;
	}
	/* SO_REUSEADDR only: it lets the bind through TIME_WAIT leftovers of a previous run, but not past a
	 * socket that listens on the address. Without SO_REUSEPORT, a listening group fails the bind too. */
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	int rc = 0;
	if (bind(fd, (const struct sockaddr *)&addr->ss, addr->len) == -1) {
		if (errno == EADDRINUSE)
			sk_err_set(err, NULL, 0, 0, "%s is already in use by another process (is another sekisho "
				   "running?)", addr->text);
		else
			sk_err_set(err, NULL, 0, 0, "bind %s: %s", addr->text, strerror(errno));
		rc = -1;
	}
	close(fd);
	return rc;
}

bool sk_acl_allows(const struct sk_listener *l, const struct sockaddr *peer)
{
	if (l->n_acl == 0)
		return true;
	uint8_t addr[16];
	int family = sk_sa_to_bytes(peer, addr);
	if (family < 0)
		return false;
	for (size_t i = 0; i < l->n_acl; i++)
		if (sk_cidr_contains(&l->acl[i].cidr, family, addr))
			return l->acl[i].action == SK_ACL_ALLOW;
	return false;
}
