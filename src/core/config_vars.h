/* config_vars.h - the table of every configuration variable ragd reads.
 *
 * One row per variable (config_vars.c): its name, type, documented default, allowed range or
 * choices and meaning. The table is the single source of the README's configuration section and
 * of .env.example (`ragd config table --markdown|--env`), and of the validation every start runs
 * once before anything reads a value: an invalid value stops ragd naming the variable, a name
 * that looks like a misspelling of a row's is warned about. Adding a variable is adding a row;
 * the test suite fails while the source reads a name that has none. */
#ifndef RAGD_CONFIG_VARS_H
#define RAGD_CONFIG_VARS_H

#include <stddef.h>
#include <stdio.h>

enum config_type {
    CFG_BOOL,     /* true/false/1/0/yes/no/on/off */
    CFG_INT,      /* an integer in [min, max] */
    CFG_NUMBER,   /* a decimal number in [min, max] */
    CFG_DURATION, /* an integer count of the unit the name ends in (_MS, _SECONDS, _DAYS...) */
    CFG_ENUM,     /* one of choices ("a|b|c") */
    CFG_URL,      /* scheme://...; choices lists the schemes */
    CFG_LIST,     /* a JSON array of strings or a comma list; choices: the items' URL schemes */
    CFG_RATE,     /* CALLS/SECONDS (or CALLS, per 60 s) */
    CFG_STRING,   /* free text */
    CFG_SECRET,   /* free text, never shown; the seeds' placeholders are refused */
    CFG_PATH,     /* a file or folder */
    CFG_CIDRS,    /* a JSON array or comma list of IPv4/IPv6 networks (10.0.0.0/8, ::1) */
};

/* Row flags. */
#define CFG_NOCASE 1         /* enum choices compare case-insensitively */
#define CFG_INTERNAL 2       /* for tests and development: documented, not in .env.example */
#define CFG_PATH_OK 4        /* CFG_URL: a value without "scheme:" is a file path (SQLite) */
#define CFG_NO_PLACEHOLDER 8 /* CFG_STRING: the seeds' placeholders are refused as for secrets */

struct config_var {
    const char *name; /* exact, or a family ending in '*' (RATE_LIMIT_*) */
    enum config_type type;
    const char *def;     /* the default as documented; NULL: unset; "(...)": computed */
    double min, max;     /* CFG_INT, CFG_NUMBER, CFG_DURATION */
    const char *choices; /* CFG_ENUM values, CFG_URL / CFG_LIST schemes, '|'-separated */
    int flags;
    const char *help; /* one paragraph, Markdown */
};

/* The rows, in documentation order, ended by a row whose name is NULL. */
extern const struct config_var config_vars[];

/* The row for name (exact, else the longest matching family), or NULL. Cannot fail. */
const struct config_var *config_var_find(const char *name);

/* Checks value against row v. Returns 0, or -1 with the reason in why. Cannot fail otherwise. */
int config_var_check(const struct config_var *v, const char *value, char *why, size_t whycap);

/* Whether value is one of the seeds' placeholder secrets ("your-secret-key-here",
 * "change-me", "sk_test_...", ...). */
int config_is_placeholder(const char *value);

/* Validates every variable set (environment, .env, config_set) against its row. Each invalid
 * one is added to config_errors() as "NAME=VALUE: reason" (a secret's value is not repeated).
 * Returns the number of invalid variables. */
int config_validate(void);

/* Calls warn(name, closest, ctx) for each variable set in the environment or .env that has no
 * row but looks like one of ours: within a small edit distance of a row's name, or sharing a
 * prefix of ours (RAGD_, OPENAI_, SMTP_, REDIS_, STRIPE_, ...) and close to one. Returns how
 * many. */
int config_suggest(void (*warn)(const char *name, const char *closest, void *ctx), void *ctx);

/* Writes the effective value of every variable as NAME=VALUE lines with its source (env, .env,
 * flag, default), secrets and URL passwords masked. */
void config_print_effective(FILE *f);

/* Writes the table as the README's Markdown section, or as .env.example. */
void config_write_markdown(FILE *f);
void config_write_env(FILE *f);

#endif
