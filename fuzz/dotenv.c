/* Fuzz target for the .env parser: any file contents load or fail cleanly. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/ragd-fuzz-env-%d", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    char err[256];
    config_load(path, err, sizeof err);
    (void)config_str("A", NULL);
    (void)config_int("A", 0, 0, 10);
    config_reset();
    unlink(path);
    return 0;
}
