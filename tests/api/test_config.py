"""The configuration table: README and .env.example generated from it, every variable the source
reads has a row, bad values stop ragd naming the variable, misspellings warn, secrets masked."""
import glob
import os
import re
import subprocess

import pytest

from ragd_client import BIN, ROOT

ENV = {k: v for k, v in os.environ.items()
       if not re.match(r"^(JWT_|DATABASE_URL|REDIS_URL|RATE_LIMIT_|LOG_LEVEL)", k)}
ENV.update(BCRYPT_ROUNDS="4", ASAN_OPTIONS="detect_leaks=0")


def ragd(*args, env=None, cwd=None, timeout=60):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout,
                          env=env or ENV, cwd=cwd)


def table_names():
    p = ragd("config", "table", "--names")
    assert p.returncode == 0, p.stderr
    return p.stdout.split()


# A variable the source reads: a literal name in a config_* getter or getenv(), or one marked
# CONFIG_NAME("...") where the name is built or kept in a table ("X_" marks the family X_*).
READ = re.compile(r'\b(?:config_(?:str|int|bool|double)|getenv|CONFIG_NAME)\(\s*"([A-Z][A-Z0-9_]*)"')


def source_reads():
    found = {}
    for path in glob.glob(os.path.join(ROOT, "src", "**", "*.[ch]"), recursive=True):
        rel = os.path.relpath(path, ROOT)
        if rel in ("src/core/config.h", "src/core/config_vars.c"):
            continue
        for m in READ.finditer(open(path, encoding="utf-8").read()):
            name = m.group(1)
            found.setdefault(name + "*" if name.endswith("_") else name, set()).add(rel)
    return found


def test_every_variable_read_has_a_row_and_every_row_a_reader():
    names = set(table_names())
    reads = source_reads()
    assert len(reads) > 100, "the scan of src/ found too few variables: is the pattern broken?"
    missing = sorted(n for n in reads if n not in names)
    assert not missing, "\n".join(
        f"{n} is read in {', '.join(sorted(reads[n]))} but has no row in src/core/config_vars.c "
        "(add one, then run scripts/config-docs.sh)" for n in missing)
    stale = sorted(n for n in names if n not in reads)
    assert not stale, "rows in src/core/config_vars.c that nothing reads: " + ", ".join(stale)


def test_readme_and_env_example_are_generated_from_the_table():
    md = ragd("config", "table", "--markdown").stdout
    env = ragd("config", "table", "--env").stdout
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    m = re.search(r"<!-- config-table:begin -->\n(.*?)\n<!-- config-table:end -->", readme, re.S)
    assert m, "README.md lost its config-table markers"
    hint = " (run scripts/config-docs.sh after changing src/core/config_vars.c)"
    assert m.group(1) == md.rstrip("\n"), "README.md's configuration table is stale" + hint
    example = open(os.path.join(ROOT, ".env.example"), encoding="utf-8").read()
    assert example == env, ".env.example is stale" + hint
    for name in table_names():
        shown = name.replace("*", "&lt;RESOURCE&gt;")
        assert f"| {shown} |" in md, name
    # .env.example changes nothing when copied as it is: every assignment is commented out.
    assert not [ln for ln in example.splitlines() if ln and not ln.startswith("#")]


BAD = [  # 20 kinds of bad values, and more
    ("API_PORT", "http"),                      # int: not a number
    ("API_PORT", "70000"),                     # int: out of range
    ("BCRYPT_ROUNDS", "99"),                   # int: above the maximum
    ("CHUNK_SIZE", "12.5"),                    # int: a fraction
    ("AUDIT_RETENTION_DAYS", "7"),             # duration: below the floor
    ("GENERATION_TOP_P", "2"),                 # number: out of range
    ("BM25_B", "half"),                        # number: not a number
    ("ENABLE_BILLING", "maybe"),               # bool
    ("REDIS_FALLBACK_TO_MEMORY", "2"),         # bool: a number
    ("LOG_LEVEL", "loud"),                     # enum
    ("SQLITE_SYNCHRONOUS", "SOMETIMES"),       # enum (was silently FULL before)
    ("LLM_PROVIDER", "anthropic"),             # enum
    ("DATABASE_URL", "mysql://u@h/db"),        # url: scheme
    ("REDIS_URL", "localhost:6379"),           # url: no scheme
    ("PUBLIC_BASE_URL", "https://"),           # url: no host
    ("OPENAI_API_BASE", "http://h:99999/v1"),  # url: port
    ("CORS_ORIGINS", "[\"http://a\", 3]"),     # list: not strings
    ("RATE_LIMIT_CHAT", "lots"),               # rate
    ("JWT_SECRET_KEY", "your-super-secret-key-change-in-production"),  # seed 000's placeholder
    ("DATABASE_URL", "postgresql://chatbot_user:secure_password@localhost:5432/app"),  # seed's
    ("TRUSTED_PROXIES", "10.0.0.1/8"),         # networks: host bits set
    ("TRUSTED_PROXIES", "proxy.internal"),     # networks: not an address
    ("ENCRYPTION_KEY", "64-char-hex-string"),  # seed 004's placeholder
    ("CORS_ORIGINS", "ftp://files.example"),   # list: scheme
]


@pytest.mark.parametrize("name,value", BAD, ids=[f"{n}={v[:20]}" for n, v in BAD])
def test_bad_value_stops_ragd_naming_the_variable(tmp_path, name, value):
    env = dict(ENV, **{name: value})
    p = ragd("serve", "--data", str(tmp_path / "d"), "--port", "0", env=env, timeout=30)
    assert p.returncode == 2, (name, value, p.stdout[-500:], p.stderr[-2000:])
    assert name in p.stderr, p.stderr
    assert not os.path.exists(tmp_path / "d" / "ragd.db"), "validation must come before the store"
    if "secret" in name.lower() or "password" in value:
        assert value not in p.stderr, "a secret was echoed"


def test_more_placeholder_secrets_are_refused(tmp_path):
    for name, value in [("SMTP_PASSWORD", "your-app-password"), ("OPENAI_API_KEY", "sk_test_..."),
                        ("NOTIFY_WEBHOOK_SECRET", "change-me"),
                        ("RAZORPAY_KEY_ID", "rzp_test_xxx"), ("SMTP_USER", "your-email@gmail.com"),
                        ("SMTP_HOST", "..."), ("STRIPE_WEBHOOK_SECRET", "whsec_..."),
                        ("RAZORPAY_KEY_SECRET", "xxx"), ("ENCRYPTION_KEY", "..."),
                        ("EMBEDDING_API_KEY", "your-secret-key-here")]:
        p = ragd("config", "check", env=dict(ENV, **{name: value}))
        assert p.returncode == 2 and name in p.stderr, (name, p.stderr)


def test_a_seeds_env_file_copied_as_it_is_is_refused(tmp_path):
    # lines as the seeds' .env examples write them, inline comments included
    (tmp_path / ".env").write_text(
        "JWT_SECRET_KEY=your-secret-key-here\n"
        "ENCRYPTION_KEY=...  # 32-byte key for AES-256\n"
        "SMTP_USER=your-email@gmail.com\n"
        "STRIPE_API_KEY=sk_test_...  # For payment processing\n"
        "DATABASE_URL=postgresql://user:pass@host:port/db\n")
    p = ragd("config", "check", cwd=str(tmp_path))
    assert p.returncode == 2, p.stderr
    for name in ("JWT_SECRET_KEY", "ENCRYPTION_KEY", "SMTP_USER", "STRIPE_API_KEY",
                 "DATABASE_URL"):
        assert name in p.stderr, (name, p.stderr)
    assert "your-secret-key-here" not in p.stderr + p.stdout


def test_misspelt_variable_warns_with_the_closest_name(tmp_path):
    env = dict(ENV, JWT_SECRT_KEY="x" * 32, OPENAI_API_KY="k", BCRYPT_ROUND="5", RAGD_DATADIR="/x")
    p = ragd("config", "check", env=env)
    assert p.returncode == 0, p.stderr
    for typo, real in [("JWT_SECRT_KEY", "JWT_SECRET_KEY"), ("OPENAI_API_KY", "OPENAI_API_KEY"),
                       ("BCRYPT_ROUND", "BCRYPT_ROUNDS"), ("RAGD_DATADIR", "RAGD_DATA_DIR")]:
        assert re.search(rf"{typo}\b.*did you mean {real}\?", p.stderr), (typo, p.stderr)
    assert "PATH" not in p.stderr and "HOME" not in p.stderr
    # serve logs the same warning and starts anyway
    (tmp_path / "d").mkdir()
    p = ragd("init", "--data", str(tmp_path / "d"), env=dict(ENV, BCRYPT_ROUND="5"))
    assert p.returncode == 0, p.stderr
    assert "BCRYPT_ROUND" in p.stdout + p.stderr and "BCRYPT_ROUNDS" in p.stdout + p.stderr


def test_config_check_masks_secrets_and_says_where_values_come_from(tmp_path):
    (tmp_path / ".env").write_text("SMTP_HOST=mail.example.org\n")
    env = dict(ENV, JWT_SECRET_KEY="s3cr3t-value-0123456789abcdef", SMTP_PASSWORD="hunter2hunter2",
               DATABASE_URL="postgresql://ragd:pgpass123@db.example.org:5432/ragd",
               API_PORT="9001")
    p = ragd("config", "check", env=env, cwd=str(tmp_path))
    assert p.returncode == 0, p.stderr
    out = p.stdout
    for secret in ("s3cr3t-value", "hunter2", "pgpass123"):
        assert secret not in out, out
    assert re.search(r"^JWT_SECRET_KEY=\*\*\*\* +# env$", out, re.M), out
    assert "DATABASE_URL=postgresql://ragd:****@db.example.org:5432/ragd" in out
    assert re.search(r"^API_PORT=9001 +# env$", out, re.M)
    assert re.search(r"^SMTP_HOST=mail.example.org +# \.env$", out, re.M)
    assert re.search(r"^BCRYPT_ROUNDS=4 +# env$", out, re.M)
    assert re.search(r"^GENERATION_MAX_TOKENS=512 +# default$", out, re.M)
    p = ragd("config", "check", "--data", "/srv/ragd")
    assert re.search(r"^MODELS_DIR=/srv/ragd/models +# default$", p.stdout, re.M), p.stdout


def test_plain_sqlite_path_and_driver_schemes_are_valid_urls(tmp_path):
    for url in (str(tmp_path / "x.db"), "sqlite:" + str(tmp_path / "y.db"),
                "postgresql+asyncpg://u:realpass@h/db"):
        p = ragd("config", "check", env=dict(ENV, DATABASE_URL=url))
        assert p.returncode == 0, (url, p.stderr)
