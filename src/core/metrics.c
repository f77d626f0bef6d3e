#include "core/metrics.h"

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "core/mem.h"
#include "core/version.h"

/* ---- buckets ---- */

static const double fast_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                     0.1,    0.25,  0.5,    1,     2.5,  5,     10};
static const double slow_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                     2.5,   5,    10,    30,   60,  120,  300, 600};
#define NELEM(a) (int)(sizeof(a) / sizeof((a)[0]))

/* ---- the registry ---- */

enum kind { COUNTER, GAUGE, HISTOGRAM };

struct series {
    char *labels;     /* label text without braces; "" for none */
    double value;     /* counter or gauge */
    uint64_t *bucket; /* histogram: cumulative counts, [family's nb] */
    uint64_t count;   /* histogram: observations */
    double sum;       /* histogram: their sum */
    struct series *next;
};

struct family {
    char *name, *help;
    enum kind kind;
    const double *bounds; /* histogram: upper bounds, [nb] */
    int nb;
    struct series *head, *tail; /* in creation order */
    int nseries;
    int own_bound; /* the HTTP families: labels bounded by metrics_request, not MAX_SERIES */
    struct family *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct family *families, *families_tail; /* in creation order */
static int nseries;                             /* named series in all */

/* Every label value comes from a fixed set, so no client can add series: a method outside
 * the standard ones is "other", and past MAX_ROUTES distinct routes (callers pass route
 * patterns, so this is only a backstop) or MAX_SERIES series new ones fold into "other" and
 * overflow="true". */
enum { MAX_ROUTES = 512, MAX_SERIES = 2048 };

static const char *const http_requests = "ragd_http_requests_total";
static const char *const http_duration = "ragd_http_request_duration_seconds";

static int name_valid(const char *s)
{
    if (!*s || (*s >= '0' && *s <= '9')) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == ':'))
            return 0;
    return 1;
}

/* 1 when labels is a well-formed label text: name="value" pairs separated by commas, values
 * with no raw newline and only the escapes \\, \" and \n, and no label named "le". */
static int labels_valid(const char *s)
{
    while (*s) {
        const char *n = s;
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_')) return 0;
        while ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
               *s == '_')
            s++;
        if (s - n == 2 && !strncmp(n, "le", 2)) return 0;
        if (s[0] != '=' || s[1] != '"') return 0;
        for (s += 2; *s != '"'; s++) {
            if (!*s || *s == '\n') return 0;
            if (*s == '\\') {
                s++;
                if (*s != '\\' && *s != '"' && *s != 'n') return 0;
            }
        }
        s++;
        if (*s == ',') {
            s++;
            if (!*s) return 0;
        } else if (*s) {
            return 0;
        }
    }
    return 1;
}

void metrics_label_value(char *out, size_t cap, const char *value)
{
    const unsigned char *p = (const unsigned char *)(value ? value : "");
    size_t o = 0, i = 0;
    if (!cap) return;
    while (p[i]) {
        unsigned char c = p[i];
        const char *esc = c == '\\' ? "\\\\" : c == '"' ? "\\\"" : c == '\n' ? "\\n" : NULL;
        /* a multi-byte character goes in whole or not at all */
        size_t n = esc ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1, have = 0;
        while (have < n && p[i + have])
            have++;
        size_t w = esc ? 2 : have;
        if (o + w >= cap) break;
        memcpy(out + o, esc ? esc : (const char *)p + i, w);
        o += w;
        i += have;
    }
    out[o] = '\0';
}

/* Called with the lock held: the family of name, created with kind, help and bounds when new.
 * NULL when name is taken by another kind. */
static struct family *family_get(const char *name, enum kind kind, const char *help,
                                 enum metrics_scale scale)
{
    RAGD_ASSERT(name_valid(name));
    struct family *f = families;
    while (f && strcmp(f->name, name))
        f = f->next;
    if (f) return f->kind == kind ? f : NULL;
    f = xcalloc(1, sizeof *f);
    f->name = xstrdup(name);
    f->help = xstrdup(help && *help ? help : name);
    f->kind = kind;
    if (kind == HISTOGRAM) {
        f->bounds = scale == METRICS_SLOW ? slow_bounds : fast_bounds;
        f->nb = scale == METRICS_SLOW ? NELEM(slow_bounds) : NELEM(fast_bounds);
    }
    f->own_bound = !strcmp(name, http_requests) || !strcmp(name, http_duration);
    if (families_tail)
        families_tail->next = f;
    else
        families = f;
    families_tail = f;
    return f;
}

static struct series *series_find(struct family *f, const char *labels)
{
    for (struct series *s = f->head; s; s = s->next)
        if (!strcmp(s->labels, labels)) return s;
    return NULL;
}

/* Called with the lock held: the series of f with labels (NULL: none), created when new; past
 * MAX_SERIES a new labelled series folds into overflow="true". Cannot fail. */
static struct series *series_get(struct family *f, const char *labels)
{
    if (!labels) labels = "";
    if (!labels_valid(labels)) labels = "labels_invalid=\"true\"";
    struct series *s = series_find(f, labels);
    if (s) return s;
    if (*labels && !f->own_bound && nseries >= MAX_SERIES) {
        labels = "overflow=\"true\"";
        if ((s = series_find(f, labels))) return s;
    }
    s = xcalloc(1, sizeof *s);
    s->labels = xstrdup(labels);
    if (f->kind == HISTOGRAM) s->bucket = xcalloc((size_t)f->nb, sizeof *s->bucket);
    if (f->tail)
        f->tail->next = s;
    else
        f->head = s;
    f->tail = s;
    f->nseries++;
    if (!f->own_bound) nseries++;
    return s;
}

static void set_value(const char *name, enum kind kind, const char *labels, const char *help,
                      double v)
{
    pthread_mutex_lock(&lock);
    struct family *f = family_get(name, kind, help, METRICS_FAST);
    if (f) {
        struct series *s = series_get(f, labels);
        if (kind == GAUGE)
            s->value = v;
        else if (v > 0)
            s->value += v;
    }
    pthread_mutex_unlock(&lock);
}

/* Called with the lock held. */
static void observe(struct family *f, const char *labels, double v)
{
    struct series *s = series_get(f, labels);
    if (isnan(v)) return;
    for (int i = 0; i < f->nb; i++)
        if (v <= f->bounds[i]) s->bucket[i]++;
    s->count++;
    s->sum += v;
}

/* ---- the entry points ---- */

static const char *method_label(const char *method)
{
    static const char *const known[] = {"GET",    "HEAD",    "POST",  "PUT",    "PATCH",
                                        "DELETE", "OPTIONS", "TRACE", "CONNECT"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (!strcmp(method, known[i])) return known[i];
    return "other";
}

void metrics_request(const char *method, const char *route, int status, int64_t duration_ns)
{
    char r[256], labels[384];
    metrics_label_value(r, sizeof r, route);
    if (status < 0 || status > 999) status = 0;
    pthread_mutex_lock(&lock);
    struct family *lat =
        family_get(http_duration, HISTOGRAM, "HTTP request latency by route", METRICS_FAST);
    snprintf(labels, sizeof labels, "route=\"%s\"", r);
    if (!series_find(lat, labels) && lat->nseries >= MAX_ROUTES)
        snprintf(labels, sizeof labels, "route=\"other\"");
    observe(lat, labels, (double)duration_ns / 1e9);
    char *route_part = xstrdup(labels);
    snprintf(labels, sizeof labels, "method=\"%s\",%s,status=\"%d\"", method_label(method),
             route_part, status);
    free(route_part);
    struct family *req =
        family_get(http_requests, COUNTER, "HTTP requests by method, route and status", 0);
    series_get(req, labels)->value++;
    pthread_mutex_unlock(&lock);
}

void metrics_reject(const char *reason)
{
    char v[72], label[96];
    metrics_label_value(v, sizeof v, reason);
    snprintf(label, sizeof label, "reason=\"%s\"", v);
    set_value("ragd_rejections_total", COUNTER, label,
              "Requests refused before their handler, by reason", 1);
}

void metrics_gauge(const char *name, const char *help, double value)
{
    set_value(name, GAUGE, NULL, help, value);
}

void metrics_count(const char *name, const char *help, double delta)
{
    set_value(name, COUNTER, NULL, help, delta);
}

void metrics_count_labeled(const char *name, const char *labels, const char *help, double delta)
{
    set_value(name, COUNTER, labels, help, delta);
}

void metrics_gauge_labeled(const char *name, const char *labels, const char *help, double value)
{
    set_value(name, GAUGE, labels, help, value);
}

void metrics_observe_scaled(const char *name, const char *labels, const char *help, double seconds,
                            enum metrics_scale scale)
{
    pthread_mutex_lock(&lock);
    struct family *f = family_get(name, HISTOGRAM, help, scale);
    if (f) observe(f, labels, seconds);
    pthread_mutex_unlock(&lock);
}

void metrics_observe(const char *name, const char *labels, const char *help, double seconds)
{
    metrics_observe_scaled(name, labels, help, seconds, METRICS_FAST);
}

/* ---- rendering ---- */

static void put_value(struct sbuf *b, double v)
{
    if (isnan(v))
        sb_adds(b, "NaN");
    else if (isinf(v))
        sb_adds(b, v > 0 ? "+Inf" : "-Inf");
    else
        sb_printf(b, "%.15g", v);
}

/* "# HELP" and "# TYPE" of a family; the help text escaped (backslash, newline). */
static void put_header(struct sbuf *b, const char *name, const char *help, const char *type)
{
    sb_printf(b, "# HELP %s ", name);
    for (const char *p = help; *p; p++) {
        if (*p == '\\')
            sb_adds(b, "\\\\");
        else if (*p == '\n')
            sb_adds(b, "\\n");
        else
            sb_add(b, p, 1);
    }
    sb_printf(b, "\n# TYPE %s %s\n", name, type);
}

/* name{labels} value, or name value when labels is empty; extra (a label) appended. */
static void put_sample(struct sbuf *b, const char *name, const char *suffix, const char *labels,
                       const char *extra, double v)
{
    sb_printf(b, "%s%s", name, suffix);
    if (*labels || extra)
        sb_printf(b, "{%s%s%s}", labels, *labels && extra ? "," : "", extra ? extra : "");
    sb_adds(b, " ");
    put_value(b, v);
    sb_adds(b, "\n");
}

static void render_family(struct sbuf *b, const struct family *f)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    put_header(b, f->name, f->help, types[f->kind]);
    for (const struct series *s = f->head; s; s = s->next) {
        if (f->kind != HISTOGRAM) {
            put_sample(b, f->name, "", s->labels, NULL, s->value);
            continue;
        }
        char le[32];
        for (int i = 0; i < f->nb; i++) {
            snprintf(le, sizeof le, "le=\"%g\"", f->bounds[i]);
            put_sample(b, f->name, "_bucket", s->labels, le, (double)s->bucket[i]);
        }
        put_sample(b, f->name, "_bucket", s->labels, "le=\"+Inf\"", (double)s->count);
        put_sample(b, f->name, "_sum", s->labels, NULL, s->sum);
        put_sample(b, f->name, "_count", s->labels, NULL, (double)s->count);
    }
}

/* ---- this process ---- */

static void put_one(struct sbuf *b, const char *name, const char *type, const char *help, double v)
{
    put_header(b, name, help, type);
    put_sample(b, name, "", "", NULL, v);
}

/* Seconds since the epoch at which this process started, from /proc; 0 when unknown. */
static double process_start(void)
{
    static double start; /* computed once: it cannot change */
    if (start > 0) return start;
    char buf[1024];
    double btime = 0, ticks = 0;
    FILE *f = fopen("/proc/stat", "r");
    if (f) {
        while (fgets(buf, sizeof buf, f))
            if (!strncmp(buf, "btime ", 6)) btime = strtod(buf + 6, NULL);
        fclose(f);
    }
    f = fopen("/proc/self/stat", "r");
    if (f) {
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = '\0';
        fclose(f);
        char *p = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
        /* after ") " come the fields from the 3rd (state) on: starttime is the 22nd */
        for (int field = 2; p && field < 22; field++)
            p = strchr(p + 1, ' ');
        if (p) ticks = strtod(p + 1, NULL);
    }
    long hz = sysconf(_SC_CLK_TCK);
    if (btime > 0 && ticks > 0 && hz > 0) start = btime + ticks / (double)hz;
    return start;
}

static void render_process(struct sbuf *b)
{
    struct rusage ru;
    if (!getrusage(RUSAGE_SELF, &ru))
        put_one(b, "process_cpu_seconds_total", "counter",
                "Total user and system CPU time spent in seconds.",
                (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6);
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;
    long page = sysconf(_SC_PAGESIZE);
    if (f) {
        int got = fscanf(f, "%lu %lu", &size, &resident);
        fclose(f);
        if (got == 2 && page > 0) {
            put_one(b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
                    (double)resident * (double)page);
            put_one(b, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
                    (double)size * (double)page);
        }
    }
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        int n = 0, own = dirfd(d);
        struct dirent *e;
        while ((e = readdir(d)))
            if (e->d_name[0] != '.' && atoi(e->d_name) != own) n++;
        closedir(d);
        put_one(b, "process_open_fds", "gauge", "Number of open file descriptors.", n);
    }
    struct rlimit rl;
    if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur != RLIM_INFINITY)
        put_one(b, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
                (double)rl.rlim_cur);
    double start = process_start();
    if (start > 0)
        put_one(b, "process_start_time_seconds", "gauge",
                "Start time of the process since unix epoch in seconds.", start);
}

void metrics_render(struct sbuf *b)
{
    pthread_mutex_lock(&lock);
    /* The HTTP families come first and are always there, even before the first request. */
    family_get(http_requests, COUNTER, "HTTP requests by method, route and status", 0);
    family_get(http_duration, HISTOGRAM, "HTTP request latency by route", METRICS_FAST);
    render_family(b, family_get(http_requests, COUNTER, NULL, 0));
    render_family(b, family_get(http_duration, HISTOGRAM, NULL, 0));
    for (const struct family *f = families; f; f = f->next)
        if (strcmp(f->name, http_requests) && strcmp(f->name, http_duration)) render_family(b, f);
    pthread_mutex_unlock(&lock);
    render_process(b);
    put_header(b, "ragd_build_info", "The version of this ragd build (always 1).", "gauge");
    sb_printf(b, "ragd_build_info{version=\"%s\"} 1\n", RAGD_VERSION);
}
