/* tiny_fixture.h - the group fixture of the engine tests that run a random tiny qwen3 q8_0
 * model: setup writes it to a per-process file in /tmp, teardown removes it. Include after
 * cmocka.h; the test file's setup calls tiny_fixture_write with its own name and seed. */
#ifndef RAGD_TESTS_TINY_FIXTURE_H
#define RAGD_TESTS_TINY_FIXTURE_H

#include <stdio.h>
#include <unistd.h>

#include "engine/quant.h"
#include "tools/mktiny.h"

static char path[64];

static int tiny_fixture_write(const char *name, int seed)
{
    snprintf(path, sizeof path, "/tmp/ragd-%s-%d.gguf", name, (int)getpid());
    struct mktiny_opts o = {
        .arch = "qwen3", .out = path, .type = GGML_TYPE_Q8_0, .seed = seed, .shape = "tiny"};
    char err[256];
    return mktiny_write(&o, err, sizeof err) ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    return 0;
}

#endif
