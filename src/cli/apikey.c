/* apikey.c - `ragd apikey create|list|revoke`: personal API keys of a user (auth/auth.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "cli/cli.h"
#include "core/error.h"
#include "store/apikeys.h"
#include "store/store.h"

static int run(int argc, char **argv)
{
    static const char *const subs[] = {"create", "list", "revoke", NULL};
    const char *sub = argc >= 2 ? argv[1] : NULL;
    int k = -1;
    for (int i = 0; sub && subs[i]; i++)
        if (!strcmp(sub, subs[i])) k = i;
    if (k < 0) return cli_usage(&cli_apikey_verb, cli_is_help(sub));
    const char *key_id = NULL;
    int skip = 1;
    if (k == 2) {
        if (argc < 3 || argv[2][0] == '-') {
            if (argc >= 3 && cli_is_help(argv[2])) return cli_usage(&cli_apikey_verb, 1);
            fprintf(stderr, "ragd apikey revoke: name the key (its id)\n");
            return 2;
        }
        key_id = argv[2];
        skip = 2;
    }
    struct cli_opts o = {0};
    int rc = cli_parse_opts(argc - skip, argv + skip, &o, &cli_apikey_verb);
    if (rc) return rc == 1 ? 0 : rc;
    if (!o.user) {
        fprintf(stderr, "ragd apikey %s: missing --user EMAIL|ID\n", sub);
        return 2;
    }
    if (k == 0 && o.name && strlen(o.name) > 100) {
        fprintf(stderr, "ragd apikey create: --name is at most 100 characters\n");
        return 2;
    }
    if ((rc = cli_start(&o))) return rc;
    struct user u = {0};
    rc = cli_find_user(o.user, &u);
    if (rc) {
        fprintf(stderr, "ragd apikey %s: %s\n", sub,
                rc == RAGD_ENOTFOUND ? "no such user" : ragd_strerror(rc));
        db_close();
        return rc == RAGD_ENOTFOUND ? 3 : 1;
    }
    if (k == 0) {
        struct auth_apikey key;
        rc = auth_apikey_create(u.id, o.name ? o.name : "cli", &key);
        if (!rc) {
            /* The key is shown this once; only its hash is kept. */
            json_t *j =
                json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", key.id, "key", key.key, "prefix",
                          key.prefix, "name", o.name ? o.name : "cli", "user", u.email);
            char *s = json_dumps(j, JSON_COMPACT);
            puts(s);
            explicit_bzero(s, strlen(s));
            free(s);
            json_decref(j);
            explicit_bzero(key.key, sizeof key.key);
        }
    } else if (k == 1) {
        struct store_apikey *keys = NULL;
        size_t n = 0;
        rc = store_apikey_list(u.id, &keys, &n);
        for (size_t i = 0; !rc && i < n; i++) {
            json_t *j =
                json_pack("{s:s, s:s, s:s, s:s, s:s?}", "id", keys[i].id, "name", keys[i].name,
                          "prefix", keys[i].prefix, "created_at", keys[i].created_at,
                          "last_used_at", keys[i].last_used_at[0] ? keys[i].last_used_at : NULL);
            char *s = json_dumps(j, JSON_COMPACT);
            puts(s);
            free(s);
            json_decref(j);
        }
        free(keys);
    } else {
        rc = auth_apikey_revoke(u.id, key_id);
        if (!rc) printf("{\"revoked\":\"%s\"}\n", key_id);
    }
    if (rc)
        fprintf(stderr, "ragd apikey %s: %s\n", sub,
                rc == RAGD_ENOTFOUND ? "no such key of this user"
                : rc == RAGD_ELIMIT  ? "the user holds the most keys allowed; revoke one"
                                     : ragd_strerror(rc));
    store_user_clear(&u);
    db_close();
    return !rc ? 0 : rc == RAGD_ENOTFOUND ? 3 : 1;
}

const struct cli_verb cli_apikey_verb = {
    .name = "apikey",
    .args = "create --user EMAIL|ID [--name NAME] [--data DIR]\n"
            "list --user EMAIL|ID [--data DIR]\n"
            "revoke KEY_ID --user EMAIL|ID [--data DIR]",
    .summary = "Create, list or revoke a user's personal API keys.",
    .help = "create prints the key once, as JSON (only its hash is stored); list prints one JSON\n"
            "object per live key, without the key. Exit status 3 when there is no such user or\n"
            "key.",
    .run = run,
};
