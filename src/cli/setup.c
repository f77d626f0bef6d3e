/* setup.c - `ragd init`, `ragd seed --demo`, `ragd version`. */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "cli/cli.h"
#include "core/config.h"
#include "core/error.h"
#include "core/version.h"
#include "knowledge/knowledge.h"
#include "llm/provider.h"
#include "store/store.h"

static int init_run(int argc, char **argv)
{
    struct cli_opts o = {0};
    int rc = cli_parse_opts(argc, argv, &o, &cli_init_verb);
    if (rc) return rc == 1 ? 0 : rc;
    if ((rc = cli_start(&o))) return rc;
    int version = 0;
    store_schema_version(&version);
    printf("{\"data_dir\":\"%s\",\"database\":\"%s\",\"schema_version\":%d}\n", o.data,
           db_backend(), version);
    db_close();
    return 0;
}

const struct cli_verb cli_init_verb = {
    .name = "init",
    .args = "[--data DIR]",
    .summary = "Create the data directory, the database and its tables, and the JWT secret.",
    .help = "Idempotent: an existing data directory is migrated to the current schema.",
    .run = init_run,
};

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
    int rc = cli_start_knowledge(api_data_dir());
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

static int seed_run(int argc, char **argv)
{
    struct cli_opts o = {0};
    int rc = cli_parse_opts(argc, argv, &o, &cli_seed_verb);
    if (rc) return rc == 1 ? 0 : rc;
    if (!o.demo) {
        fprintf(stderr, "ragd seed: nothing to do (use --demo)\n");
        return 2;
    }
    if ((rc = cli_start(&o))) return rc;
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
        rc =
            cli_user_create(demo[i].email, demo[i].password, demo[i].plan, demo[i].role, NULL, org);
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

const struct cli_verb cli_seed_verb = {
    .name = "seed",
    .args = "--demo [--data DIR]",
    .summary = "Create the demo organization, the demo users and the demo knowledge base.",
    .help = "Creates the Default Organization and the demo users: admin@example.com\n"
            "(super_admin, enterprise), test@example.com (pro), free@example.com (free), and\n"
            "ingests the demo knowledge base (docs/*.md, or KNOWLEDGE_DOCS_DIR) unless\n"
            "SEED_DEMO_DOCS=false. Idempotent.",
    .run = seed_run,
};

static int version_run(int argc, char **argv)
{
    if (argc >= 2 && cli_is_help(argv[1])) return cli_usage(&cli_version_verb, 1);
    printf("ragd %s\n", RAGD_VERSION);
    return 0;
}

const struct cli_verb cli_version_verb = {
    .name = "version",
    .args = "",
    .summary = "Print the version.",
    .help = NULL,
    .run = version_run,
};
