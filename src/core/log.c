#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/util.h"

static enum log_level min_level = LOG_INFO;
static const char *names[] = {"debug", "info", "warning", "error"};

void log_set_level(enum log_level lvl)
{
    min_level = lvl;
}

int log_parse_level(const char *s, enum log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (!strcasecmp(s, names[i])) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    if (!strcasecmp(s, "warn")) {
        *out = LOG_WARN;
        return 0;
    }
    return -1;
}

void log_json(enum log_level lvl, const char *msg, json_t *obj)
{
    if (lvl < min_level) {
        json_decref(obj);
        return;
    }
    json_t *line = json_object();
    char ts[32];
    json_object_set_new(line, "ts", json_string(time_iso(time_now_ms(), ts)));
    json_object_set_new(line, "level", json_string(names[lvl]));
    json_object_set_new(line, "msg", json_string(msg));
    if (obj) json_object_update(line, obj);
    json_decref(obj);
    char *s = json_dumps(line, JSON_COMPACT);
    json_decref(line);
    if (s) {
        /* One write per line so lines from threads do not interleave. */
        size_t n = strlen(s);
        s[n] = '\n';
        fwrite(s, 1, n + 1, stderr);
        free(s);
    }
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
    if (lvl < min_level) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    log_json(lvl, buf, NULL);
}
