"""The command line: help for every verb, init, user, seed, configuration errors."""
import os
import subprocess
import tempfile

from ragd_client import BIN

ENV = dict(os.environ, BCRYPT_ROUNDS="4", ASAN_OPTIONS="detect_leaks=0")


def ragd(*args, env=None, cwd=None, timeout=120):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout,
                          env=env or ENV, cwd=cwd)


def test_help_lists_and_describes_every_verb():
    p = ragd("--help")
    assert p.returncode == 0
    verbs = ["serve", "init", "user", "seed", "version", "tokenize", "generate", "model"]
    for v in verbs:
        assert v in p.stdout, v
    for v in ["serve", "init", "user", "seed"]:
        h = ragd(v, "--help")
        assert h.returncode == 0 and "usage: ragd " + v in h.stdout, (v, h.stdout, h.stderr)
    assert ragd().returncode == 2
    assert ragd("frobnicate").returncode == 2


def test_init_user_seed(tmp_path):
    data = str(tmp_path / "d")
    p = ragd("init", "--data", data)
    assert p.returncode == 0 and '"schema_version":1' in p.stdout.replace(" ", "") or \
        '"schema_version"' in p.stdout
    assert os.path.exists(os.path.join(data, "ragd.db"))
    p = ragd("user", "create", "--email", "cli@example.com", "--password", "password123",
             "--plan", "pro", "--admin", "--data", data)
    assert p.returncode == 0, p.stderr
    p = ragd("user", "create", "--email", "cli@example.com", "--password", "password123",
             "--data", data)
    assert p.returncode == 1 and "exists" in p.stderr
    p = ragd("user", "set-plan", "--email", "cli@example.com", "--plan", "enterprise",
             "--data", data)
    assert p.returncode == 0, p.stderr
    p = ragd("user", "set-plan", "--email", "nobody@example.com", "--plan", "pro", "--data", data)
    assert p.returncode == 1
    assert ragd("user", "create", "--email", "x@example.com", "--password", "short",
                "--data", data).returncode == 2
    assert ragd("user", "create", "--email", "bad", "--password", "password123",
                "--data", data).returncode == 2
    assert ragd("user", "set-plan", "--email", "cli@example.com", "--plan", "gold",
                "--data", data).returncode == 2
    for _ in range(2):  # idempotent
        p = ragd("seed", "--demo", "--data", data)
        assert p.returncode == 0, p.stderr
    import sqlite3
    db = sqlite3.connect(os.path.join(data, "ragd.db"))
    rows = dict(db.execute("SELECT email, subscription_plan FROM users").fetchall())
    assert rows == {"cli@example.com": "enterprise", "admin@example.com": "enterprise",
                    "test@example.com": "pro", "free@example.com": "free"}
    assert db.execute("SELECT is_superuser FROM users WHERE email='admin@example.com'"
                      ).fetchone()[0] == 1
    assert db.execute("SELECT count(*) FROM organizations WHERE name='Default Organization'"
                      ).fetchone()[0] == 1


def test_invalid_configuration_refuses_to_start(tmp_path):
    data = str(tmp_path / "d")
    for bad in ({"API_PORT": "http"}, {"BCRYPT_ROUNDS": "99"}, {"JWT_ALGORITHM": "RS256"},
                {"JWT_SECRET_KEY": "short"}):
        env = dict(ENV, **bad)
        p = ragd("serve", "--data", data, "--port", "0", env=env, timeout=20)
        assert p.returncode == 2, (bad, p.stderr)
        assert list(bad)[0] in p.stderr, (bad, p.stderr)


def test_dotenv_is_read(tmp_path):
    data = str(tmp_path / "d")
    (tmp_path / ".env").write_text("BCRYPT_ROUNDS=77\n")
    env = {k: v for k, v in ENV.items() if k != "BCRYPT_ROUNDS"}
    p = ragd("init", "--data", data, env=env, cwd=str(tmp_path))
    assert p.returncode == 2 and "BCRYPT_ROUNDS" in p.stderr
    (tmp_path / ".env").write_text("# ok\nBCRYPT_ROUNDS=5\n")
    p = ragd("init", "--data", data, env=env, cwd=str(tmp_path))
    assert p.returncode == 0, p.stderr
