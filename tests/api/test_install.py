"""Packaging: `make install` gives a layout that serves without WEB_DIR, the systemd unit passes
systemd-analyze, the Dockerfile names only Debian 12 packages that exist and the runtime stage
carries every library the binary links."""
import os
import re
import shutil
import subprocess
import time
import urllib.request

import pytest

from ragd_client import ROOT, free_port

RELEASE = os.path.join(ROOT, "build", "release", "ragd")


def clean_env(**extra):
    # Not the make of `make test`: its jobserver descriptors are not ours.
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")
           and not k.startswith(("WEB_", "DATABASE_URL", "REDIS_URL", "LOG_"))}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    dest = tmp_path_factory.mktemp("destdir")
    p = subprocess.run(["make", "-s", "--no-print-directory", "install", f"DESTDIR={dest}"],
                       cwd=ROOT, capture_output=True, text=True, timeout=1800, env=clean_env())
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-4000:]
    return dest


def test_install_layout(installed):
    pre = installed / "usr" / "local"
    binary = pre / "bin" / "ragd"
    assert binary.is_file() and os.access(binary, os.X_OK)
    assert (pre / "share" / "ragd" / "web" / "index.html").is_file()
    assert (pre / "share" / "ragd" / "web" / "admin.html").is_file()
    assert (pre / "share" / "ragd" / "web" / "static").is_dir()
    assert (pre / "share" / "doc" / "ragd" / "README.md").is_file()
    assert (pre / "share" / "doc" / "ragd" / "kb" / "getting-started.md").is_file()
    example = pre / "etc" / "ragd" / "ragd.env.example"
    assert example.read_text() == open(os.path.join(ROOT, ".env.example")).read()
    unit = (pre / "lib" / "systemd" / "system" / "ragd.service").read_text()
    assert "ExecStart=/usr/local/bin/ragd serve" in unit
    assert "EnvironmentFile=-/usr/local/etc/ragd/ragd.env" in unit
    # nothing outside DESTDIR/PREFIX
    assert sorted(os.listdir(installed)) == ["usr"]


def test_install_to_usr_puts_the_configuration_in_etc_and_uninstall_removes_it(tmp_path):
    def make(*args):
        p = subprocess.run(["make", "-s", "--no-print-directory", *args, f"DESTDIR={tmp_path}",
                            "PREFIX=/usr"], cwd=ROOT, capture_output=True, text=True,
                           timeout=1800, env=clean_env())
        assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-4000:]

    make("install")
    assert (tmp_path / "etc" / "ragd" / "ragd.env.example").is_file()
    unit = (tmp_path / "usr" / "lib" / "systemd" / "system" / "ragd.service").read_text()
    assert "ExecStart=/usr/bin/ragd serve" in unit
    assert "EnvironmentFile=-/etc/ragd/ragd.env" in unit
    assert (tmp_path / "usr" / "share" / "ragd" / "web" / "index.html").is_file()
    (tmp_path / "etc" / "ragd" / "ragd.env").write_text("LOG_LEVEL=info\n")  # the operator's
    make("uninstall")
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert left == ["etc/ragd/ragd.env"], left


def test_installed_binary_serves_the_web_ui_without_web_dir(installed, tmp_path):
    binary = installed / "usr" / "local" / "bin" / "ragd"
    port = free_port()
    data = tmp_path / "data"
    log = open(tmp_path / "ragd.log", "wb")
    # started from an empty folder: nothing found through the working directory
    proc = subprocess.Popen([str(binary), "serve", "--data", str(data), "--port", str(port)],
                            cwd=str(tmp_path), stdout=log, stderr=subprocess.STDOUT,
                            env=clean_env(BCRYPT_ROUNDS="4", LOG_LEVEL="warning"))
    try:
        deadline, health = time.time() + 60, None
        while time.time() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
                    health = r.status
                    break
            except OSError:
                time.sleep(0.1)
        assert health == 200, open(tmp_path / "ragd.log").read()[-3000:]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as r:
            assert r.status == 200
            assert "text/html" in r.headers["Content-Type"]
            assert "<html" in r.read().decode().lower()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/admin", timeout=10) as r:
            assert r.status == 200
        assert "web UI not found" not in open(tmp_path / "ragd.log").read()
    finally:
        proc.terminate()
        assert proc.wait(timeout=60) == 0
        log.close()


# ---- systemd ----

def test_systemd_unit_verifies_and_is_hardened(installed, tmp_path):
    text = open(os.path.join(ROOT, "packaging", "ragd.service")).read()
    for directive in ("DynamicUser=yes", "StateDirectory=ragd", "ProtectSystem=strict",
                      "ProtectHome=yes", "PrivateTmp=yes", "NoNewPrivileges=yes",
                      "RestrictAddressFamilies=", "SystemCallFilter=@system-service",
                      "ExecReload=/bin/kill -HUP $MAINPID", "EnvironmentFile=-/etc/ragd/ragd.env"):
        assert re.search(rf"^{re.escape(directive)}", text, re.M), directive
    tool = shutil.which("systemd-analyze")
    if not tool:
        pytest.skip("systemd-analyze is not installed: the unit is not verified")
    # verify checks that ExecStart is executable: point it at the installed binary
    binary = installed / "usr" / "local" / "bin" / "ragd"
    unit = tmp_path / "ragd.service"
    unit.write_text(text.replace("/usr/local/bin/ragd", str(binary)))
    p = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True, timeout=120)
    # an unknown or misspelt directive is only a warning on stderr: that fails too
    problems = [ln for ln in (p.stdout + p.stderr).splitlines() if "ragd.service" in ln]
    assert p.returncode == 0 and not problems, p.stdout + p.stderr
    p = subprocess.run([tool, "security", "--offline=yes", str(unit)], capture_output=True,
                       text=True, timeout=120)
    m = re.search(r"Overall exposure level for ragd\.service: ([0-9.]+)", p.stdout)
    if not m:
        pytest.skip("systemd-analyze security --offline is not supported: " + p.stderr[-300:])
    assert float(m.group(1)) <= 2.5, p.stdout[-3000:]


# ---- Docker ----

def dockerfile_stages():
    """The Dockerfile's stages: [(FROM line, [packages apt-get installs])]."""
    text = open(os.path.join(ROOT, "Dockerfile")).read().replace("\\\n", " ")
    stages = []
    for line in text.splitlines():
        if line.startswith("FROM "):
            stages.append((line, []))
        m = re.search(r"apt-get install ([^&]*)", line)
        if m and stages:
            stages[-1][1].extend(w for w in m.group(1).split() if not w.startswith("-"))
    return stages


def test_dockerfile_shape():
    stages = dockerfile_stages()
    assert len(stages) == 2, "a build stage and a runtime stage"
    assert all("debian:bookworm" in f for f, _ in stages)
    build, runtime = stages[0][1], stages[1][1]
    assert not [p for p in runtime if p.endswith("-dev")], "the runtime stage has no -dev package"
    # the build stage installs what scripts/deps.sh installs to build ragd
    deps = open(os.path.join(ROOT, "scripts", "deps.sh")).read()
    wanted = {p for p in re.findall(r"\b(lib[a-z0-9.+-]*-dev)\b", deps) if p != "libcmocka-dev"
              and not p.startswith("libclang")}
    assert wanted <= set(build), wanted - set(build)
    text = open(os.path.join(ROOT, "Dockerfile")).read()
    for directive in ("USER ragd", "VOLUME", "EXPOSE 8000", "HEALTHCHECK", "COPY --from=build"):
        assert directive in text, directive
    ignore = open(os.path.join(ROOT, ".dockerignore")).read().split()
    for path in ("build", ".git", ".env", "data"):
        assert path in ignore, path


def test_dockerfile_packages_exist_and_cover_the_binary():
    if not shutil.which("apt-cache") or not shutil.which("dpkg"):
        pytest.skip("not a Debian system: apt-cache and dpkg are needed to check the packages")
    release = open("/etc/os-release").read()
    if 'VERSION_CODENAME=bookworm' not in release:
        pytest.skip("the package names are checked on Debian 12 only")
    stages = dockerfile_stages()
    names = sorted({p for _, pkgs in stages for p in pkgs})
    p = subprocess.run(["apt-cache", "show", "--no-all-versions", *names], capture_output=True,
                       text=True, timeout=120)
    found = set(re.findall(r"^Package: (\S+)", p.stdout, re.M))
    missing = [n for n in names if n not in found]
    assert not missing, f"not Debian 12 packages: {missing}"
    # every library the release binary needs directly comes from a runtime-stage package
    if not os.path.exists(RELEASE):
        pytest.skip("build/release/ragd is not built: the runtime libraries are not checked")
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]",
                        subprocess.run(["readelf", "-d", RELEASE], capture_output=True,
                                       text=True).stdout)
    paths = dict(re.findall(r"^\s*(\S+) => (\S+)", subprocess.run(
        ["ldd", RELEASE], capture_output=True, text=True).stdout, re.M))
    runtime = set(stages[1][1])
    wanted = {lib: paths[lib] for lib in needed if lib in paths}
    # one dpkg query for every path, as linked and resolved (merged /usr: either may be known)
    queries = sorted({p for path in wanted.values() for p in (path, os.path.realpath(path))})
    owners = {}
    for ln in subprocess.run(["dpkg", "-S", *queries], capture_output=True,
                             text=True).stdout.splitlines():
        pkg, _, path = ln.partition(": ")
        owners[path.strip()] = pkg.split(":")[0]
    uncovered = []
    for lib, path in wanted.items():
        pkg = owners.get(path) or owners.get(os.path.realpath(path))
        assert pkg, f"no package owns {path}"
        if pkg not in runtime and pkg != "libc6":
            uncovered.append(f"{lib} ({pkg})")
    assert not uncovered, "the runtime stage lacks " + ", ".join(uncovered)
