/* log.h - structured JSON logs, one object per line on stderr.
 *
 * Every line has ts, level and msg; request-scoped lines add request_id. Secrets must never
 * be passed in: callers log ids and e-mail addresses, never passwords or tokens. */
#ifndef RAGD_LOG_H
#define RAGD_LOG_H

#include <jansson.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Sets the minimum level (from LOG_LEVEL: debug/info/warning/error). */
void log_set_level(enum log_level lvl);
int log_parse_level(const char *s, enum log_level *out);

/* Logs msg with extra fields from obj (may be NULL; the reference is stolen). */
void log_json(enum log_level lvl, const char *msg, json_t *obj);
/* printf-style convenience without extra fields. */
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
