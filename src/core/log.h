/* log.h - structured JSON logs, one object per line, on stderr or in LOG_FILE.
 *
 * Every line has ts, level and msg; request-scoped lines add request_id. Secrets must never
 * be passed in: callers log ids and e-mail addresses, never passwords or tokens. Every
 * function here is thread-safe; a line is one write(2), so lines from threads never
 * interleave, and a reopen (log_reopen) never loses or splits one. */
#ifndef RAGD_LOG_H
#define RAGD_LOG_H

#include <jansson.h>
#include <stddef.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Sets the minimum level (from LOG_LEVEL: debug/info/warning/error); may change at any time. */
void log_set_level(enum log_level lvl);
enum log_level log_get_level(void);
int log_parse_level(const char *s, enum log_level *out);

/* Sends the lines to the file at path (appended; created 0640) instead of stderr. Returns 0,
 * or RAGD_EIO with the reason in err (lines keep going where they went). */
int log_open(const char *path, char *err, size_t errcap);
/* Opens LOG_FILE's path again, for log rotation: a file renamed away keeps what was written
 * and the next line goes to a new file at the path. Writers never see a closed descriptor
 * (the new file takes the old one's number atomically). Returns 0 (also when the lines go to
 * stderr: nothing to do), or RAGD_EIO with the reason in err (the old file stays in use). */
int log_reopen(char *err, size_t errcap);

/* Fields every line logged by this thread carries from now on (those a line sets itself
 * win), until replaced; fields is an object (the reference is stolen) or NULL to clear. For
 * work done on behalf of a request away from it (an ingestion worker names the request id and
 * file of the upload it is processing). */
void log_context(json_t *fields);

/* Logs msg with extra fields from obj (may be NULL; the reference is stolen). */
void log_json(enum log_level lvl, const char *msg, json_t *obj);
/* printf-style convenience without extra fields. */
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
