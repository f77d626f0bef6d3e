#include "engine/engine_cli.h"

#include <stdio.h>

int engine_cli_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return -1;
}

void engine_cli_usage(void *file)
{
    (void)file;
}
