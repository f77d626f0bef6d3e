/* reload.h - what ragd changes while it serves, on SIGHUP.
 *
 * The log file is reopened (log rotation), the .env file is read again and the variables that
 * can change safely take their new values: LOG_LEVEL, CORS_ORIGINS and PLANS_FILE (the plans
 * file is read again either way, and the administrators' plan edits applied on top). A new
 * value that fails its check is refused and the old one stays; a changed variable that needs
 * a restart is named in the log. Requests in flight are not disturbed: every part swaps in a
 * new immutable table. */
#ifndef RAGD_OPS_RELOAD_H
#define RAGD_OPS_RELOAD_H

/* The variables ops_reload applies, NULL-terminated. */
extern const char *const ops_reload_vars[];

/* Does the reload described above, logging what it did; data_dir is the data directory
 * (for DATA/plans.json). Call from one thread at a time (main.c's signal loop), never from a
 * signal handler. Returns 0, or the number of parts that failed (each logged; those keep
 * their old state). */
int ops_reload(const char *data_dir);

#endif
