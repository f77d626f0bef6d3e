/* cli.h - the operator's command-line verbs (init, user, seed, ingest, apikey, backup, restore,
 * erase, admin, config, version). main.c holds the table of verbs and the start-up sequence;
 * each verb here parses its arguments, asks main.c's start-up for a ready store (and, when it
 * needs them, models and the knowledge base), does its work and returns an exit status:
 * 0 done, 1 failed, 2 usage or configuration error, 3 no such thing. */
#ifndef RAGD_CLI_H
#define RAGD_CLI_H

#include <stdio.h>

struct cli_verb {
    const char *name;
    const char *args;                  /* synopsis after "ragd NAME", lines joined by "\n" */
    const char *summary;               /* one complete sentence for `ragd --help` */
    const char *help;                  /* the rest of `ragd NAME --help` */
    int (*run)(int argc, char **argv); /* argv[0] is the verb */
};

/* The options every verb shares; a verb leaves the ones it does not take at 0. */
struct cli_opts {
    const char *data, *host, *email, *password, *plan, *username, *org, *user, *name;
    int port, admin, demo, stdin_password, json;
    /* Positional arguments: accepted (anywhere among the options) only when the verb sets
     * want_args before parsing; then args[0..nargs) are they, in order. */
    int want_args, nargs;
    char **args;
};

/* What main.c provides: start() loads .env, validates the configuration, prepares the data
 * directory and opens, migrates and caches the store; start_knowledge() loads the models and
 * the knowledge base. Each returns 0 or an exit status (a message printed). */
struct cli_startup {
    int (*start)(struct cli_opts *o);
    int (*start_knowledge)(const char *data);
};
void cli_set_startup(const struct cli_startup *s);
int cli_start(struct cli_opts *o);
int cli_start_knowledge(const char *data);

/* Parses argv (argv[0] the verb or sub-verb) into o: --data --port --host --email --password
 * --plan --username --org --user --name --admin --demo --stdin --json --help; positional
 * arguments only when o->want_args (else they are a usage error). Returns 0, 1 after
 * printing v's help (--help: exit 0), or 2 after a message on stderr. */
int cli_parse_opts(int argc, char **argv, struct cli_opts *o, const struct cli_verb *v);

/* Prints "usage: ragd NAME ARGS\n\nSUMMARY\nHELP" to stdout (help) or stderr and returns the exit
 * status that goes with it: 0 or 2. */
int cli_usage(const struct cli_verb *v, int help);

/* Whether s asks for help (--help, -h, help). */
int cli_is_help(const char *s);

/* Reads a password: from stdin when --stdin was given or stdin is not a terminal (one line),
 * else from a prompt on the terminal without echo (asked twice when confirm). 0, or -1 with a
 * message printed. buf holds cap bytes. */
int cli_read_password(const char *prompt, int confirm, int from_stdin, char *buf, size_t cap);

/* Creates an active, verified user unless the e-mail exists (lower-cased). role is a role name
 * (auth/roles.h); plan, username, org_id may be NULL. Returns 0 created, 1 existed, or a
 * negative RAGD_E* code. */
int cli_user_create(const char *email, const char *password, const char *plan, const char *role,
                    const char *username, const char *org_id);

/* The user named by an e-mail address or an id: 0 with *u (clear with store_user_clear), or
 * RAGD_ENOTFOUND / a store error. */
struct user;
int cli_find_user(const char *who, struct user *u);

/* The verbs. */
extern const struct cli_verb cli_init_verb, cli_user_verb, cli_seed_verb, cli_ingest_verb,
    cli_apikey_verb, cli_backup_verb, cli_restore_verb, cli_erase_verb, cli_admin_verb,
    cli_config_verb, cli_version_verb, cli_sentiment_verb;

#endif
