/* cidr.h - sets of IPv4 and IPv6 networks (TRUSTED_PROXIES) and the client address behind
 * trusted proxies.
 *
 * A set is immutable once parsed, so any number of threads may query it. An IPv4-mapped IPv6
 * address (::ffff:192.0.2.1) is the IPv4 address it maps, in a set and in a query. */
#ifndef RAGD_CIDR_H
#define RAGD_CIDR_H

#include <stddef.h>

/* Longest text cidr_client_address writes, with its NUL (INET6_ADDRSTRLEN). */
enum { CIDR_ADDR_MAX = 46 };

typedef struct cidr_set cidr_set_t;

/* Parses spec, a JSON list of strings or a comma (or space) separated list of networks:
 * "10.0.0.0/8", "2001:db8::/32", or a bare address (a /32 or /128). *out (caller frees with
 * cidr_set_free) gets the set; an empty spec gives an empty set. Returns 0, or RAGD_EINVAL
 * with the offending entry and the reason in err (bad address, prefix length out of range,
 * host bits set). */
int cidr_set_parse(const char *spec, cidr_set_t **out, char *err, size_t errcap);
void cidr_set_free(cidr_set_t *s);

/* Number of networks in s (0 for NULL). Cannot fail. */
int cidr_set_count(const cidr_set_t *s);

/* 1 if ip (an address as text; brackets and a port are not accepted) is inside one of s's
 * networks, 0 if not or when ip is not an address. s may be NULL (empty). */
int cidr_set_contains(const cidr_set_t *s, const char *ip);

/* The client's address for a request whose direct peer is peer. When peer is not in
 * trusted, or trusted is empty, it is peer itself: the headers are never read. When it is,
 * the hops of X-Forwarded-For (xff, all the header's values joined by commas; may be NULL),
 * or else of Forwarded's for= parameters (forwarded; may be NULL), are walked from the
 * right: the first hop that is not itself a trusted proxy is the client. A hop that is not
 * an address ("unknown", an obfuscated identifier, garbage) stops the walk: the last
 * trusted hop reached is the client then, as it is when every hop is trusted. Writes the
 * address to out (normalised text, an IPv4-mapped address as IPv4). Returns 1 when it came
 * from a header, 0 when it is peer. Cannot fail. */
int cidr_client_address(const cidr_set_t *trusted, const char *peer, const char *xff,
                        const char *forwarded, char out[CIDR_ADDR_MAX]);

#endif
