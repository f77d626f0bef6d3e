/* Fuzz target for the payment providers' webhook signature checks: the input is a signature
 * header, a newline, then the body. Stripe-Signature parsing and both verifications must
 * return cleanly on any input; a header built from the parsed timestamp and a correct v1
 * over the body must verify. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "billing/payprov.h"
#include "core/error.h"
#include "core/util.h"

static const char secret[] = "whsec_fuzz";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t hlen = nl ? (size_t)(nl - data) : size;
    const char *body = nl ? (const char *)nl + 1 : "";
    size_t blen = nl ? size - hlen - 1 : 0;
    char *header = malloc(hlen + 1);
    if (!header) return 0;
    memcpy(header, data, hlen);
    header[hlen] = 0;

    struct stripe_sig s;
    int prc = stripe_sig_parse(header, &s);
    if (prc != 0 && prc != RAGD_EFORMAT) abort();
    if (s.nv1 < 0 || s.nv1 > PAYSIG_MAX_V1) abort();
    int vrc = stripe_sig_verify(secret, header, body, blen, 1700000000, 300);
    if (vrc != 0 && vrc != RAGD_EFORMAT && vrc != RAGD_EPERM && vrc != RAGD_ERANGE) abort();
    if (prc && vrc != RAGD_EFORMAT) abort(); /* unparsable never verifies */
    int rrc = razorpay_sig_verify(secret, header, body, blen);
    if (rrc != 0 && rrc != RAGD_EFORMAT && rrc != RAGD_EPERM) abort();

    if (!prc) { /* the right signature for this timestamp verifies */
        char *msg = malloc(32 + blen);
        if (msg) {
            int n = snprintf(msg, 32, "%lld.", (long long)s.t);
            memcpy(msg + n, body, blen);
            unsigned char mac[32];
            char hex[65], good[128];
            hmac_sha256(secret, strlen(secret), msg, (size_t)n + blen, mac);
            hex_encode(mac, 32, hex);
            snprintf(good, sizeof good, "t=%lld,v1=%s", (long long)s.t, hex);
            if (stripe_sig_verify(secret, good, body, blen, s.t, 300) != 0) abort();
            free(msg);
        }
    }
    free(header);
    return 0;
}
