#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/error.h"
#include "core/mem.h"
#include "core/util.h"

static atomic_int min_level = LOG_INFO;
static const char *names[] = {"debug", "info", "warning", "error"};

/* Where lines go. With LOG_FILE the descriptor number stays the same for the life of the
 * process: a reopen dup2()s the new file onto it, so a writer racing it writes whole lines to
 * one file or the other, never to a closed descriptor. */
static atomic_int log_fd = STDERR_FILENO;
static char *log_path; /* NULL: stderr */
static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;
static __thread json_t *context; /* log_context */

void log_set_level(enum log_level lvl)
{
    atomic_store(&min_level, (int)lvl);
}

enum log_level log_get_level(void)
{
    return (enum log_level)atomic_load(&min_level);
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

static int open_file(const char *path, char *err, size_t errcap)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) snprintf(err, errcap, "LOG_FILE %s: %s", path, strerror(errno));
    return fd;
}

int log_open(const char *path, char *err, size_t errcap)
{
    pthread_mutex_lock(&open_lock);
    int fd = open_file(path, err, errcap);
    if (fd < 0) {
        pthread_mutex_unlock(&open_lock);
        return RAGD_EIO;
    }
    int old = atomic_load(&log_fd);
    if (old != STDERR_FILENO) {
        dup2(fd, old);
        close(fd);
    } else {
        atomic_store(&log_fd, fd);
    }
    free(log_path);
    log_path = xstrdup(path);
    pthread_mutex_unlock(&open_lock);
    return 0;
}

int log_reopen(char *err, size_t errcap)
{
    pthread_mutex_lock(&open_lock);
    int rc = 0;
    if (log_path) {
        int fd = open_file(log_path, err, errcap);
        if (fd < 0) {
            rc = RAGD_EIO;
        } else {
            if (dup2(fd, atomic_load(&log_fd)) < 0) {
                snprintf(err, errcap, "LOG_FILE %s: %s", log_path, strerror(errno));
                rc = RAGD_EIO;
            }
            close(fd);
        }
    }
    pthread_mutex_unlock(&open_lock);
    return rc;
}

static void write_all(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return; /* nowhere to report it: the log itself failed */
        s += w;
        n -= (size_t)w;
    }
}

void log_context(json_t *fields)
{
    json_decref(context);
    context = fields;
}

void log_json(enum log_level lvl, const char *msg, json_t *obj)
{
    if ((int)lvl < atomic_load(&min_level)) {
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
    if (context) json_object_update_missing(line, context);
    char *s = json_dumps(line, JSON_COMPACT);
    json_decref(line);
    if (s) {
        /* One write per line so lines from threads do not interleave. */
        size_t n = strlen(s);
        s[n] = '\n';
        write_all(atomic_load(&log_fd), s, n + 1);
        free(s);
    }
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
    if ((int)lvl < atomic_load(&min_level)) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    log_json(lvl, buf, NULL);
}
