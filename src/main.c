/* ragd - entry point: the command-line verbs. Only this file decides to exit. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/analytics_routes.h"
#include "api/api.h"
#include "api/kb_routes.h"
#include "api/sentiment_routes.h"
#include "api/tickets_routes.h"
#include "auth/auth.h"
#include "auth/password.h"
#include "auth/roles.h"
#include "billing/billing.h"
#include "billing/payments.h"
#include "cli/cli.h"
#include "cache/cache.h"
#include "core/config.h"
#include "core/config_vars.h"
#include "core/datadir.h"
#include "core/error.h"
#include "core/log.h"
#include "core/seal.h"
#include "core/mem.h"
#include "core/util.h"
#include "core/version.h"
#include "engine/quant.h"
#include "erasure/erasure.h"
#include "tools/engine_cli.h"
#include "http/http.h"
#include "knowledge/knowledge.h"
#include "limits/limiter.h"
#include "limits/limits.h"
#include "llm/provider.h"
#include "llm/router.h"
#include "ops/audit.h"
#include "ops/mail.h"
#include "ops/maintenance.h"
#include "ops/notify.h"
#include "ops/opsync.h"
#include "ops/reload.h"
#include "sentiment/sentiment.h"
#include "store/analytics.h"
#include "store/apikeys.h"
#include "store/chat.h"
#include "store/emailverify.h"
#include "store/ops_state.h"
#include "store/outbox.h"
#include "store/provider_keys.h"
#include "store/erasure.h"
#include "store/knowledge.h"
#include "store/orgs.h"
#include "store/tickets.h"
#include "store/payments.h"
#include "store/store.h"
#include "store/store_billing.h"
#include "support/widget.h"

/* ---- shared start-up ---- */

static void warn_misspelt(const char *name, const char *closest, void *ctx)
{
    (void)ctx;
    log_json(LOG_WARN, "unknown configuration variable: a misspelling?",
             json_pack("{s:s, s:s}", "variable", name, "did_you_mean", closest));
}

/* Loads .env, fills the data dir, opens and migrates the store. 0 or an exit status. */
static int start(struct cli_opts *o)
{
    char err[512] = "";
    if (config_load(".env", err, sizeof err)) {
        fprintf(stderr, "ragd: %s\n", err);
        return 2;
    }
    /* Every variable is checked against its row (core/config_vars.c) before anything reads it. */
    if (config_validate()) {
        fprintf(stderr, "ragd: invalid configuration: %s\n", config_errors());
        return 2;
    }
    /* the engine's kernel settings, .env's included, before any model loads */
    quant_configure(config_str("RAGD_ISA", NULL), config_str("RAGD_VECTOR_BITS", NULL));
    if (!o->data) o->data = config_str("RAGD_DATA_DIR", "./data");
    enum log_level lvl;
    if (!log_parse_level(config_str("LOG_LEVEL", "info"), &lvl)) log_set_level(lvl);
    config_suggest(warn_misspelt, NULL);
    int tightened;
    if (datadir_prepare(o->data, &tightened, err, sizeof err)) {
        fprintf(stderr, "ragd: %s\n", err);
        return 1;
    }
    if (tightened)
        log_json(LOG_WARN, "data directory was readable by others: made private (0700/0600)",
                 json_pack("{s:s, s:i}", "path", o->data, "entries", tightened));
    api_set_data_dir(o->data);
    char *def_url = xasprintf("sqlite://%s/ragd.db", o->data);
    const char *url = config_str("DATABASE_URL", def_url);
    int rc = db_open(url, err, sizeof err);
    free(def_url);
    if (rc) {
        fprintf(stderr, "ragd: database: %s\n", err);
        return 1;
    }
    store_billing_register();
    store_knowledge_register();
    store_chat_register();
    store_apikeys_register();
    store_erasure_register();
    store_emailverify_register();
    store_outbox_register();
    store_ops_register();
    store_payments_register();
    store_pkeys_register();
    store_orgs_register();    /* support desk: organizations, widget */
    store_tickets_register(); /* support desk: tickets, sentiment trail */

    store_analytics_register(); /* support desk: analytics indexes */
    if ((rc = store_migrate())) {
        fprintf(stderr, "ragd: migrations failed: %s\n", ragd_strerror(rc));
        return 1;
    }
    if (cache_open(config_str("REDIS_URL", NULL), config_bool("REDIS_FALLBACK_TO_MEMORY", 1), err,
                   sizeof err)) {
        fprintf(stderr, "ragd: %s\n", err);
        return 2;
    }
    limiter_open(cache_shared());
    store_cache_init();
    if (mail_init(err, sizeof err)) {
        fprintf(stderr, "ragd: %s\n", err);
        return 2;
    }
    /* A generated JWT secret is shared through the database when nodes can share one. */
    int secret_in_db = strcmp(db_backend(), "sqlite") != 0;
    if (auth_init(o->data, secret_in_db, err, sizeof err)) {
        fprintf(stderr, "ragd: %s\n", err);
        return 2;
    }
    /* Provider keys are sealed under ENCRYPTION_KEY (shared databases must configure it). */
    if (seal_init(o->data, secret_in_db, err, sizeof err)) {
        fprintf(stderr, "ragd: %s\n", err);
        return 2;
    }
    if (config_errors()) {
        fprintf(stderr, "ragd: invalid configuration: %s\n", config_errors());
        return 2;
    }
    return 0;
}

/* Models and the knowledge base: after start(). 0 or an exit status. */
static int start_knowledge(const char *data)
{
    char err[512] = "";
    if (prov_init(data, err, sizeof err)) {
        fprintf(stderr, "ragd: models: %s\n", err);
        return 2;
    }
    if (config_errors()) {
        fprintf(stderr, "ragd: invalid configuration: %s\n", config_errors());
        return 2;
    }
    if (knowledge_init(data, err, sizeof err)) {
        fprintf(stderr, "ragd: knowledge base: %s\n", err);
        return 1;
    }
    return 0;
}

/* Audit retention and SUPER_ADMIN_EMAIL: after start(). 0 or an exit status. */
static int start_roles(void)
{
    audit_init();
    if (config_errors()) {
        fprintf(stderr, "ragd: invalid configuration: %s\n", config_errors());
        return 2;
    }
    const char *email = config_str("SUPER_ADMIN_EMAIL", NULL);
    int changed = 0, rc = email ? roles_bootstrap(email, &changed) : 0;
    if (rc == RAGD_ENOTFOUND)
        log_json(LOG_WARN, "SUPER_ADMIN_EMAIL names no account yet; create it, then restart",
                 json_pack("{s:s}", "email", email));
    else if (rc)
        log_json(LOG_ERROR, "SUPER_ADMIN_EMAIL not applied",
                 json_pack("{s:s}", "error", ragd_strerror(rc)));
    else if (changed)
        log_json(LOG_WARN, "SUPER_ADMIN_EMAIL: account made super_admin",
                 json_pack("{s:s}", "email", email));
    return 0;
}

/* ---- serve ---- */

/* Ingestion is heavy work: it waits while any maintenance level is in force (this node's copy
 * of the level is refreshed here too, so a node that serves no requests still follows it). */
static atomic_int ops_ready; /* ops_sync_init has run: ticks may poll */

static int ingestion_paused(void)
{
    if (atomic_load(&ops_ready)) ops_sync_tick();
    return maint_level_now() != MAINT_NONE;
}

static const struct cli_verb serve_verb;

static int cmd_serve(int argc, char **argv)
{
    struct cli_opts o = {.port = -1};
    int rc = cli_parse_opts(argc, argv, &o, &serve_verb);
    if (rc) return rc == 1 ? 0 : rc;
    /* Signals are taken by sigwait below; block them before any thread starts. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP); /* reload (ops/reload.h), taken by sigwait too: no handler */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    if ((rc = start(&o))) return rc;
    const char *log_file = config_str("LOG_FILE", NULL);
    char lerr[512];
    if (log_file && log_open(log_file, lerr, sizeof lerr)) {
        fprintf(stderr, "ragd: %s\n", lerr);
        return 1;
    }

    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int env_port = (int)config_int("API_PORT", 8000, 0, 65535); /* validated even if --port */
    struct http_config hc = {
        .host = o.host ? o.host : config_str("API_HOST", "127.0.0.1"),
        .port = o.port >= 0 ? o.port : env_port,
        .threads = (int)config_int("API_WORKERS", ncpu < 2 ? 2 : ncpu, 1, 256),
        .workers = -1, /* after the models are loaded: see below */
        .max_body = (size_t)config_int("MAX_BODY_BYTES", 1 << 20, 1024, 1LL << 32),
        .max_header = (size_t)config_int("MAX_HEADER_BYTES", 16384, 1024, 1 << 20),
        /* A document upload may carry DOCUMENT_MAX_BYTES of file plus multipart framing. */
        .max_upload = (size_t)config_int("DOCUMENT_MAX_BYTES", 10 << 20, 1024, 1LL << 31) + 65536,
        .idle_timeout_s = (int)config_int("IDLE_TIMEOUT_SECONDS", 30, 1, 3600),
        .request_timeout_s = (int)config_int("REQUEST_TIMEOUT_SECONDS", 60, 1, 3600),
        .header_timeout_s = (int)config_int("HEADER_TIMEOUT_SECONDS", 10, 1, 3600),
        .max_connections = (int)config_int("MAX_CONNECTIONS", 4096, 1, 1 << 20),
        .max_connections_per_ip = (int)config_int("MAX_CONNECTIONS_PER_IP", 256, 1, 1 << 20),
        .cors_origins = config_str("CORS_ORIGINS", HTTP_CORS_DEFAULT),
        .trusted_proxies = config_str("TRUSTED_PROXIES", NULL),
    };
    int drain_s = (int)config_int("SHUTDOWN_DRAIN_SECONDS", 30, 0, 3600);
    if (config_errors()) {
        fprintf(stderr, "ragd: invalid configuration: %s\n", config_errors());
        return 2;
    }
    /* Maintenance pauses ingestion, from the first document a restart re-queues. */
    if ((rc = maint_reload())) {
        fprintf(stderr, "ragd: maintenance state: %s\n", ragd_strerror(rc));
        return 1;
    }
    knowledge_set_pause_check(ingestion_paused);
    if ((rc = start_knowledge(o.data))) return rc;
    char serr[512]; /* SENTIMENT_SCORER and SENTIMENT_MODEL: after the generator */
    if (sentiment_init(serr, sizeof serr)) {
        fprintf(stderr, "ragd: sentiment: %s\n", serr);
        return 2;
    }
    if ((rc = start_roles())) return rc; /* audit retention, SUPER_ADMIN_EMAIL */
    /* Generations block a worker while they run or wait for a session: the pool has room
     * for all of them on top of the threads for bcrypt, uploads and searches. */
    int base_workers = ncpu < 2 ? 4 : 2 * (int)ncpu;
    hc.workers = (int)config_int("WORKER_THREADS", base_workers + prov_worker_demand(), 1, 4096);
    /* Password hashing may hold at most this many workers, whatever the flood: a quarter of
     * them, at least two (two people logging in at once is no flood), never all. */
    int hash_slots = hc.workers / 4 > 2 ? hc.workers / 4 : 2;
    if (hash_slots >= hc.workers) hash_slots = hc.workers > 1 ? hc.workers - 1 : 1;
    auth_set_work_slots((int)config_int("BCRYPT_MAX_CONCURRENT", hash_slots, 1, 4096));
    if (config_errors()) {
        fprintf(stderr, "ragd: invalid configuration: %s\n", config_errors());
        return 2;
    }
    char err[256];
    if (billing_init(o.data, err, sizeof err) || limits_init(err, sizeof err) ||
        notify_init(err, sizeof err) || payments_init(err, sizeof err)) {
        fprintf(stderr, "ragd: %s\n", err);
        return 2;
    }
    if (ops_sync_init(err, sizeof err)) { /* maintenance, feature flags, plan edits */
        fprintf(stderr, "ragd: %s\n", err);
        return 1;
    }
    atomic_store(&ops_ready, 1);

    /* ---- the composition: every route table, guard and hook ---- */
    http_add_routes(health_routes);
    http_add_routes(auth_routes);
    http_add_routes(users_routes);
    http_add_routes(apikey_routes);
    http_add_routes(admin_routes);
    http_add_routes(stats_routes);
    http_add_routes(documents_routes);
    http_add_routes(search_routes);
    http_add_routes(chat_routes);
    http_add_routes(web_routes);
    web_api_init();
    http_add_routes(openai_routes);
    if (openai_api_init(err, sizeof err)) {
        fprintf(stderr, "ragd: invalid configuration: %s\n", err);
        return 2;
    }
    http_add_routes(notifications_routes);
    http_add_routes(provider_routes);
    api_add_health_check("providers", router_health_summary);
    prov_set_availability_hook(maint_feature_availability); /* no usable key -> maintenance */
    http_add_routes(orgs_routes); /* support desk: organizations, widget keys, the widget */
    http_add_routes(widget_routes);
    http_add_routes(analytics_routes); /* support desk: GET /analytics */
    http_set_preflight_hook(widget_api_preflight);
    widget_init();
    http_add_routes(sentiment_routes);
    http_add_routes(tickets_routes); /* support desk: agents' tickets */
    api_add_health_check("indexes", api_indexes_health);
    api_add_health_check("models", prov_health);
    api_add_health_check("operations", api_ops_health);
    http_set_json_filter(api_openai_error_shape);
    http_set_guard(GUARD_AUTH, api_auth_guard);
    http_add_routes(ops_routes);
    http_set_guard(GUARD_GATE, api_gate_guard);
    http_set_header_hook(api_gate_headers);
    /* With e-mail verification required, the quota guard also refuses unverified accounts
     * when billing is off. */
    if (billing_enabled() || auth_verification_required())
        http_set_guard(GUARD_QUOTA, api_quota_guard);
    if (billing_enabled()) {
        http_add_routes(billing_routes);
        auth_set_plan_hook(billing_plan_change_locked); /* admin plan changes are billed */
        if (payments_enabled()) http_add_routes(payments_routes); /* Stripe, Razorpay */
    }
    if (config_bool("RAGD_TEST_MODE", 0)) {
        log_msg(LOG_WARN, "RAGD_TEST_MODE is on: test routes and clock control are exposed");
        http_add_routes(billing_test_routes);
        http_add_routes(ops_test_routes);
        http_add_routes(notifications_test_routes);
    }
    if (limits_enabled()) http_set_guard(GUARD_RATE, api_rate_guard);
    if (api_check_permissions(err, sizeof err) || /* after every route table is registered */
        api_rate_resources(err, sizeof err) || api_openapi_check(err, sizeof err)) {
        fprintf(stderr, "ragd: %s\n", err);
        return 2;
    }

    erasure_start(); /* finishes erasures a crash interrupted, then keeps watch */
    notify_start();
    if (billing_enabled() && payments_enabled()) payments_start(); /* grace, period ends */
    if (http_start(&hc, err, sizeof err)) {
        fprintf(stderr, "ragd: %s\n", err);
        payments_stop();
        notify_stop();
        erasure_stop();
        return 1;
    }
    log_json(LOG_INFO, "ragd listening",
             json_pack("{s:s, s:i, s:s, s:s, s:i, s:i}", "host", hc.host, "port", http_port(),
                       "version", RAGD_VERSION, "database", db_backend(), "threads", hc.threads,
                       "workers", hc.workers));
    int sig = 0;
    while (!sigwait(&set, &sig) && sig == SIGHUP)
        ops_reload(o.data); /* here, in this thread: the signal itself runs no code */
    log_json(LOG_INFO, "shutting down",
             json_pack("{s:s, s:i}", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT", "inflight",
                       http_inflight()));
    http_stop(drain_s);
    payments_stop();
    notify_stop();
    mail_stop(); /* sends what is queued (each delivery is bounded by its timeouts) */
    erasure_stop();
    sentiment_shutdown();
    knowledge_shutdown();
    prov_shutdown();
    db_close();
    log_msg(LOG_INFO, "stopped");
    return 0;
}

static const struct cli_verb serve_verb = {
    .name = "serve",
    .args = "[--data DIR] [--port N] [--host ADDR]",
    .summary = "Serve the HTTP API.",
    .help = "Configuration comes from the environment and ./.env (see `ragd config check` and the\n"
            "README's table); the flags win. SIGTERM or SIGINT drains in-flight requests and\n"
            "exits 0. SIGHUP reopens LOG_FILE and applies new values of LOG_LEVEL, CORS_ORIGINS\n"
            "and PLANS_FILE from .env (the plans file is read again) without dropping a request.",
    .run = cmd_serve,
};

/* ---- the verbs: one row each ---- */

static const struct cli_verb *const verbs[] = {
    &serve_verb,       &cli_init_verb,
    &cli_user_verb,    &cli_apikey_verb,
    &cli_seed_verb,    &cli_ingest_verb,
    &cli_backup_verb,  &cli_restore_verb,
    &cli_erase_verb,   &cli_admin_verb,
    &cli_config_verb,  &cli_sentiment_verb,
    &cli_version_verb, NULL,
};

static void usage(FILE *f)
{
    fputs("usage: ragd <command> [options]     (ragd <command> --help for details)\n\n"
          "commands:\n",
          f);
    for (const struct cli_verb *const *v = verbs; *v; v++)
        fprintf(f, "  %-12s %s\n", (*v)->name, (*v)->summary);
    fputs("\nengine commands:\n", f);
    engine_cli_usage(f);
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) return cli_version_verb.run(1, argv + 1);
    static const struct cli_startup startup = {start, start_knowledge};
    cli_set_startup(&startup);
    for (const struct cli_verb *const *v = verbs; *v; v++)
        if (!strcmp((*v)->name, argv[1])) return (*v)->run(argc - 1, argv + 1);
    int rc = engine_cli_main(argc - 1, argv + 1);
    if (rc >= 0) return rc;
    fprintf(stderr, "ragd: unknown command '%s' (see ragd --help)\n", argv[1]);
    return 2;
}
