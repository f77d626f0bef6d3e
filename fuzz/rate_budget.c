/* Fuzz target for RATE_LIMIT_<RESOURCE> budgets ("calls/seconds"): any value is accepted
 * within bounds or refused with a message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "limits/limits.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *v = malloc(size + 1);
    if (!v) return 0;
    memcpy(v, data, size);
    v[size] = '\0';
    config_set("RATE_LIMIT_CHAT", v);
    char err[256] = "";
    int rc = limits_init(err, sizeof err);
    int64_t calls, period;
    if (!rc) {
        if (limits_rate_of("chat", &calls, &period) || calls < 0 || period < 1) abort();
    } else if (!err[0]) {
        abort();
    }
    config_reset();
    free(v);
    return 0;
}
