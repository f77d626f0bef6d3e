/* config_cmd.c - `ragd config check` and `ragd config table`. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/config.h"
#include "core/config_vars.h"

static void warn_misspelt(const char *name, const char *closest, void *ctx)
{
    (void)ctx;
    fprintf(stderr, "ragd: warning: %s is not a ragd variable; did you mean %s?\n", name, closest);
}

static int run(int argc, char **argv)
{
    const char *sub = argc >= 2 ? argv[1] : NULL;
    if (!sub || cli_is_help(sub)) return cli_usage(&cli_config_verb, sub != NULL);
    if (!strcmp(sub, "table")) {
        if (argc == 3 && !strcmp(argv[2], "--markdown")) {
            config_write_markdown(stdout);
            return 0;
        }
        if (argc == 3 && !strcmp(argv[2], "--env")) {
            config_write_env(stdout);
            return 0;
        }
        if (argc == 3 && !strcmp(argv[2], "--names")) {
            for (const struct config_var *v = config_vars; v->name; v++)
                puts(v->name);
            return 0;
        }
        return cli_usage(&cli_config_verb, argc == 3 && cli_is_help(argv[2]));
    }
    if (strcmp(sub, "check")) return cli_usage(&cli_config_verb, 0);
    struct cli_opts o = {0};
    int rc = cli_parse_opts(argc - 1, argv + 1, &o, &cli_config_verb);
    if (rc) return rc == 1 ? 0 : rc;
    char err[512] = "";
    if (config_load(".env", err, sizeof err)) {
        fprintf(stderr, "ragd: %s\n", err);
        return 2;
    }
    if (o.data) config_set("RAGD_DATA_DIR", o.data);
    config_suggest(warn_misspelt, NULL);
    config_validate();
    config_print_effective(stdout);
    if (config_errors()) {
        fprintf(stderr, "ragd: invalid configuration: %s\n", config_errors());
        return 2;
    }
    return 0;
}

const struct cli_verb cli_config_verb = {
    .name = "config",
    .args = "check [--data DIR]\ntable --markdown|--env|--names",
    .summary = "Check the configuration, or print the table of every variable.",
    .help =
        "check: reads the environment and ./.env, warns about variables that look like a\n"
        "misspelling of one of ragd's, prints the effective value of every variable (secrets\n"
        "and URL passwords masked) with where it comes from, and exits 2 naming each invalid\n"
        "one.\n"
        "table --markdown: the README's configuration table; --env: .env.example; --names: one\n"
        "name per line (a family as PREFIX_*). scripts/config-docs.sh rewrites both files.",
    .run = run,
};
