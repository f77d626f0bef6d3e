/* ragd - entry point: the command-line verbs. Only this file decides to exit. */
#include <stdio.h>
#include <string.h>

#include "engine/engine_cli.h"

static void usage(FILE *f)
{
    fputs("usage: ragd <command> [options]\n\ncommands:\n", f);
    engine_cli_usage(f);
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    int rc = engine_cli_main(argc - 1, argv + 1);
    if (rc >= 0)
        return rc;
    fprintf(stderr, "ragd: unknown command '%s' (see ragd --help)\n", argv[1]);
    return 2;
}
