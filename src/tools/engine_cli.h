/* engine_cli.h - the engine's command-line verbs (tokenize, detokenize, eval, generate,
 * model, embed). main.c hands argv over unchanged, argv[0] being the verb. */
#ifndef RAGD_ENGINE_CLI_H
#define RAGD_ENGINE_CLI_H

/* Runs the verb named by argv[0]. Returns the process exit status (0 ok, 2 usage,
 * 1 other errors). Returns -1 if argv[0] is not an engine verb. */
int engine_cli_main(int argc, char **argv);

/* Appends the engine verbs' one-line descriptions to ragd --help. Cannot fail. */
void engine_cli_usage(void *file);

#endif
