/* ragd - entry point: the command-line verbs. Only this file decides to exit. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "api/kb_routes.h"
#include "api/sentiment_routes.h"
#include "auth/auth.h"
#include "auth/password.h"
#include "auth/roles.h"
#include "billing/billing.h"
#include "cache/cache.h"
#include "core/config.h"
#include "core/datadir.h"
#include "core/error.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/util.h"
#include "core/version.h"
#include "erasure/erasure.h"
#include "engine/engine_cli.h"
#include "http/http.h"
#include "knowledge/knowledge.h"
#include "limits/limiter.h"
#include "limits/limits.h"
#include "llm/provider.h"
#include "ops/audit.h"
#include "ops/mail.h"
#include "ops/opsync.h"
#include "ops/notify.h"
#include "sentiment/sentiment.h"
#include "store/apikeys.h"
#include "store/chat.h"
#include "store/emailverify.h"
#include "store/ops_state.h"
#include "store/outbox.h"
#include "store/erasure.h"
#include "store/knowledge.h"
#include "store/store.h"
#include "store/store_billing.h"

struct verb {
    const char *name, *args, *help;
    int (*run)(int argc, char **argv);
};

static const struct verb *find_verb(const char *name);

/* ---- shared start-up ---- */

struct opts {
    const char *data, *host, *email, *password, *plan, *username;
    int port, admin, demo;
};

static int parse_opts(int argc, char **argv, struct opts *o, const char *verb)
{
    static const struct option lo[] = {
        {"data", required_argument, 0, 'd'},
        {"port", required_argument, 0, 'p'},
        {"host", required_argument, 0, 'H'},
        {"email", required_argument, 0, 'e'},
        {"password", required_argument, 0, 'w'},
        {"plan", required_argument, 0, 'P'},
        {"username", required_argument, 0, 'u'},
        {"admin", no_argument, 0, 'a'},
        {"demo", no_argument, 0, 'D'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'd':
            o->data = optarg;
            break;
        case 'p': {
            char *end;
            long p = strtol(optarg, &end, 10);
            if (*end || p < 0 || p > 65535) {
                fprintf(stderr, "ragd %s: --port must be 0..65535\n", verb);
                return 2;
            }
            o->port = (int)p;
            break;
        }
        case 'H':
            o->host = optarg;
            break;
        case 'e':
            o->email = optarg;
            break;
        case 'w':
            o->password = optarg;
            break;
        case 'P':
            o->plan = optarg;
            break;
        case 'u':
            o->username = optarg;
            break;
        case 'a':
            o->admin = 1;
            break;
        case 'D':
            o->demo = 1;
            break;
        case 'h': {
            const struct verb *v = find_verb(verb);
            printf("usage: ragd %s %s\n\n%s\n", verb, v->args, v->help);
            return 1;
        }
        default:
            return 2;
        }
    }
    return 0;
}

/* Loads .env, fills the data dir, opens and migrates the store. 0 or an exit status. */
static int start(struct opts *o)
{
    char err[512] = "";
    if (config_load(".env", err, sizeof err)) {
        fprintf(stderr, "ragd: %s\n", err);
        return 2;
    }
    if (!o->data) o->data = config_str("RAGD_DATA_DIR", "./data");
    enum log_level lvl;
    if (!log_parse_level(config_str("LOG_LEVEL", "info"), &lvl)) log_set_level(lvl);
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

static int cmd_serve(int argc, char **argv)
{
    struct opts o = {.port = -1};
    int rc = parse_opts(argc, argv, &o, "serve");
    if (rc) return rc == 1 ? 0 : rc;
    /* Signals are taken by sigwait below; block them before any thread starts. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    if ((rc = start(&o))) return rc;

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
        .cors_origins = config_str("CORS_ORIGINS", "[\"http://localhost:3000\"]"),
    };
    int drain_s = (int)config_int("SHUTDOWN_DRAIN_SECONDS", 30, 0, 3600);
    if (config_errors()) {
        fprintf(stderr, "ragd: invalid configuration: %s\n", config_errors());
        return 2;
    }
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
        notify_init(err, sizeof err)) {
        fprintf(stderr, "ragd: %s\n", err);
        return 2;
    }
    if (ops_sync_init(err, sizeof err)) { /* maintenance, feature flags, plan edits */
        fprintf(stderr, "ragd: %s\n", err);
        return 1;
    }

    /* ---- the composition: every route table, guard and hook ---- */
    http_add_routes(health_routes);
    http_add_routes(auth_routes);
    http_add_routes(users_routes);
    http_add_routes(apikey_routes);
    http_add_routes(admin_routes);
    http_add_routes(documents_routes);
    http_add_routes(search_routes);
    http_add_routes(chat_routes);
    http_add_routes(web_routes);
    web_api_init();
    http_add_routes(openai_routes);
    openai_api_init();
    http_add_routes(notifications_routes);
    http_add_routes(sentiment_routes);
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
    }
    if (config_bool("RAGD_TEST_MODE", 0)) {
        log_msg(LOG_WARN, "RAGD_TEST_MODE is on: test routes and clock control are exposed");
        http_add_routes(billing_test_routes);
        http_add_routes(ops_test_routes);
        http_add_routes(notifications_test_routes);
    }
    if (limits_enabled()) http_set_guard(GUARD_RATE, api_rate_guard);
    if (api_check_permissions(err, sizeof err) || /* after every route table is registered */
        api_rate_resources(err, sizeof err)) {
        fprintf(stderr, "ragd: %s\n", err);
        return 2;
    }

    erasure_start(); /* finishes erasures a crash interrupted, then keeps watch */
    notify_start();
    if (http_start(&hc, err, sizeof err)) {
        fprintf(stderr, "ragd: %s\n", err);
        notify_stop();
        erasure_stop();
        return 1;
    }
    log_json(LOG_INFO, "ragd listening",
             json_pack("{s:s, s:i, s:s, s:s, s:i, s:i}", "host", hc.host, "port", http_port(),
                       "version", RAGD_VERSION, "database", db_backend(), "threads", hc.threads,
                       "workers", hc.workers));
    int sig = 0;
    sigwait(&set, &sig);
    log_json(LOG_INFO, "shutting down",
             json_pack("{s:s, s:i}", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT", "inflight",
                       http_inflight()));
    http_stop(drain_s);
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

/* ---- erase ---- */

/* Erases a user (by id or e-mail), a document or an organization from the store, or
 * finishes the erasures left unfinished. Running nodes drop the documents from their
 * indexes through the change log. */
static int cmd_erase(int argc, char **argv)
{
    static const char *const kinds[] = {"user", "document", "organization", NULL};
    int resume = argc >= 2 && !strcmp(argv[1], "--resume");
    int k = -1;
    for (int i = 0; !resume && argc >= 3 && kinds[i]; i++)
        if (!strcmp(argv[1], kinds[i])) k = i;
    if (!resume && k < 0) {
        const struct verb *v = find_verb("erase");
        int help = argc >= 2 && !strcmp(argv[1], "--help");
        fprintf(help ? stdout : stderr, "usage: ragd erase %s\n\n%s\n", v->args, v->help);
        return help ? 0 : 2;
    }
    struct opts o = {0};
    int skip = resume ? 1 : 2;
    int rc = parse_opts(argc - skip, argv + skip, &o, "erase");
    if (rc) return rc == 1 ? 0 : rc;
    if ((rc = start(&o))) return rc;
    char job[37] = "";
    int finished = 0;
    if (resume) {
        rc = erasure_resume(&finished);
    } else {
        const char *id = argv[2];
        struct user u = {0};
        if (k == 0 && strchr(id, '@')) { /* a user named by e-mail */
            rc = store_user_get_by_email(id, &u);
            id = u.id;
        }
        json_t *via = json_pack("{s:s}", "via", "cli");
        struct audit_entry audit = {.action = k == 0   ? "user.delete"
                                              : k == 1 ? "document.delete"
                                                       : "organization.delete",
                                    .target_type = kinds[k],
                                    .target_id = id,
                                    .details = via};
        if (!rc)
            rc = k == 0   ? erasure_user(id, &audit, job)
                 : k == 1 ? erasure_document(id, &audit, job)
                          : erasure_organization(id, &audit, job);
        json_decref(via);
        store_user_clear(&u);
    }
    if (rc) {
        fprintf(stderr, "ragd erase: %s%s\n", ragd_strerror(rc),
                job[0] ? " (recorded: finished by the next ragd erase --resume or serve)" : "");
        rc = rc == RAGD_ENOTFOUND ? 3 : 1;
    } else if (resume) {
        printf("{\"finished\":%d}\n", finished);
    } else {
        printf("{\"job_id\":\"%s\",\"kind\":\"%s\",\"state\":\"done\"}\n", job, kinds[k]);
    }
    db_close();
    return rc;
}

/* ---- init, user, seed ---- */

static int cmd_init(int argc, char **argv)
{
    struct opts o = {0};
    int rc = parse_opts(argc, argv, &o, "init");
    if (rc) return rc == 1 ? 0 : rc;
    if ((rc = start(&o))) return rc;
    int version = 0;
    store_schema_version(&version);
    printf("{\"data_dir\":\"%s\",\"database\":\"%s\",\"schema_version\":%d}\n", o.data,
           db_backend(), version);
    db_close();
    return 0;
}

static int plan_ok(const char *p)
{
    return p && (!strcmp(p, "free") || !strcmp(p, "pro") || !strcmp(p, "enterprise"));
}

/* Creates a user unless the e-mail exists. Returns 0 created, 1 existed, <0 error. */
static int create_user(const char *email, const char *password, const char *plan, const char *role,
                       const char *username, const char *org_id)
{
    struct user u = {0};
    if (store_user_get_by_email(email, &u) == 0) {
        store_user_clear(&u);
        return 1;
    }
    snprintf(u.email, sizeof u.email, "%s", email);
    for (char *p = u.email; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    snprintf(u.username, sizeof u.username, "%s", username ? username : "");
    snprintf(u.subscription_plan, sizeof u.subscription_plan, "%s", plan ? plan : "free");
    snprintf(u.organization_id, sizeof u.organization_id, "%s", org_id ? org_id : "");
    u.is_active = 1;
    u.is_verified = 1;
    snprintf(u.role, sizeof u.role, "%s", role);
    int rc =
        password_hash(password, auth_bcrypt_rounds(), u.hashed_password, sizeof u.hashed_password);
    if (!rc) rc = store_user_create(&u);
    return rc;
}

static int cmd_user(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "create") && strcmp(argv[1], "set-plan"))) {
        const struct verb *v = find_verb("user");
        fprintf(argc < 2 ? stderr : stdout, "usage: ragd user %s\n\n%s\n", v->args, v->help);
        return argc >= 2 && !strcmp(argv[1], "--help") ? 0 : 2;
    }
    const char *sub = argv[1];
    struct opts o = {0};
    int rc = parse_opts(argc - 1, argv + 1, &o, "user");
    if (rc) return rc == 1 ? 0 : rc;
    if (!o.email || (!strcmp(sub, "create") && !o.password) ||
        (!strcmp(sub, "set-plan") && !o.plan)) {
        fprintf(stderr, "ragd user %s: missing --email%s\n", sub,
                !strcmp(sub, "create") ? " or --password" : " or --plan");
        return 2;
    }
    if (o.plan && !plan_ok(o.plan)) {
        fprintf(stderr, "ragd user: --plan must be free, pro or enterprise\n");
        return 2;
    }
    if (!email_valid(o.email)) {
        fprintf(stderr, "ragd user: '%s' is not a valid e-mail address\n", o.email);
        return 2;
    }
    if ((rc = start(&o))) return rc;
    if (!strcmp(sub, "create")) {
        size_t n = strlen(o.password);
        if (n < PASSWORD_MIN || n > PASSWORD_MAX) {
            fprintf(stderr, "ragd user create: password must be 8 to 72 bytes\n");
            return 2;
        }
        rc = create_user(o.email, o.password, o.plan, o.admin ? "admin" : "user", o.username, NULL);
        if (rc == 1) {
            fprintf(stderr, "ragd user create: %s already exists\n", o.email);
            rc = 1;
        } else if (rc) {
            fprintf(stderr, "ragd user create: %s\n", ragd_strerror(rc));
            rc = 1;
        } else {
            printf("created %s (%s%s)\n", o.email, o.plan ? o.plan : "free",
                   o.admin ? ", admin" : "");
        }
    } else {
        struct user u;
        rc = store_user_get_by_email(o.email, &u);
        if (!rc) {
            json_t *patch = json_pack("{s:s}", "subscription_plan", o.plan);
            rc = store_user_update(u.id, patch);
            json_decref(patch);
            store_user_clear(&u);
        }
        if (rc) {
            fprintf(stderr, "ragd user set-plan: %s\n", ragd_strerror(rc));
            rc = 1;
        } else {
            printf("%s is now on %s\n", o.email, o.plan);
        }
    }
    db_close();
    return rc;
}

/* Ingests the demo corpus (docs/) as shared documents owned by the demo admin and waits
 * for the ingestion to finish. */
static int seed_docs(void)
{
    if (!config_bool("SEED_DEMO_DOCS", 1)) return 0;
    const char *dir = knowledge_docs_dir();
    if (!dir) {
        printf("no docs/ directory found: demo knowledge base not seeded\n");
        return 0;
    }
    /* This process ingests the demo documents itself and waits for them. */
    config_set("INGEST_QUEUE", "local");
    int rc = start_knowledge(api_data_dir());
    if (rc) return rc;
    struct user admin;
    if (store_user_get_by_email("admin@example.com", &admin)) {
        fprintf(stderr, "ragd seed: the demo admin is missing\n");
        knowledge_shutdown();
        return 1;
    }
    struct kn_seed_summary summary;
    rc = knowledge_seed_dir(dir, admin.id, &summary);
    store_user_clear(&admin);
    if (!rc) rc = knowledge_wait_idle(600000);
    if (rc)
        fprintf(stderr, "ragd seed: %s\n", ragd_strerror(rc));
    else
        printf("demo knowledge base: %zu files, %zu ingested, %zu already present, %zu failed\n",
               summary.files, summary.ingested, summary.skipped, summary.failed);
    knowledge_seed_summary_free(&summary);
    knowledge_shutdown();
    prov_shutdown();
    return rc ? 1 : 0;
}

static int cmd_seed(int argc, char **argv)
{
    struct opts o = {0};
    int rc = parse_opts(argc, argv, &o, "seed");
    if (rc) return rc == 1 ? 0 : rc;
    if (!o.demo) {
        fprintf(stderr, "ragd seed: nothing to do (use --demo)\n");
        return 2;
    }
    if ((rc = start(&o))) return rc;
    char org[37];
    if (store_org_find("Default Organization", org)) {
        rc = store_org_create("Default Organization", "example.com",
                              "{\"max_users\":100,\"features_enabled\":[\"chat\",\"search\","
                              "\"analytics\"]}",
                              org);
        if (rc) {
            fprintf(stderr, "ragd seed: %s\n", ragd_strerror(rc));
            return 1;
        }
    }
    /* The demo's administrator owns the demo: a super_admin (auth/roles.h). */
    static const struct {
        const char *email, *password, *plan, *role;
        int admin;
    } demo[] = {
        {"admin@example.com", "adminpassword123", "enterprise", "super_admin", 1},
        {"test@example.com", "testpassword123", "pro", "user", 0},
        {"free@example.com", "freepassword123", "free", "user", 0},
    };
    for (size_t i = 0; i < sizeof demo / sizeof demo[0]; i++) {
        rc = create_user(demo[i].email, demo[i].password, demo[i].plan, demo[i].role, NULL, org);
        if (rc < 0) {
            fprintf(stderr, "ragd seed: %s: %s\n", demo[i].email, ragd_strerror(rc));
            return 1;
        }
        printf("%s %s (%s%s)\n", rc ? "exists " : "created", demo[i].email, demo[i].plan,
               demo[i].admin ? ", admin" : "");
    }
    rc = seed_docs();
    db_close();
    return rc;
}

/* ---- admin ---- */

/* `ragd admin emergency-token [--email E]`: prints a single-use super_admin access token for
 * disaster recovery (auth/roles.h roles_emergency_token), audited and notified. */
static int cmd_admin(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "emergency-token")) {
        const struct verb *v = find_verb("admin");
        int help = argc >= 2 && !strcmp(argv[1], "--help");
        fprintf(help ? stdout : stderr, "usage: ragd admin %s\n\n%s\n", v->args, v->help);
        return help ? 0 : 2;
    }
    struct opts o = {0};
    int rc = parse_opts(argc - 1, argv + 1, &o, "admin");
    if (rc) return rc == 1 ? 0 : rc;
    if ((rc = start(&o))) return rc;
    struct roles_emergency em;
    rc = roles_emergency_token(o.email, &em);
    if (rc) {
        fprintf(stderr, "ragd admin emergency-token: %s\n",
                rc == RAGD_ENOTFOUND ? (o.email ? "no such account" : "no active admin account")
                                     : ragd_strerror(rc));
        db_close();
        return rc == RAGD_ENOTFOUND ? 3 : 1;
    }
    char exp[32];
    printf("{\"access_token\":\"%s\",\"token_type\":\"bearer\",\"user_id\":\"%s\","
           "\"email\":\"%s\",\"role\":\"super_admin\",\"single_use\":true,"
           "\"expires_at\":\"%s\"}\n",
           em.token, em.user_id, em.email, time_iso(em.expires_ms, exp));
    explicit_bzero(em.token, strlen(em.token));
    free(em.token);
    db_close();
    return 0;
}

static int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("ragd %s\n", RAGD_VERSION);
    return 0;
}

static const struct verb verbs[] = {
    {"serve", "[--data DIR] [--port N] [--host ADDR]",
     "Serve the HTTP API. Configuration comes from the environment and ./.env (API_HOST,\n"
     "API_PORT, DATABASE_URL, JWT_SECRET_KEY, BCRYPT_ROUNDS, CORS_ORIGINS, ...); flags win.\n"
     "SIGTERM or SIGINT drains in-flight requests and exits 0.",
     cmd_serve},
    {"init", "[--data DIR]",
     "Create the data directory, the database and its tables, and the JWT secret.", cmd_init},
    {"user",
     "create --email E --password P [--plan free|pro|enterprise] [--admin] [--username U]"
     " [--data DIR]\n       ragd user set-plan --email E --plan PLAN [--data DIR]",
     "Create a user, or change a user's plan.", cmd_user},
    {"seed", "--demo [--data DIR]",
     "Create the Default Organization and the demo users: admin@example.com (admin,\n"
     "enterprise), test@example.com (pro), free@example.com (free), and ingest the demo\n"
     "knowledge base (docs/*.md, or KNOWLEDGE_DOCS_DIR) unless SEED_DEMO_DOCS=false.\n"
     "Idempotent.",
     cmd_seed},
    {"erase", "user|document|organization ID [--data DIR] | --resume [--data DIR]",
     "Erase a user (ID or e-mail) with everything they own, a document, or an organization\n"
     "(its documents; its members are detached), or finish interrupted erasures.\n"
     "Exit status 3 when there is no such thing.",
     cmd_erase},
    {"admin", "emergency-token [--email E] [--data DIR]",
     "Print a single-use super_admin access token valid 15 minutes, for disaster recovery:\n"
     "for the account E, else the oldest active super_admin (or admin). The token works for\n"
     "one request (e.g. PUT /users/{id}/role); its issue and its use are audited and sent as\n"
     "security notifications.",
     cmd_admin},
    {"sentiment", "score TEXT... | eval FILE [--errors]",
     "Score messages with the sentiment scorer, or measure it on a labelled file.",
     sentiment_cli},
    {"version", "", "Print the version.", cmd_version},
    {NULL, NULL, NULL, NULL},
};

static const struct verb *find_verb(const char *name)
{
    for (const struct verb *v = verbs; v->name; v++)
        if (!strcmp(v->name, name)) return v;
    return NULL;
}

static void usage(FILE *f)
{
    fputs("usage: ragd <command> [options]     (ragd <command> --help for details)\n\n"
          "commands:\n",
          f);
    for (const struct verb *v = verbs; v->name; v++) {
        const char *nl = strchr(v->help, '\n');
        fprintf(f, "  %-12s %.*s\n", v->name, nl ? (int)(nl - v->help) : (int)strlen(v->help),
                v->help);
    }
    engine_cli_usage(f);
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) return cmd_version(0, NULL);
    const struct verb *v = find_verb(argv[1]);
    if (v) return v->run(argc - 1, argv + 1);
    int rc = engine_cli_main(argc - 1, argv + 1);
    if (rc >= 0) return rc;
    fprintf(stderr, "ragd: unknown command '%s' (see ragd --help)\n", argv[1]);
    return 2;
}
