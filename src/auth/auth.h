/* auth.h - who is calling: token issuance and verification, the auth guard, and the
 * account operations behind /auth (register, login, refresh, logout). */
#ifndef RAGD_AUTH_H
#define RAGD_AUTH_H

#include <jansson.h>
#include <stdint.h>

#include "http/http.h"
#include "store/store.h"

/* Reads JWT_SECRET_KEY (or creates data_dir/jwt_secret once, mode 0600), JWT_ALGORITHM (HS256
 * only), JWT_EXPIRATION_MINUTES, REFRESH_TOKEN_EXPIRATION_DAYS, BCRYPT_ROUNDS and the login
 * throttle settings. Returns 0 or RAGD_EINVAL / RAGD_EIO with a message in err. */
int auth_init(const char *data_dir, char *err, size_t errcap);

int auth_bcrypt_rounds(void);

/* Issues an access token and a refresh token for user; family_id NULL starts a new family.
 * Returns a JSON object {access_token, refresh_token, token_type, expires_in} (new
 * reference) or NULL if the store failed (*rc says why). */
json_t *auth_issue_tokens(const struct user *u, const char *family_id, int *rc);

/* The guard for GUARD_AUTH: authenticates Bearer tokens and enforces route access. */
int auth_guard(struct req *r, const struct route *rt);

/* The authenticated user of r, or NULL for an anonymous request. Owned by the request. */
const struct user *auth_user(struct req *r);
/* The verified access-token claims of r (borrowed), or NULL. */
json_t *auth_claims(struct req *r);

/* Writes an audit entry for an action by r's user. details is borrowed (may be NULL). */
void auth_audit(struct req *r, const char *action, const char *target_type,
                const char *target_id, json_t *details);

/* Personal API keys start with this; the auth guard takes them in place of an access token
 * (Authorization: Bearer KEY, or X-API-Key: KEY). */
#define API_KEY_PREFIX "rgd_"

/* Route tables: /auth, and /users/me/api-keys (create, list, revoke). */
extern const struct route auth_routes[];
extern const struct route apikey_routes[];

#endif
