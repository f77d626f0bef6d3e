/* config.h - configuration from environment variables and a .env file.
 *
 * Names are the seeds' (API_HOST, API_PORT, JWT_SECRET_KEY, DATABASE_URL, ...). A variable in
 * the environment wins over the same one in .env. config_load() is called once at start;
 * after that the getters are read-only and thread-safe. */
#ifndef RAGD_CONFIG_H
#define RAGD_CONFIG_H

#include <stddef.h>
#include <stdint.h>

/* Reads the .env file at path (a missing file is fine). Returns 0, or RAGD_EFORMAT with a
 * message in err (line number) for a malformed line. Call before threads start. */
int config_load(const char *path, char *err, size_t errcap);

/* Sets a value (overrides env and .env); for command-line flags and tests. */
void config_set(const char *name, const char *value);

/* The raw value, or def when unset or empty. Valid for the process lifetime. */
const char *config_str(const char *name, const char *def);

/* Typed getters. A value that does not parse, or lies outside [min, max], makes the getter
 * return def and records an error for config_errors(). */
int64_t config_int(const char *name, int64_t def, int64_t min, int64_t max);
double config_double(const char *name, double def, double min, double max);
int config_bool(const char *name, int def); /* true/false/1/0/yes/no/on/off */

/* Validation errors collected by the getters ("NAME: reason; ..."), or NULL if none.
 * main.c refuses to start when there are any. */
const char *config_errors(void);

/* Adds "NAME=VALUE: why" to config_errors() (the value left out when it is NULL), once per
 * name: a variable already reported is not reported again. */
void config_add_error(const char *name, const char *value, const char *why);

/* Where the value of name comes from: "flag" (config_set), "env", ".env", or NULL (unset or
 * empty). */
const char *config_source(const char *name);

/* Calls fn once per variable name set and non-empty in the environment, .env or config_set
 * (which one wins is config_str's business). from_env_or_file is 0 for config_set names.
 * Call while no config_reload runs (start-up, the CLI). */
void config_each(void (*fn)(const char *name, int from_env_or_file, void *ctx), void *ctx);

/* Marks a variable name that the code reads through a table or a computed name rather than
 * with a literal in a config_* call, so the configuration check sees it. */
#define CONFIG_NAME(s) s

/* What config_reload did with a variable whose value in the .env file changed. */
enum config_change {
    CONFIG_APPLIED,       /* the new value is in effect */
    CONFIG_NEEDS_RESTART, /* not one that can change while running: the old value stays */
    CONFIG_INVALID,       /* the new value fails its row's check (why): the old one stays */
};
typedef void (*config_reload_fn)(const char *name, enum config_change what, const char *why,
                                 void *ctx);

/* Reads the .env file at path again (SIGHUP). Of the variables whose value there changed
 * (added, edited or removed), those named in reloadable (NULL-terminated) and valid take
 * their new value; the others keep the old one. A name set in the environment or by
 * config_set is not considered (it wins over the file anyway). report(name, what, why, ctx)
 * is called once per changed name. Strings returned earlier by config_str stay valid.
 * Thread-safe against readers. Returns 0, or RAGD_EFORMAT with a message in err (a
 * malformed line: nothing changes). */
int config_reload(const char *path, const char *const *reloadable, config_reload_fn report,
                  void *ctx, char *err, size_t errcap);

/* Releases everything (end of process, tests). */
void config_reset(void);

#endif
