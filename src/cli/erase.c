/* erase.c - `ragd erase` and `ragd admin emergency-token`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/roles.h"
#include "cli/cli.h"
#include "core/error.h"
#include "core/util.h"
#include "erasure/erasure.h"
#include "store/store.h"

/* Erases a user (by id or e-mail), a document or an organization from the store, or
 * finishes the erasures left unfinished. Running nodes drop the documents from their
 * indexes through the change log. */
static int erase_run(int argc, char **argv)
{
    static const char *const kinds[] = {"user", "document", "organization", NULL};
    int resume = argc >= 2 && !strcmp(argv[1], "--resume");
    int k = -1;
    for (int i = 0; !resume && argc >= 3 && kinds[i]; i++)
        if (!strcmp(argv[1], kinds[i])) k = i;
    if (!resume && k < 0) return cli_usage(&cli_erase_verb, argc >= 2 && cli_is_help(argv[1]));
    struct cli_opts o = {0};
    int skip = resume ? 1 : 2;
    int rc = cli_parse_opts(argc - skip, argv + skip, &o, &cli_erase_verb);
    if (rc) return rc == 1 ? 0 : rc;
    if ((rc = cli_start(&o))) return rc;
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

const struct cli_verb cli_erase_verb = {
    .name = "erase",
    .args = "user|document|organization ID [--data DIR]\n--resume [--data DIR]",
    .summary = "Erase a user, a document or an organization, or finish interrupted erasures.",
    .help = "A user (ID or e-mail) goes with everything they own; an organization's documents go\n"
            "and its members are detached. Exit status 3 when there is no such thing.",
    .run = erase_run,
};

/* `ragd admin emergency-token [--email E]`: prints a single-use super_admin access token for
 * disaster recovery (auth/roles.h roles_emergency_token), audited and notified. */
static int admin_run(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "emergency-token"))
        return cli_usage(&cli_admin_verb, argc >= 2 && cli_is_help(argv[1]));
    struct cli_opts o = {0};
    int rc = cli_parse_opts(argc - 1, argv + 1, &o, &cli_admin_verb);
    if (rc) return rc == 1 ? 0 : rc;
    if ((rc = cli_start(&o))) return rc;
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

const struct cli_verb cli_admin_verb = {
    .name = "admin",
    .args = "emergency-token [--email E] [--data DIR]",
    .summary = "Print a single-use super_admin access token for disaster recovery.",
    .help = "The token is valid 15 minutes, for the account E, else the oldest active\n"
            "super_admin (or admin). It works for one request (e.g. PUT /users/{id}/role); its\n"
            "issue and its use are audited and sent as security notifications.",
    .run = admin_run,
};
