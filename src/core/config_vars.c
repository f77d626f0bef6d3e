/* config_vars.c - the configuration table (config_vars.h), its validation and its documents.
 *
 * A variable is one row. Keep rows grouped as the README shows them; a row's `def` is the
 * default as the code applies it (the getter's argument at the call site), `min`/`max` the
 * range the call site accepts. To add a variable: add its row with the macro of its type
 * (B bool, I int, N number, T duration, E enum, U url, L list, R rate, S string, SP string
 * an example file fills with a placeholder, K secret, P path, C networks), then run
 * scripts/config-docs.sh to regenerate the README table and .env.example; tests/api/test_config.py
 * names every variable the source reads without a row. A name the code builds or keeps in a table
 * is marked CONFIG_NAME("...") where it is written. */
#include "core/config_vars.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/cidr.h"
#include "core/config.h"
#include "core/mem.h"
#include "core/util.h"

#define BIG 1e18 /* "no upper bound worth stating" */

/* clang-format off */
#define B(n, d, h)                 {n, CFG_BOOL, d, 0, 0, NULL, 0, h}
#define I(n, d, lo, hi, h)         {n, CFG_INT, d, lo, hi, NULL, 0, h}
#define N(n, d, lo, hi, h)         {n, CFG_NUMBER, d, lo, hi, NULL, 0, h}
#define T(n, d, lo, hi, h)         {n, CFG_DURATION, d, lo, hi, NULL, 0, h}
#define E(n, d, ch, fl, h)         {n, CFG_ENUM, d, 0, 0, ch, fl, h}
#define U(n, d, sch, h)            {n, CFG_URL, d, 0, 0, sch, 0, h}
#define L(n, d, sch, h)            {n, CFG_LIST, d, 0, 0, sch, 0, h}
#define R(n, d, h)                 {n, CFG_RATE, d, 0, 0, NULL, 0, h}
#define S(n, d, h)                 {n, CFG_STRING, d, 0, 0, NULL, 0, h}
#define SP(n, d, h)                {n, CFG_STRING, d, 0, 0, NULL, CFG_NO_PLACEHOLDER, h}
#define K(n, h)                    {n, CFG_SECRET, NULL, 0, 0, NULL, 0, h}
#define P(n, d, h)                 {n, CFG_PATH, d, 0, 0, NULL, 0, h}
#define C(n, d, h)                 {n, CFG_CIDRS, d, 0, 0, NULL, 0, h}

const struct config_var config_vars[] = {
    /* ---- server ---- */
    S("API_HOST", "127.0.0.1", "Listen address."),
    I("API_PORT", "8000", 0, 65535, "Listen port (0: any free port). `--port` wins."),
    I("API_WORKERS", "(cores, at least 2)", 1, 256, "Network threads."),
    I("WORKER_THREADS", "(2 x cores + local generation demand)", 1, 4096,
      "Threads for slow work (bcrypt, ingestion, generation); the default adds GENERATION_PARALLEL "
      "+ GENERATION_QUEUE_SIZE with a local model, so generations waiting for a session do not "
      "take the threads of logins and uploads."),
    I("MAX_BODY_BYTES", "1048576", 1024, 4294967296.0, "Larger request bodies get 413."),
    I("MAX_HEADER_BYTES", "16384", 1024, 1048576, "Request line plus headers."),
    T("IDLE_TIMEOUT_SECONDS", "30", 1, 3600, "An idle kept-alive connection is closed after this."),
    T("REQUEST_TIMEOUT_SECONDS", "60", 1, 3600, "Slow clients cannot pin threads."),
    T("HEADER_TIMEOUT_SECONDS", "10", 1, 3600,
      "A request line and headers not complete this long after the connection opens (after the "
      "previous request plus the idle timeout, on a kept-alive one) close the connection, however "
      "slowly they trickle in."),
    I("MAX_CONNECTIONS", "4096", 1, 1048576,
      "Open connections in all (the excess is refused at once); at the limit a new client takes "
      "the place of the oldest connection still sending its headers. ragd raises its open-file "
      "limit to the hard limit at start and lowers this (with a warning) to what fits."),
    I("MAX_CONNECTIONS_PER_IP", "256", 1, 1048576, "Open connections from one address."),
    L("CORS_ORIGINS", "[\"http://localhost:3000\"]", "http|https",
      "Origins allowed by CORS: a JSON list or a comma list; `*` allows any. SIGHUP applies a "
      "new value from .env."),
    T("SHUTDOWN_DRAIN_SECONDS", "30", 0, 3600, "How long SIGTERM waits for in-flight requests."),
    K("METRICS_TOKEN",
      "When set, GET /metrics answers only requests with `Authorization: Bearer <token>` (401 "
      "otherwise); unset, /metrics is open to anyone who can reach the port."),
    E("LOG_LEVEL", "info", "debug|info|warning|warn|error", CFG_NOCASE,
      "Least severe log level written; SIGHUP applies a new value from .env."),
    P("LOG_FILE", NULL,
      "`ragd serve` appends its JSON log lines to this file instead of stderr (start-up errors "
      "still go to stderr); SIGHUP reopens it, so logrotate can rename it and signal ragd (no "
      "copytruncate needed)."),
    C("TRUSTED_PROXIES", NULL,
      "Reverse proxies (IPv4/IPv6 networks, `10.0.0.0/8, ::1`) whose connections say who the "
      "client is: from them the client address is the rightmost X-Forwarded-For hop (else "
      "Forwarded `for=`) that is not itself a trusted proxy, for logs, login throttling and "
      "per-address limits. From any other peer those headers are ignored. MAX_CONNECTIONS_PER_IP "
      "still counts connections by peer: behind a proxy, raise it to the proxy's pool."),
    P("RAGD_DATA_DIR", "./data", "Data directory when `--data` is not given."),
    U("PUBLIC_BASE_URL", NULL, "http|https",
      "The address users reach ragd's front end at; verification mails link to "
      "PUBLIC_BASE_URL/verify?token=..."),
    P("WEB_DIR",
      "(web/ next to the binary or up to two folders above it, PREFIX/share/ragd/web beside "
      "an installed one, else ./web)",
      "The web UI's folder (index.html, admin.html, static/)."),
    P("WEB_VENDOR_DIR", NULL,
      "A folder with chart.js, marked.js and purify.js, for systems without Debian's packages."),

    /* ---- storage and cache ---- */
    {"DATABASE_URL", CFG_URL, "sqlite://DATA/ragd.db", 0, 0, "sqlite|postgresql|postgres|postgresql+",
     CFG_PATH_OK,
     "SQLite (`sqlite:///abs/path.db`, or a plain file path) or "
     "`postgresql://user:pass@host:port/db`."},
    T("SQLITE_BUSY_TIMEOUT_MS", "10000", 0, 600000, "How long a SQLite writer waits for a lock."),
    E("SQLITE_SYNCHRONOUS", "FULL", "FULL|NORMAL|OFF", 0,
      "FULL: an acknowledged write survives power loss; NORMAL trades that for speed."),
    U("REDIS_URL", NULL, "redis|rediss",
      "`redis://[:password@]host:port/db`: rate limits, caches and queues shared by every node "
      "(unset: in-process)."),
    B("REDIS_FALLBACK_TO_MEMORY", "true",
      "While Redis is unreachable, limit in memory per node (health says degraded) instead of "
      "failing."),
    B("CACHE_ENABLED", "true",
      "Seed 001's caches: session:{user_id}, subscription:{user_id}, quota:{user_id}:{resource}; "
      "in Redis when REDIS_URL is set, else in-process. With Redis also revocation:epoch, which "
      "spares the database a token's revocation check on every request."),
    T("CACHE_SESSION_TTL_SECONDS", "3600", 0, 604800, "Lifetime of a cached session:{user_id}."),
    T("CACHE_SUBSCRIPTION_TTL_SECONDS", "1800", 0, 604800, "Lifetime of a cached subscription."),
    T("CACHE_QUOTA_TTL_SECONDS", "300", 0, 86400, "Lifetime of a cached quota:{user_id}:{resource}."),
    T("CACHE_MEMORY_TTL_SECONDS", "5", 0, 86400,
      "Without Redis, the longest an in-process cache entry lives."),
    T("KB_SYNC_INTERVAL_MS", "250", 10, 60000,
      "How often a node applies index changes made by other nodes."),
    T("OPS_SYNC_INTERVAL_MS", "500", 50, 60000,
      "How often a node checks for maintenance, feature-flag and plan changes made elsewhere."),
    T("ERASURE_RESUME_INTERVAL_SECONDS", "30", 1, 86400,
      "How often a node finishes erasures left unfinished; at start it finishes them at once."),

    /* ---- authentication ---- */
    K("JWT_SECRET_KEY",
      "HS256 signing key, 16+ characters (unset: random, kept in DATA/jwt_secret, or in the "
      "database with PostgreSQL)."),
    E("JWT_ALGORITHM", "HS256", "HS256", 0, "Only HS256 is accepted."),
    T("JWT_EXPIRATION_MINUTES", "30", 1, 43200, "Access-token lifetime."),
    T("REFRESH_TOKEN_EXPIRATION_DAYS", "7", 1, 365, "Refresh-token lifetime (rotated on every use)."),
    I("BCRYPT_ROUNDS", "12", 4, 31, "bcrypt cost ($2b$)."),
    I("BCRYPT_MAX_CONCURRENT", "(WORKER_THREADS / 4, at least 2, never all)", 1, 4096,
      "Logins and registrations hashing at once; more are refused at once with 503 AUTH_BUSY "
      "instead of queueing, so a flood cannot take every worker."),
    I("LOGIN_MAX_ATTEMPTS_PER_IP", "5", 1, 1000000,
      "Failed logins per IP before 429; each attempt is taken before the password is checked (a "
      "good login gives it back), so parallel guesses cannot exceed it."),
    T("LOGIN_ATTEMPT_WINDOW_MINUTES", "15", 1, 1440, "The window of LOGIN_MAX_ATTEMPTS_PER_IP."),
    I("ACCOUNT_LOCKOUT_THRESHOLD", "10", 1, 1000000,
      "Failures that lock an account (counted before the check)."),
    T("ACCOUNT_LOCKOUT_MINUTES", "15", 1, 10080,
      "The first lock; each further lock before a good login doubles."),
    T("ACCOUNT_LOCKOUT_MAX_MINUTES", "1440", 1, 525600,
      "The longest lock of the doubling; during a lock only clients that have not failed against "
      "the account may try (one at a time), so others' failures cannot keep the owner out."),
    R("REGISTER_RATE_LIMIT_PER_IP", "10/3600",
      "Registrations per client (`calls/seconds`); 429 TOO_MANY_REGISTRATIONS."),
    R("REGISTER_RATE_LIMIT_GLOBAL", "100/60", "Registrations for everyone (`calls/seconds`)."),
    I("REGISTRATIONS_PER_IP_PER_DAY", "20", 0, 1000000,
      "Accounts created from one client in 24 hours (0: no cap), counted in the database by a "
      "hash of the address; 429 TOO_MANY_ACCOUNTS."),
    R("REFRESH_RATE_LIMIT_PER_IP", "60/60", "Token refreshes per client; 429 TOO_MANY_REFRESHES."),
    R("REFRESH_RATE_LIMIT_GLOBAL", "1200/60", "Token refreshes for everyone."),
    B("REQUIRE_EMAIL_VERIFICATION", "false",
      "New accounts must verify their e-mail address before any route that consumes quota "
      "serves them (403 EMAIL_NOT_VERIFIED until then); ragd refuses to start when it is true "
      "and SMTP_HOST is unset."),
    R("VERIFICATION_RESEND_RATE_LIMIT", "3/3600",
      "Verification mails one user may ask for again (`calls/seconds`)."),
    S("SUPER_ADMIN_EMAIL", NULL,
      "The account with this address is made super_admin at every start (an address with no "
      "account yet is logged and skipped)."),
    T("AUDIT_RETENTION_DAYS", "365", 90, 36500,
      "Audit entries older than this are pruned (at start, then daily)."),
    E("SESSION_COOKIE_SECURE", "auto", "auto|true|false|1|0|yes|no|on|off", CFG_NOCASE,
      "The browser's refresh cookie carries Secure: auto = when PUBLIC_BASE_URL is https or the "
      "request came with X-Forwarded-Proto: https."),
    K("ENCRYPTION_KEY",
      "64 hex characters: the AES-256-GCM key sealing provider keys at rest. Unset on SQLite: "
      "generated into DATA/encryption_key (mode 0600); required with PostgreSQL (every node must "
      "share it)."),

    /* ---- mail and notifications ---- */
    SP("SMTP_HOST", NULL,
      "Mail server (unset: no mail is sent); STARTTLS whenever the server offers it; 10 s to "
      "connect, 30 s per message."),
    I("SMTP_PORT", "587", 1, 65535, "Mail server port; implicit TLS on 465."),
    SP("SMTP_USER", NULL, "Optional SMTP login."),
    K("SMTP_PASSWORD", "Optional SMTP password; it and the mail bodies are never logged."),
    S("SMTP_FROM", "ragd@localhost", "The sender address."),
    K("NOTIFY_WEBHOOK_SECRET",
      "Key of the `X-Ragd-Signature` HMAC-SHA256 on notification webhooks (unset: unsigned, "
      "with a warning)."),
    N("NOTIFY_RETRY_BASE_SECONDS", "30", 0.1, 86400,
      "A failed delivery is retried after this, doubled per failure."),
    N("NOTIFY_RETRY_MAX_SECONDS", "3600", 0.1, 604800, "The longest delay between retries."),
    T("NOTIFY_RETENTION_DAYS", "30", 1, 3650,
      "Settled notifications are deleted this long after; a delivery failing this long is given "
      "up."),
    T("NOTIFY_REPEAT_WINDOW_SECONDS", "300", 0, 604800,
      "An event with the same name and details as one sent this recently is recorded as a "
      "repeat and not sent (0: send every one; the test event always goes)."),
    N("NOTIFY_POLL_SECONDS", "2", 0.05, 3600, "How often each node looks for notifications to deliver."),
    T("MAINTENANCE_RETRY_AFTER_SECONDS", "300", 1, 86400,
      "Retry-After of a maintenance refusal without an estimated restoration time."),

    /* ---- provider key pool and router ---- */
    I("PROVIDER_MAX_ATTEMPTS", "3", 1, 20, "Keys one generation may try before it fails."),
    I("PROVIDER_FAILURE_THRESHOLD", "5", 1, 1000,
      "Consecutive failures that mark a key degraded (tried only when nothing else is left)."),
    I("PROVIDER_BACKOFF_MS", "50", 0, 10000, "Pause before the next key, doubled per attempt."),
    T("PROVIDER_COOLDOWN_SECONDS", "60", 1, 86400,
      "Cooldown of a key answered 429 or quota-exhausted without a Retry-After."),
    T("PROVIDER_RETRY_AFTER_MAX_SECONDS", "2", 0, 60,
      "The longest Retry-After a request waits out when no other key is left."),
    T("PROVIDER_TIMEOUT_SECONDS", "(OPENAI_TIMEOUT_SECONDS)", 1, 3600,
      "Time limit of one provider call."),
    T("PROVIDER_SYNC_MS", "500", 50, 1000,
      "How often a node checks for key status changes made on other nodes."),
    T("PROVIDER_HEALTH_INTERVAL_SECONDS", "300", 1, 86400,
      "How often the health monitor tests degraded and idle keys (one node at a time)."),
    T("PROVIDER_HEALTH_IDLE_SECONDS", "(PROVIDER_HEALTH_INTERVAL_SECONDS)", 1, 2592000,
      "A key unused this long is tested by the health monitor."),
    T("PROVIDER_HEALTH_RETENTION_DAYS", "7", 1, 3650, "provider_health rows are kept this long."),
    I("PROVIDER_ENV_PRIORITY", "0", -1000000, 1000000,
      "Priority of the read-only pool entry made from the OPENAI_* variables."),
    B("FALLBACK_TO_EXTRACTIVE", "(true without shared keys, else false)",
      "When every provider failed, answer from the passages (labelled answer_source: "
      "extractive) instead of 503."),
    L("PERSONAL_KEY_BASE_URLS", NULL, "http|https",
      "Base URLs a user's personal provider key may point at besides the providers' own "
      "(comma-separated)."),

    /* ---- support desk ---- */
    T("WIDGET_SESSION_MINUTES", "15", 1, 1440,
      "A widget session token lives this long after its last use (renewed at most once in a "
      "fifteenth of it)."),
    T("WIDGET_SESSION_MAX_HOURS", "24", 1, 720, "The longest a widget session may be renewed to."),
    I("WIDGET_SESSIONS_PER_IP_PER_MINUTE", "20", 1, 100000,
      "New widget sessions one visitor address may open per minute."),
    I("WIDGET_MESSAGES_PER_SESSION_PER_MINUTE", "20", 1, 100000,
      "Messages one widget session may send per minute."),

    E("SENTIMENT_SCORER", "lexicon", "lexicon|model|llm", CFG_NOCASE,
      "How customer messages are scored: lexicon (built in, no model), model (SENTIMENT_MODEL) "
      "or llm (the configured generator); see docs/sentiment.md."),
    P("SENTIMENT_MODEL", NULL,
      "A BERT-family sequence-classification checkpoint (Hugging Face folder or GGUF) for "
      "SENTIMENT_SCORER=model."),
    I("SENTIMENT_MAX_SEQ", "256", 0, 8192, "Tokens per message for the sentiment model."),
    I("SENTIMENT_THREADS", "1", 0, 1024, "Encoder threads of the sentiment model."),

    /* ---- payments ---- */
    B("ENABLE_PAYMENTS", "false",
      "Stripe and Razorpay checkouts and webhooks; upgrades then need a completed payment."),
    K("STRIPE_API_KEY", "Stripe secret API key."),
    K("STRIPE_WEBHOOK_SECRET", "Signing secret of the Stripe webhook endpoint."),
    U("STRIPE_API_BASE", "https://api.stripe.com", "http|https", "Stripe's API (tests point it at a fake)."),
    SP("RAZORPAY_KEY_ID", NULL, "Razorpay key id."),
    K("RAZORPAY_KEY_SECRET", "Razorpay key secret."),
    K("RAZORPAY_WEBHOOK_SECRET", "Secret of the Razorpay webhook."),
    U("RAZORPAY_API_BASE", "https://api.razorpay.com", "http|https",
      "Razorpay's API (tests point it at a fake)."),
    S("PAYMENTS_CURRENCY", "USD", "Currency of checkouts (ISO 4217)."),
    U("PAYMENTS_RETURN_URL", "(PUBLIC_BASE_URL)", "http|https",
      "Where the providers send the user back after a checkout."),
    T("PAYMENT_GRACE_DAYS", "3", 0, 365, "Days after a failed payment before the downgrade to free."),
    T("PAYMENT_SIGNATURE_TOLERANCE_SECONDS", "300", 1, 86400,
      "Largest age of a Stripe webhook signature's timestamp."),
    T("PAYMENT_CHECK_SECONDS", "60", 1, 86400,
      "How often grace periods, scheduled downgrades and ended periods are checked."),

    /* ---- billing and limits ---- */
    B("ENABLE_BILLING", "true", "Plans, subscriptions and the billing routes."),
    B("ENABLE_QUOTA_ENFORCEMENT", "true", "Refuse requests over the plan's quota."),
    P("PLANS_FILE", "(DATA/plans.json when it exists)",
      "A JSON file of plans replacing the built-in ones; SIGHUP reads it (and a new value from "
      ".env) again."),
    I("FREE_MESSAGE_LIMIT", "(the plan's)", -1, BIG, "Monthly messages of the free plan (-1: no limit)."),
    I("PRO_MESSAGE_LIMIT", "(the plan's)", -1, BIG, "Monthly messages of the pro plan (-1: no limit)."),
    I("ENTERPRISE_MESSAGE_LIMIT", "(the plan's)", -1, BIG,
      "Monthly messages of the enterprise plan (-1: no limit)."),
    T("QUOTA_HOLD_TTL_SECONDS", "900", 1, 86400, "How long a quota reservation holds."),
    B("ENABLE_RATE_LIMITING", "true", "Per-user rate limits on every resource."),
    R("RATE_LIMIT_*", "(chat 30/60, search 60/60, api 100/60, billing 20/60)",
      "The budget of one rate-limit resource (RATE_LIMIT_CHAT, RATE_LIMIT_SEARCH, ...) as "
      "`calls/seconds`."),

    /* ---- knowledge base ---- */
    P("KNOWLEDGE_DOCS_DIR", "(docs/)", "The demo knowledge base `ragd seed --demo` ingests."),
    B("SEED_DEMO_DOCS", "true", "`ragd seed --demo` ingests the demo knowledge base."),
    I("DOCUMENT_MAX_BYTES", "10485760", 1024, 2147483648.0, "Largest uploaded document."),
    I("DOCUMENT_METADATA_MAX_BYTES", "16384", 2, 16777216, "Largest metadata object of a document."),
    I("DOCUMENT_METADATA_MAX_DEPTH", "8", 1, 32, "Deepest nesting of a document's metadata."),
    I("CHUNK_SIZE", "512", 16, 8192, "Tokens per chunk."),
    I("CHUNK_OVERLAP", "50", 0, 4096, "Tokens shared by neighbouring chunks."),
    I("INGEST_WORKERS", "2", 0, 64, "Ingestion workers per node (0: this node ingests nothing)."),
    E("INGEST_QUEUE", "(redis with REDIS_URL, else local)", "redis|local", 0,
      "Where ingestion jobs queue: shared through Redis, or on this node."),
    T("INGEST_CLAIM_TIMEOUT_SECONDS", "600", 10, 86400,
      "A document claimed this long ago by a node that stopped is ingested again."),
    T("INGEST_DOCUMENT_TIMEOUT_MS", "120000", 1, 86400000, "Longest ingestion of one document."),
    T("SEARCH_CACHE_TTL_SECONDS", "1800", 0, 604800, "Lifetime of a cached search result."),
    T("EMBEDDING_CACHE_TTL_SECONDS", "86400", 0, 2592000, "Lifetime of a cached query embedding."),
    T("INDEX_SAVE_INTERVAL_SECONDS", "5", 1, 86400, "How often changed indexes are saved."),
    N("BM25_K1", "1.2", 0.01, 10, "BM25 term-frequency saturation."),
    N("BM25_B", "0.75", 0, 1, "BM25 length normalisation."),
    I("HNSW_M", "16", 2, 128, "Links per node of the vector index."),
    I("HNSW_EF_CONSTRUCTION", "200", 2, 4096, "Candidates while building the vector index."),
    I("HNSW_EF_SEARCH", "64", 1, 4096, "Candidates while searching the vector index."),

    /* ---- models ---- */
    E("LLM_PROVIDER", "auto", "auto|local|openai|extractive", 0,
      "auto, local (GENERATION_MODEL), openai (OPENAI_API_BASE, OPENAI_API_KEY, OPENAI_MODEL) or "
      "extractive (answers from the passages with citations)."),
    S("GENERATION_MODEL", NULL,
      "A GGUF language model answered by the in-process engine: a path, or a name under "
      "MODELS_DIR (`Qwen/Qwen3-1.7B`)."),
    S("EMBEDDING_MODEL", NULL,
      "A sentence encoder for the vector index (BERT GGUF or a Hugging Face folder), found like "
      "GENERATION_MODEL; with EMBEDDING_API_BASE the remote model's name."),
    P("MODELS_DIR", "DATA/models", "Where model names are looked up."),
    E("MODEL_DEVICE", "cpu", "cpu|cuda|mps", 0,
      "The engine runs on the CPU (cuda and mps are accepted with a warning)."),
    U("OPENAI_API_BASE", NULL, "http|https", "Base URL of an OpenAI-compatible API."),
    U("OPENAI_BASE_URL", NULL, "http|https", "Another name for OPENAI_API_BASE."),
    K("OPENAI_API_KEY", "Key of the OpenAI-compatible API."),
    S("OPENAI_MODEL", "gpt-4o-mini", "The OpenAI-compatible API's model."),
    T("OPENAI_TIMEOUT_SECONDS", "60", 1, 3600, "Longest call to the OpenAI-compatible API."),
    B("STRICT_OPENAI", "false",
      "The /v1 chat completions refuse (422) every field outside their original schema, as "
      "before; false accepts what OpenAI clients send (sampling fields honoured, fields that "
      "describe the client ignored, fields that would change the answer refused with 400)."),
    S("MODEL_ALIASES", NULL,
      "Model names clients may use for ragd's: a comma list of name=target, the target `local` "
      "(the generator or the embedder, by endpoint), `ragd-rag` or a model id, e.g. "
      "`gpt-4o-mini=local,text-embedding-3-small=local`. Listed by GET /v1/models."),
    U("EMBEDDING_API_BASE", NULL, "http|https", "Base URL of an OpenAI-compatible embedding API."),
    K("EMBEDDING_API_KEY", "Its key (default: OPENAI_API_KEY)."),
    I("EMBEDDING_DIMENSION", "768", 1, 65536, "Dimension of the remote embeddings."),
    T("EMBEDDING_TIMEOUT_SECONDS", "60", 1, 3600, "Longest call to the embedding API."),
    I("EMBEDDING_BATCH_SIZE", "32", 1, 4096, "Texts per encoder pass."),
    I("EMBEDDING_MAX_SEQ", "0", 0, 8192, "Tokens per text (0: the model's)."),
    I("EMBEDDING_THREADS", "0", 0, 1024, "Encoder threads (0: cores)."),
    B("EMBEDDING_BF16", "false",
      "The in-process encoder multiplies in bf16 (AVX-512 BF16 CPUs; within 1e-3 cosine of f32, "
      "about 2-3x faster); elsewhere, or false, f32."),
    B("EMBEDDING_INT8", "false",
      "The in-process encoder multiplies q8_0 weights (the file's, or quantized at load) by int8 "
      "activations (AVX-512 VNNI CPUs; within 1e-3 cosine of f32, half bf16's weight memory); "
      "wins over EMBEDDING_BF16; elsewhere, or false, as without it."),
    I("GENERATION_THREADS", "0", 0, 1024, "Engine threads (0: cores)."),
    I("GENERATION_MAX_TOKENS", "512", 1, 32768,
      "Answer length; a larger `max_tokens` on any route is lowered to it."),
    I("GENERATION_CONTEXT_LENGTH", "4096", 256, 1048576, "Context length."),
    N("GENERATION_TEMPERATURE", "0.7", 0, 2, "Sampling temperature."),
    N("GENERATION_TOP_P", "0.9", 0.01, 1, "Nucleus sampling."),
    I("GENERATION_TOP_K", "40", 0, 1048576, "Top-k sampling (0: off)."),
    N("GENERATION_MIN_P", "0", 0, 0.99, "Min-p sampling (0: off)."),
    N("GENERATION_REPETITION_PENALTY", "1.05", 0.01, 10, "Repetition penalty."),
    I("GENERATION_PARALLEL", "2", 1, 64, "Generations running at once (one KV cache each)."),
    I("PREFIX_CACHE_MB", "1024", 0, 1048576,
      "Memory for the local model's prefix cache: the KV rows of recent prompts, so a "
      "follow-up turn or a shared system prompt evaluates only its new tokens (rows in "
      "64-token chunks that prompts agreeing on them share; least recently used first out; 0: "
      "off)."),
    I("GENERATION_QUEUE_SIZE", "8", 0, 4096,
      "Requests allowed to wait for a generation; a full queue answers 503 with Retry-After."),
    I("GENERATION_PER_USER", "1", 1, 64,
      "Generations one user may run at once on the local model; their further requests wait in "
      "the queue and a freed session goes round robin to the user served longest ago."),
    T("GENERATION_QUEUE_TIMEOUT_SECONDS", "120", 1, 3600, "Longest wait in the generation queue."),
    E("RAGD_ISA", "(the best the CPU has)", "portable|avx2|avx512", 0,
      "Caps the vector instructions the engine's kernels use."),
    B("RAGD_WEIGHTS_MMAP", "false",
      "Map the decoder's GGUF file (its pages shared with other processes) instead of reading "
      "the weights into private memory in transparent huge pages, which decodes faster (every "
      "token reads all the weights) but costs the file's size in this process's memory."),
    E("RAGD_VECTOR_BITS", "(by CPU model; timed at start for a model not known)", "256|512", 0,
      "Vector width of the engine's generation kernels (one sequence or a few at once) on "
      "AVX-512 CPUs: 512 where "
      "the cores run 512-bit operations at full width (AMD Zen 5, Intel server cores), 256 where "
      "they split them (AMD Zen 4). Results are identical either way. The 512-bit q4_k and q6_k "
      "kernels also need GFNI and AVX512-VBMI; without them those types keep 256 bits."),

    P("TMPDIR", "/tmp", "Where `ragd ingest` keeps the scratch indexes of its own node (the "
      "standard variable)."),

    /* ---- development ---- */
    {"RAGD_TEST_MODE", CFG_BOOL, "false", 0, 0, NULL, CFG_INTERNAL,
     "Exposes test routes and clock control. Never in production."},
    {"ERASURE_TEST_KILL_AFTER_STEP", CFG_INT, "-1", -1, 100,
     NULL, CFG_INTERNAL, "With RAGD_TEST_MODE: kill the process after this erasure step."},
    {NULL, 0, NULL, 0, 0, NULL, 0, NULL},
};
/* clang-format on */

/* ---- lookup ---- */

const struct config_var *config_var_find(const char *name)
{
    const struct config_var *best = NULL;
    size_t best_len = 0;
    for (const struct config_var *v = config_vars; v->name; v++) {
        size_t n = strlen(v->name);
        if (v->name[n - 1] != '*') {
            if (!strcmp(v->name, name)) return v;
        } else if (n - 1 > best_len && !strncmp(v->name, name, n - 1) && name[n - 1]) {
            best = v;
            best_len = n - 1;
        }
    }
    return best;
}

/* ---- values ---- */

/* The seeds' placeholders and their kind, compared case-insensitively. */
static const char *const placeholders[] = {
    "secret",
    "password",
    "changeme",
    "change-me",
    "change_me",
    "xxx",
    "secure_password",
    "optional_password",
    "optional",
    "example",
    "64-char-hex-string",
    "your-secret-key-here",
    "your-super-secret-key-change-in-production",
    NULL,
};

int config_is_placeholder(const char *value)
{
    size_t n = strlen(value);
    for (int i = 0; placeholders[i]; i++)
        if (!strcasecmp(value, placeholders[i])) return 1;
    /* "your-app-password", "your_api_key", "sk_test_...", "rzp_test_xxx", "...-change-in-
     * production", "<secret>" */
    if (!strncasecmp(value, "your-", 5) || !strncasecmp(value, "your_", 5)) return 1;
    if (n >= 3 && !strcmp(value + n - 3, "...")) return 1;
    if (n >= 4 && !strcasecmp(value + n - 4, "_xxx")) return 1;
    if (strcasestr(value, "change-in-production") || strcasestr(value, "change_in_production") ||
        strcasestr(value, "changeme") || strcasestr(value, "change-me") ||
        strcasestr(value, "replace-me") || strcasestr(value, "replace_me"))
        return 1;
    if (n >= 2 && value[0] == '<' && value[n - 1] == '>') return 1;
    return 0;
}

static int choice_ok(const char *choices, const char *value, size_t vlen, int nocase)
{
    const char *p = choices;
    while (*p) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n == vlen && (nocase ? !strncasecmp(p, value, n) : !strncmp(p, value, n))) return 1;
        /* "postgresql+" matches every "postgresql+driver" */
        if (n > 1 && p[n - 1] == '+' && vlen > n && !strncasecmp(p, value, n)) return 1;
        p += n + (bar ? 1 : 0);
    }
    return 0;
}

static void choices_text(const char *choices, char *out, size_t cap)
{
    snprintf(out, cap, "%s", choices);
    for (char *c = out; *c; c++)
        if (*c == '|') *c = '/';
}

/* scheme://rest with a scheme in schemes and something after it. For URLs with a user:password
 * part, *pw and *pwlen point at the password (else *pw is NULL). */
static int url_check(const char *u, const char *schemes, const char **pw, size_t *pwlen, char *why,
                     size_t whycap)
{
    *pw = NULL;
    const char *sep = strstr(u, "://");
    if (!sep || sep == u) {
        char ch[128];
        choices_text(schemes, ch, sizeof ch);
        snprintf(why, whycap, "not a URL (expected %s://...)", ch);
        return -1;
    }
    if (!choice_ok(schemes, u, (size_t)(sep - u), 1)) {
        char ch[128];
        choices_text(schemes, ch, sizeof ch);
        snprintf(why, whycap, "URL scheme must be %s", ch);
        return -1;
    }
    const char *rest = sep + 3;
    for (const char *c = u; *c; c++)
        if ((unsigned char)*c <= ' ') {
            snprintf(why, whycap, "a URL has no spaces or control characters");
            return -1;
        }
    int is_sqlite = !strncasecmp(u, "sqlite", 6);
    size_t hostlen = strcspn(rest, "/?#");
    if (!is_sqlite && hostlen == 0) {
        snprintf(why, whycap, "URL has no host");
        return -1;
    }
    if (is_sqlite && !rest[0]) {
        snprintf(why, whycap, "sqlite URL has no path");
        return -1;
    }
    const char *at = memchr(rest, '@', hostlen);
    if (at) {
        const char *colon = memchr(rest, ':', (size_t)(at - rest));
        if (colon) {
            *pw = colon + 1;
            *pwlen = (size_t)(at - colon - 1);
        }
    }
    /* A port, if any, is a number in range. */
    const char *hoststart = at ? at + 1 : rest;
    size_t hl = hostlen - (size_t)(hoststart - rest);
    const char *colon = hl && hoststart[0] != '[' ? memchr(hoststart, ':', hl) : NULL;
    if (hl && hoststart[0] == '[') {
        const char *rb = memchr(hoststart, ']', hl);
        colon = rb && rb + 1 < hoststart + hl && rb[1] == ':' ? rb + 1 : NULL;
    }
    if (colon) {
        char *end;
        long port = strtol(colon + 1, &end, 10);
        if (end == colon + 1 || end != hoststart + hl || port < 1 || port > 65535) {
            snprintf(why, whycap, "URL port must be 1..65535");
            return -1;
        }
    }
    return 0;
}

static int bool_ok(const char *v)
{
    static const char *const words[] = {"true", "false", "1", "0", "yes", "no", "on", "off", NULL};
    for (int i = 0; words[i]; i++)
        if (!strcasecmp(v, words[i])) return 1;
    return 0;
}

static void range_text(const struct config_var *v, char *out, size_t cap)
{
    if (v->max >= BIG)
        snprintf(out, cap, "at least %.15g", v->min);
    else
        snprintf(out, cap, "between %.15g and %.15g", v->min, v->max);
}

int config_var_check(const struct config_var *v, const char *value, char *why, size_t whycap)
{
    char buf[160];
    switch (v->type) {
    case CFG_BOOL:
        if (bool_ok(value)) return 0;
        snprintf(why, whycap, "not a boolean (true/false, yes/no, on/off, 1/0)");
        return -1;
    case CFG_INT:
    case CFG_DURATION: {
        char *end;
        errno = 0;
        long long x = strtoll(value, &end, 10);
        while (isspace((unsigned char)*end))
            end++;
        if (errno || end == value || *end) {
            snprintf(why, whycap, "not an integer");
            return -1;
        }
        if ((double)x < v->min || (double)x > v->max) {
            range_text(v, buf, sizeof buf);
            snprintf(why, whycap, "must be %s", buf);
            return -1;
        }
        return 0;
    }
    case CFG_NUMBER: {
        char *end;
        double x = strtod(value, &end);
        if (end == value || *end || !isfinite(x)) {
            snprintf(why, whycap, "not a number");
            return -1;
        }
        if (x < v->min || x > v->max) {
            range_text(v, buf, sizeof buf);
            snprintf(why, whycap, "must be %s", buf);
            return -1;
        }
        return 0;
    }
    case CFG_ENUM:
        if (choice_ok(v->choices, value, strlen(value), v->flags & CFG_NOCASE)) return 0;
        choices_text(v->choices, buf, sizeof buf);
        snprintf(why, whycap, "must be one of %s", buf);
        return -1;
    case CFG_URL: {
        const char *pw;
        size_t pwlen;
        if ((v->flags & CFG_PATH_OK) && !strchr(value, ':')) return 0; /* a file path */
        if ((v->flags & CFG_PATH_OK) && !strncasecmp(value, "sqlite:", 7) && !strstr(value, "://"))
            return 0;
        if (url_check(value, v->choices, &pw, &pwlen, why, whycap)) return -1;
        if (pw) {
            char *p = xstrndup(pw, pwlen);
            int bad = config_is_placeholder(p);
            free(p);
            if (bad) {
                snprintf(why, whycap, "the URL's password is a placeholder: set a real one");
                return -1;
            }
        }
        return 0;
    }
    case CFG_LIST: {
        json_error_t je;
        json_t *arr = value[0] == '[' ? json_loads(value, 0, &je) : NULL;
        if (value[0] == '[' && !json_is_array(arr)) {
            json_decref(arr);
            snprintf(why, whycap, "not a JSON list of strings");
            return -1;
        }
        int rc = 0;
        char *copy = xstrdup(value), *save = NULL;
        size_t i = 0;
        for (;;) {
            const char *item;
            if (arr) {
                if (i >= json_array_size(arr)) break;
                item = json_string_value(json_array_get(arr, i++));
                if (!item) {
                    snprintf(why, whycap, "item %zu is not a string", i);
                    rc = -1;
                    break;
                }
            } else {
                item = strtok_r(i++ ? NULL : copy, ", ", &save);
                if (!item) break;
            }
            const char *pw;
            size_t pwlen;
            char inner[128];
            if (v->choices && strcmp(item, "*") &&
                url_check(item, v->choices, &pw, &pwlen, inner, sizeof inner)) {
                snprintf(why, whycap, "'%s': %s", item, inner);
                rc = -1;
                break;
            }
        }
        free(copy);
        json_decref(arr);
        return rc;
    }
    case CFG_RATE: {
        char *end;
        errno = 0;
        long long c = strtoll(value, &end, 10);
        int ok = !errno && end != value && c >= 0 && c <= 1000000000;
        if (ok && *end == '/') {
            const char *q = end + 1;
            long long p = strtoll(q, &end, 10);
            ok = end != q && p >= 1 && p <= 31 * 86400;
        }
        if (ok && !*end) return 0;
        snprintf(why, whycap, "must be CALLS/SECONDS (e.g. 30/60)");
        return -1;
    }
    case CFG_SECRET:
        if (config_is_placeholder(value)) {
            snprintf(why, whycap, "is a placeholder from an example file: set a real secret");
            return -1;
        }
        return 0;
    case CFG_CIDRS: {
        cidr_set_t *set;
        if (cidr_set_parse(value, &set, why, whycap)) return -1;
        cidr_set_free(set);
        return 0;
    }
    case CFG_STRING:
    case CFG_PATH:
        if ((v->flags & CFG_NO_PLACEHOLDER) && config_is_placeholder(value)) {
            snprintf(why, whycap, "is a placeholder from an example file: set the real value");
            return -1;
        }
        for (const char *c = value; *c; c++)
            if ((unsigned char)*c < ' ') {
                snprintf(why, whycap, "contains a control character");
                return -1;
            }
        return 0;
    }
    return 0;
}

/* ---- validation at start ---- */

static void validate_one(const char *name, int from_env_or_file, void *ctx)
{
    (void)from_env_or_file;
    int *bad = ctx;
    const struct config_var *v = config_var_find(name);
    if (!v) return;
    const char *value = config_str(name, NULL);
    if (!value) return;
    char why[256];
    if (config_var_check(v, value, why, sizeof why)) {
        int hide = v->type == CFG_SECRET || v->type == CFG_URL;
        config_add_error(name, hide ? NULL : value, why);
        (*bad)++;
    }
}

int config_validate(void)
{
    int bad = 0;
    config_each(validate_one, &bad);
    return bad;
}

/* ---- misspellings ---- */

/* Levenshtein distance, capped: returns cap + 1 when it is larger. */
static int distance(const char *a, const char *b, int cap)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64) return cap + 1;
    if ((la > lb ? la - lb : lb - la) > (size_t)cap) return cap + 1;
    int row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int prev = row[0], best = (int)i;
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int cur = row[j];
            int sub = prev + (a[i - 1] != b[j - 1]);
            int del = row[j] + 1, ins = row[j - 1] + 1;
            row[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
            if (row[j] < best) best = row[j];
            prev = cur;
        }
        if (best > cap) return cap + 1;
    }
    return row[lb];
}

/* Prefixes that say "this was meant for ragd": the first word of a row's name is one too. */
static const char *const our_prefixes[] = {
    "RAGD_",       "OPENAI_",    "SMTP_",   "REDIS_",  "STRIPE_",   "RAZORPAY_", "JWT_",
    "GENERATION_", "EMBEDDING_", "NOTIFY_", "SQLITE_", "DATABASE_", "POSTGRES_", NULL};

static int has_our_prefix(const char *name)
{
    for (int i = 0; our_prefixes[i]; i++)
        if (!strncmp(name, our_prefixes[i], strlen(our_prefixes[i]))) return 1;
    const char *us = strchr(name, '_');
    if (!us) return 0;
    size_t n = (size_t)(us - name) + 1;
    for (const struct config_var *v = config_vars; v->name; v++)
        if (!strncmp(v->name, name, n)) return 1;
    return 0;
}

/* Variables of the tools around ragd (the test harness, the sanitizers) that share a prefix. */
static int known_foreign(const char *name)
{
    static const char *const names[] = {"RAGD_BIN", "RAGD_TEST_PG_URL", "RAGD_TEST_REDIS_URL",
                                        "RAGD_TEST_SERVICES", NULL};
    for (int i = 0; names[i]; i++)
        if (!strcmp(name, names[i])) return 1;
    return 0;
}

struct suggest_ctx {
    void (*warn)(const char *name, const char *closest, void *ctx);
    void *ctx;
    int n;
};

static void suggest_one(const char *name, int from_env_or_file, void *vctx)
{
    struct suggest_ctx *s = vctx;
    if (!from_env_or_file || config_var_find(name) || known_foreign(name)) return;
    for (const char *c = name; *c; c++)
        if (!(isupper((unsigned char)*c) || isdigit((unsigned char)*c) || *c == '_')) return;
    int ours = has_our_prefix(name);
    /* A plain typo is within 2 edits; with one of our prefixes, a name a third off is too. */
    int cap = ours ? (int)(strlen(name) / 3 > 2 ? strlen(name) / 3 : 2) : 2;
    const char *closest = NULL;
    int best = cap + 1;
    for (const struct config_var *v = config_vars; v->name; v++) {
        char row[128];
        snprintf(row, sizeof row, "%s", v->name);
        size_t n = strlen(row);
        if (row[n - 1] == '*') continue;
        int d = distance(name, row, cap);
        if (d < best) {
            best = d;
            closest = v->name;
        }
    }
    if (!closest) return;
    s->warn(name, closest, s->ctx);
    s->n++;
}

int config_suggest(void (*warn)(const char *name, const char *closest, void *ctx), void *ctx)
{
    struct suggest_ctx s = {warn, ctx, 0};
    config_each(suggest_one, &s);
    return s.n;
}

/* ---- documents ---- */

static const char *const type_names[] = {
    [CFG_BOOL] = "bool",         [CFG_INT] = "int",   [CFG_NUMBER] = "number",
    [CFG_DURATION] = "duration", [CFG_ENUM] = "enum", [CFG_URL] = "url",
    [CFG_LIST] = "list",         [CFG_RATE] = "rate", [CFG_STRING] = "string",
    [CFG_SECRET] = "secret",     [CFG_PATH] = "path", [CFG_CIDRS] = "networks",
};

static void allowed_text(const struct config_var *v, char *out, size_t cap)
{
    char ch[160];
    out[0] = '\0';
    switch (v->type) {
    case CFG_INT:
    case CFG_NUMBER:
    case CFG_DURATION:
        if (v->max >= BIG)
            snprintf(out, cap, ">= %.15g", v->min);
        else
            snprintf(out, cap, "%.15g..%.15g", v->min, v->max);
        break;
    case CFG_ENUM:
        choices_text(v->choices, ch, sizeof ch);
        snprintf(out, cap, "%s", ch);
        break;
    case CFG_URL:
    case CFG_LIST:
        choices_text(v->choices, ch, sizeof ch);
        snprintf(out, cap, "%s URL%s", ch, v->type == CFG_LIST ? "s" : "");
        break;
    case CFG_BOOL:
        snprintf(out, cap, "true/false");
        break;
    case CFG_RATE:
        snprintf(out, cap, "calls/seconds");
        break;
    case CFG_CIDRS:
        snprintf(out, cap, "IPv4/IPv6 networks");
        break;
    default:
        break;
    }
}

/* A table cell: '|' escaped, so a value never splits the row. */
static void cell(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '|') fputc('\\', f);
        fputc(*s, f);
    }
}

void config_write_markdown(FILE *f)
{
    fputs("| variable | type | default | allowed | meaning |\n"
          "| --- | --- | --- | --- | --- |\n",
          f);
    for (const struct config_var *v = config_vars; v->name; v++) {
        char allowed[200];
        allowed_text(v, allowed, sizeof allowed);
        fputs("| ", f);
        size_t n = strlen(v->name);
        if (v->name[n - 1] == '*')
            fprintf(f, "%.*s&lt;RESOURCE&gt;", (int)(n - 1), v->name);
        else
            fputs(v->name, f);
        fprintf(f, " | %s | ", type_names[v->type]);
        if (v->def)
            cell(f, v->def);
        else
            fputs("unset", f);
        fputs(" | ", f);
        cell(f, allowed);
        fputs(" | ", f);
        cell(f, v->help);
        if (v->flags & CFG_INTERNAL) fputs(" (testing only)", f);
        fputs(" |\n", f);
    }
}

/* Wraps text as "# " comment lines of at most 100 columns. */
static void comment(FILE *f, const char *text)
{
    const char *p = text;
    while (*p) {
        size_t len = strlen(p);
        size_t take = len;
        if (len > 96) {
            take = 96;
            while (take > 0 && p[take] != ' ')
                take--;
            if (!take) take = 96;
        }
        fprintf(f, "# %.*s\n", (int)take, p);
        p += take;
        while (*p == ' ')
            p++;
    }
}

void config_write_env(FILE *f)
{
    fputs("# ragd configuration: copy to .env and uncomment what you change. The environment wins\n"
          "# over this file. Generated from src/core/config_vars.c by `ragd config table --env`.\n",
          f);
    for (const struct config_var *v = config_vars; v->name; v++) {
        if (v->flags & CFG_INTERNAL) continue;
        char allowed[200], line[512];
        allowed_text(v, allowed, sizeof allowed);
        snprintf(line, sizeof line, "%s%s%s%s", v->help, allowed[0] ? " (" : "", allowed,
                 allowed[0] ? ")" : "");
        fputc('\n', f);
        comment(f, line);
        size_t n = strlen(v->name);
        if (v->name[n - 1] == '*') {
            fprintf(f, "#%.*sCHAT=30/60\n", (int)(n - 1), v->name);
        } else if (!v->def || v->def[0] == '(') {
            fprintf(f, "#%s=\n", v->name);
        } else {
            fprintf(f, "#%s=%s\n", v->name, v->def);
        }
    }
}

/* ---- config check ---- */

static void print_masked_url(FILE *f, const char *u)
{
    const char *sep = strstr(u, "://");
    const char *rest = sep ? sep + 3 : u;
    size_t hostlen = strcspn(rest, "/?#");
    const char *at = memchr(rest, '@', hostlen);
    const char *colon = at ? memchr(rest, ':', (size_t)(at - rest)) : NULL;
    if (!colon) {
        fputs(u, f);
        return;
    }
    fprintf(f, "%.*s****%s", (int)(colon + 1 - u), u, at);
}

static void print_family_member(const char *name, int from_env_or_file, void *ctx)
{
    (void)from_env_or_file;
    const struct config_var *v = config_var_find(name);
    if (!v || v->name[strlen(v->name) - 1] != '*') return;
    fprintf(ctx, "%s=%s    # %s\n", name, config_str(name, ""), config_source(name));
}

/* A default, with "DATA" (the data directory) as it is in effect. */
static void print_default(FILE *f, const char *def)
{
    const char *data = strstr(def ? def : "", "DATA");
    if (!data) {
        fputs(def ? def : "", f);
        return;
    }
    fprintf(f, "%.*s%s%s", (int)(data - def), def, config_str("RAGD_DATA_DIR", "./data"), data + 4);
}

void config_print_effective(FILE *f)
{
    for (const struct config_var *v = config_vars; v->name; v++) {
        size_t n = strlen(v->name);
        if (v->name[n - 1] == '*') continue; /* a family: printed below, per member set */
        const char *value = config_str(v->name, NULL), *src = config_source(v->name);
        fprintf(f, "%s=", v->name);
        if (!value)
            print_default(f, v->def);
        else if (v->type == CFG_SECRET)
            fputs("****", f);
        else if (v->type == CFG_URL)
            print_masked_url(f, value);
        else
            fputs(value, f);
        fprintf(f, "    # %s\n", value ? src : (v->def ? "default" : "unset"));
    }
    config_each(print_family_member, f);
}
