/* user.c - `ragd user create|set-plan|list|delete|passwd`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "auth/password.h"
#include "cli/cli.h"
#include "core/error.h"
#include "core/util.h"
#include "erasure/erasure.h"
#include "ops/audit.h"
#include "store/store.h"

static int plan_ok(const char *p)
{
    return p && (!strcmp(p, "free") || !strcmp(p, "pro") || !strcmp(p, "enterprise"));
}

int cli_user_create(const char *email, const char *password, const char *plan, const char *role,
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

int cli_find_user(const char *who, struct user *u)
{
    if (strchr(who, '@')) return store_user_get_by_email(who, u);
    if (!uuid_valid(who)) return RAGD_ENOTFOUND;
    return store_user_get(who, u);
}

static int password_ok(const char *sub, const char *pw)
{
    size_t n = strlen(pw);
    if (n < PASSWORD_MIN || n > PASSWORD_MAX) {
        fprintf(stderr, "ragd user %s: password must be %d to %d bytes\n", sub, PASSWORD_MIN,
                PASSWORD_MAX);
        return 0;
    }
    return 1;
}

static int user_create(struct cli_opts *o)
{
    char typed[PASSWORD_MAX + 2] = "";
    const char *pw = o->password;
    if (pw)
        fprintf(stderr, "ragd user create: warning: a password given as an argument is visible to "
                        "other users of this machine; leave --password out to be asked for it\n");
    if (!pw) {
        if (cli_read_password("Password: ", 1, o->stdin_password, typed, sizeof typed)) return 2;
        pw = typed;
    }
    if (!password_ok("create", pw)) return 2;
    int rc = cli_user_create(o->email, pw, o->plan, o->admin ? "admin" : "user", o->username, NULL);
    explicit_bzero(typed, sizeof typed);
    if (rc == 1) {
        fprintf(stderr, "ragd user create: %s already exists\n", o->email);
        return 1;
    }
    if (rc) {
        fprintf(stderr, "ragd user create: %s\n", ragd_strerror(rc));
        return 1;
    }
    printf("created %s (%s%s)\n", o->email, o->plan ? o->plan : "free", o->admin ? ", admin" : "");
    return 0;
}

static int user_set_plan(struct cli_opts *o)
{
    struct user u;
    int rc = store_user_get_by_email(o->email, &u);
    if (!rc) {
        json_t *patch = json_pack("{s:s}", "subscription_plan", o->plan);
        rc = store_user_update(u.id, patch);
        json_decref(patch);
        store_user_clear(&u);
    }
    if (rc) {
        fprintf(stderr, "ragd user set-plan: %s\n", ragd_strerror(rc));
        return 1;
    }
    printf("%s is now on %s\n", o->email, o->plan);
    return 0;
}

/* One JSON object per user, oldest first, in pages so a large table is not held at once. */
static int user_list(struct cli_opts *o)
{
    struct user_filter f = {.email_like = o->email, .plan = o->plan, .is_active = -1};
    int64_t offset = 0, total = 0;
    for (;;) {
        struct user *items = NULL;
        int n = 0;
        int rc = store_user_list(&f, 500, offset, &items, &n, &total);
        if (rc) {
            fprintf(stderr, "ragd user list: %s\n", ragd_strerror(rc));
            return 1;
        }
        for (int i = 0; i < n; i++) {
            struct user *u = &items[i];
            json_t *j = json_pack(
                "{s:s, s:s, s:s?, s:s, s:s, s:b, s:b, s:s?, s:s}", "id", u->id, "email", u->email,
                "username", u->username[0] ? u->username : NULL, "role", u->role, "plan",
                u->subscription_plan, "is_active", u->is_active, "is_verified", u->is_verified,
                "organization_id", u->organization_id[0] ? u->organization_id : NULL, "created_at",
                u->created_at);
            char *s = json_dumps(j, JSON_COMPACT);
            puts(s);
            free(s);
            json_decref(j);
        }
        store_user_list_free(items, n);
        offset += n;
        if (n == 0 || offset >= total) break;
    }
    return 0;
}

static int user_delete(const char *who)
{
    struct user u = {0};
    int rc = cli_find_user(who, &u);
    char job[37] = "";
    if (!rc) {
        json_t *via = json_pack("{s:s}", "via", "cli");
        struct audit_entry audit = {
            .action = "user.delete", .target_type = "user", .target_id = u.id, .details = via};
        rc = erasure_user(u.id, &audit, job);
        json_decref(via);
    }
    if (rc) {
        fprintf(stderr, "ragd user delete: %s%s\n",
                rc == RAGD_ENOTFOUND ? "no such user" : ragd_strerror(rc),
                job[0] ? " (recorded: finished by the next ragd erase --resume or serve)" : "");
        store_user_clear(&u);
        return rc == RAGD_ENOTFOUND ? 3 : 1;
    }
    printf("{\"deleted\":\"%s\",\"id\":\"%s\",\"job_id\":\"%s\"}\n", u.email, u.id, job);
    store_user_clear(&u);
    return 0;
}

/* Sets a new password and ends every session the user holds. */
static int user_passwd(const char *who, struct cli_opts *o)
{
    struct user u = {0};
    int rc = cli_find_user(who, &u);
    if (rc) {
        fprintf(stderr, "ragd user passwd: %s\n",
                rc == RAGD_ENOTFOUND ? "no such user" : ragd_strerror(rc));
        return rc == RAGD_ENOTFOUND ? 3 : 1;
    }
    char pw[PASSWORD_MAX + 2];
    char prompt[300];
    snprintf(prompt, sizeof prompt, "New password for %s: ", u.email);
    if (cli_read_password(prompt, 1, o->stdin_password, pw, sizeof pw)) {
        store_user_clear(&u);
        return 2;
    }
    if (!password_ok("passwd", pw)) {
        explicit_bzero(pw, sizeof pw);
        store_user_clear(&u);
        return 2;
    }
    char hash[128];
    rc = password_hash(pw, auth_bcrypt_rounds(), hash, sizeof hash);
    explicit_bzero(pw, sizeof pw);
    if (!rc) {
        json_t *patch = json_pack("{s:s}", "hashed_password", hash);
        rc = store_user_update(u.id, patch);
        json_decref(patch);
    }
    if (!rc) rc = store_user_revoke_sessions(u.id, time_now_ms());
    if (!rc) {
        json_t *via = json_pack("{s:s}", "via", "cli");
        rc = store_audit_add(&(struct audit_entry){.action = "user.password_reset",
                                                   .target_type = "user",
                                                   .target_id = u.id,
                                                   .details = via});
        json_decref(via);
    }
    if (rc) {
        fprintf(stderr, "ragd user passwd: %s\n", ragd_strerror(rc));
        store_user_clear(&u);
        return 1;
    }
    printf("password of %s changed; every session of theirs has ended\n", u.email);
    store_user_clear(&u);
    return 0;
}

static int run(int argc, char **argv)
{
    static const char *const subs[] = {"create", "set-plan", "list", "delete", "passwd", NULL};
    const char *sub = argc >= 2 ? argv[1] : NULL;
    int k = -1;
    for (int i = 0; sub && subs[i]; i++)
        if (!strcmp(sub, subs[i])) k = i;
    if (k < 0) return cli_usage(&cli_user_verb, cli_is_help(sub));
    /* delete and passwd name the user first: ragd user delete WHO [--data DIR] */
    const char *who = NULL;
    int skip = 1;
    if (k >= 3) {
        if (argc < 3 || argv[2][0] == '-') {
            if (argc >= 3 && cli_is_help(argv[2])) return cli_usage(&cli_user_verb, 1);
            fprintf(stderr, "ragd user %s: name the user (e-mail or id)\n", sub);
            return 2;
        }
        who = argv[2];
        skip = 2;
    }
    struct cli_opts o = {0};
    int rc = cli_parse_opts(argc - skip, argv + skip, &o, &cli_user_verb);
    if (rc) return rc == 1 ? 0 : rc;
    if (k <= 1 && (!o.email || (k == 1 && !o.plan))) {
        fprintf(stderr, "ragd user %s: missing --email%s\n", sub, k == 1 ? " or --plan" : "");
        return 2;
    }
    if (k == 4 && o.password) {
        fprintf(stderr, "ragd user passwd: the password is read from a prompt or --stdin, "
                        "never from the command line\n");
        return 2;
    }
    if (o.plan && !plan_ok(o.plan)) {
        fprintf(stderr, "ragd user: --plan must be free, pro or enterprise\n");
        return 2;
    }
    if (k <= 1 && !email_valid(o.email)) {
        fprintf(stderr, "ragd user: '%s' is not a valid e-mail address\n", o.email);
        return 2;
    }
    if ((rc = cli_start(&o))) return rc;
    switch (k) {
    case 0:
        rc = user_create(&o);
        break;
    case 1:
        rc = user_set_plan(&o);
        break;
    case 2:
        rc = user_list(&o);
        break;
    case 3:
        rc = user_delete(who);
        break;
    default:
        rc = user_passwd(who, &o);
        break;
    }
    db_close();
    return rc;
}

const struct cli_verb cli_user_verb = {
    .name = "user",
    .args = "create --email E [--password P | --stdin] [--plan free|pro|enterprise] [--admin]\n"
            "[--username U] [--data DIR]\n"
            "set-plan --email E --plan PLAN [--data DIR]\n"
            "list [--email SUBSTRING] [--plan PLAN] [--data DIR]\n"
            "delete EMAIL|ID [--data DIR]\n"
            "passwd EMAIL|ID [--stdin] [--data DIR]",
    .summary = "Create, list, re-plan or delete users, or set a user's password.",
    .help =
        "create: without --password the password is asked for on the terminal (not echoed,\n"
        "  twice) or read as one line from standard input (--stdin, or when it is not a\n"
        "  terminal). An argument is visible to other users of the machine: prefer the prompt.\n"
        "list: one JSON object per user.\n"
        "delete: erases the user with everything they own (as `ragd erase user`).\n"
        "passwd: reads the new password like create (never from the command line) and ends\n"
        "  every session the user holds.\n"
        "Exit status 3 when there is no such user.",
    .run = run,
};
