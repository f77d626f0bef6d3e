/* Fuzz target for the operator's plans file: any contents load or fail cleanly, and a
 * failed load leaves the plan table usable. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "billing/plans.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/ragd-fuzz-plans-%d", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    char err[256];
    plan_load(path, err, sizeof err);
    unlink(path);
    for (int i = 0; i < plan_count(); i++) {
        const struct plan *p = plan_at(i);
        json_t *j = plan_json(p);
        if (!j) abort();
        json_decref(j);
        (void)plan_daily_limit(p, "mcqs_per_day");
    }
    if (!plan_get("free") || !plan_for("x")) abort();
    return 0;
}
