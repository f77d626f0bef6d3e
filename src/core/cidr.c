/* cidr.c - network sets and the client address behind trusted proxies (cidr.h). */
#include "core/cidr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"
#include "core/mem.h"

struct net {
    uint8_t addr[16]; /* IPv4 in the first 4 bytes */
    int v6;
    int bits;
};

struct cidr_set {
    struct net *nets;
    int n;
};

/* ---- addresses ---- */

static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* Parses an address; an IPv4-mapped IPv6 one becomes IPv4. 0 or -1. */
static int addr_parse(const char *s, uint8_t out[16], int *v6)
{
    memset(out, 0, 16);
    if (inet_pton(AF_INET, s, out) == 1) {
        *v6 = 0;
        return 0;
    }
    uint8_t a[16];
    if (inet_pton(AF_INET6, s, a) != 1) return -1;
    if (!memcmp(a, v4_mapped, sizeof v4_mapped)) {
        memcpy(out, a + 12, 4);
        *v6 = 0;
    } else {
        memcpy(out, a, 16);
        *v6 = 1;
    }
    return 0;
}

static void addr_text(const uint8_t a[16], int v6, char out[CIDR_ADDR_MAX])
{
    if (!inet_ntop(v6 ? AF_INET6 : AF_INET, a, out, CIDR_ADDR_MAX)) out[0] = '\0';
}

static int prefix_match(const uint8_t *a, const uint8_t *net, int bits)
{
    int whole = bits / 8, rest = bits % 8;
    if (memcmp(a, net, (size_t)whole)) return 0;
    if (!rest) return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[whole] & mask) == (net[whole] & mask);
}

/* ---- sets ---- */

static int net_parse(const char *text, struct net *n, char *err, size_t errcap)
{
    char buf[80];
    if (strlen(text) >= sizeof buf) {
        snprintf(err, errcap, "'%.40s...' is not a network", text);
        return RAGD_EINVAL;
    }
    snprintf(buf, sizeof buf, "%s", text);
    char *slash = strchr(buf, '/');
    if (slash) *slash = '\0';
    if (addr_parse(buf, n->addr, &n->v6)) {
        snprintf(err, errcap, "'%s' is not an IPv4 or IPv6 address or network", text);
        return RAGD_EINVAL;
    }
    int max = n->v6 ? 128 : 32;
    n->bits = max;
    if (slash) {
        char *end;
        long b = strtol(slash + 1, &end, 10);
        if (end == slash + 1 || *end || b < 0 || b > max) {
            snprintf(err, errcap, "'%s': the prefix length must be 0..%d", text, max);
            return RAGD_EINVAL;
        }
        n->bits = (int)b;
    }
    /* Host bits set ("10.0.0.1/8") are almost always a typo for another network. */
    for (int i = n->bits; i < max; i++)
        if (n->addr[i / 8] & (0x80 >> (i % 8))) {
            snprintf(err, errcap, "'%s' has host bits set (the network is written with zeros)",
                     text);
            return RAGD_EINVAL;
        }
    return 0;
}

static int add_entry(cidr_set_t *s, const char *text, char *err, size_t errcap)
{
    struct net n;
    int rc = net_parse(text, &n, err, errcap);
    if (rc) return rc;
    s->nets = xrealloc(s->nets, (size_t)(s->n + 1) * sizeof *s->nets);
    s->nets[s->n++] = n;
    return 0;
}

int cidr_set_parse(const char *spec, cidr_set_t **out, char *err, size_t errcap)
{
    cidr_set_t *s = xcalloc(1, sizeof *s);
    int rc = 0;
    while (spec && isspace((unsigned char)*spec))
        spec++;
    if (spec && *spec == '[') {
        json_error_t je;
        json_t *arr = json_loads(spec, 0, &je);
        if (!json_is_array(arr)) {
            snprintf(err, errcap, "not a JSON list of strings");
            rc = RAGD_EINVAL;
        }
        size_t i;
        json_t *v;
        json_array_foreach(arr, i, v)
        {
            if (rc) break;
            if (!json_is_string(v)) {
                snprintf(err, errcap, "item %zu is not a string", i + 1);
                rc = RAGD_EINVAL;
            } else {
                rc = add_entry(s, json_string_value(v), err, errcap);
            }
        }
        json_decref(arr);
    } else if (spec) {
        char *copy = xstrdup(spec), *save = NULL;
        for (char *t = strtok_r(copy, ", \t", &save); t && !rc; t = strtok_r(NULL, ", \t", &save))
            rc = add_entry(s, t, err, errcap);
        free(copy);
    }
    if (rc) {
        cidr_set_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void cidr_set_free(cidr_set_t *s)
{
    if (!s) return;
    free(s->nets);
    free(s);
}

int cidr_set_count(const cidr_set_t *s)
{
    return s ? s->n : 0;
}

static int contains(const cidr_set_t *s, const uint8_t a[16], int v6)
{
    for (int i = 0; s && i < s->n; i++)
        if (s->nets[i].v6 == v6 && prefix_match(a, s->nets[i].addr, s->nets[i].bits)) return 1;
    return 0;
}

int cidr_set_contains(const cidr_set_t *s, const char *ip)
{
    uint8_t a[16];
    int v6;
    return ip && !addr_parse(ip, a, &v6) && contains(s, a, v6);
}

/* ---- forwarding headers ---- */

/* The hops of a header, left to right, as NUL-terminated strings in buf (n of them). */
struct hops {
    char *buf;
    char *hop[64];
    int n;
};

/* X-Forwarded-For: "client, proxy1, proxy2". */
static void xff_hops(const char *h, struct hops *out)
{
    out->buf = xstrdup(h);
    char *save = NULL;
    for (char *t = strtok_r(out->buf, ",", &save); t && out->n < 64;
         t = strtok_r(NULL, ",", &save)) {
        while (isspace((unsigned char)*t))
            t++;
        char *e = t + strlen(t);
        while (e > t && isspace((unsigned char)e[-1]))
            *--e = '\0';
        out->hop[out->n++] = t;
    }
}

/* Forwarded (RFC 7239): "for=192.0.2.60;proto=http, for=\"[2001:db8::17]:4711\"". Each element's
 * for= value, unquoted, without brackets or port; an element without one is the empty hop
 * (not an address: it stops the walk). */
static void forwarded_hops(const char *h, struct hops *out)
{
    out->buf = xstrdup(h);
    char *save = NULL;
    for (char *el = strtok_r(out->buf, ",", &save); el && out->n < 64;
         el = strtok_r(NULL, ",", &save)) {
        char *val = NULL, *save2 = NULL;
        for (char *pair = strtok_r(el, ";", &save2); pair; pair = strtok_r(NULL, ";", &save2)) {
            while (isspace((unsigned char)*pair))
                pair++;
            if (!strncasecmp(pair, "for=", 4)) val = pair + 4;
        }
        if (!val) {
            out->hop[out->n++] = "";
            continue;
        }
        char *e = val + strlen(val);
        while (e > val && isspace((unsigned char)e[-1]))
            *--e = '\0';
        if (*val == '"' && e > val + 1 && e[-1] == '"') {
            *--e = '\0';
            val++;
        }
        if (*val == '[') { /* [v6] or [v6]:port */
            char *rb = strchr(val, ']');
            if (rb) *rb = '\0';
            val++;
        } else {
            char *colon = strchr(val, ':'); /* v4:port (a v6 address is always bracketed) */
            if (colon) *colon = '\0';
        }
        out->hop[out->n++] = val;
    }
}

int cidr_client_address(const cidr_set_t *trusted, const char *peer, const char *xff,
                        const char *forwarded, char out[CIDR_ADDR_MAX])
{
    uint8_t a[16];
    int v6;
    if (addr_parse(peer ? peer : "", a, &v6)) {
        snprintf(out, CIDR_ADDR_MAX, "%s", peer ? peer : "");
        return 0;
    }
    addr_text(a, v6, out);
    if (!cidr_set_count(trusted) || !contains(trusted, a, v6)) return 0;
    struct hops h = {0};
    if (xff && *xff)
        xff_hops(xff, &h);
    else if (forwarded && *forwarded)
        forwarded_hops(forwarded, &h);
    int from_header = 0;
    for (int i = h.n - 1; i >= 0; i--) {
        if (addr_parse(h.hop[i], a, &v6)) break; /* not an address: trust ends here */
        addr_text(a, v6, out);
        from_header = 1;
        if (!contains(trusted, a, v6)) break; /* the first untrusted hop: the client */
    }
    free(h.buf);
    return from_header;
}
