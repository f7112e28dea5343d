"""The ``Containerfile``: checked line by line everywhere, built and run wherever an engine runs.

Everywhere: the base is an ``ARG``, the package comes from the checkout, git and openssh-client
are installed, the user is not root and is the one the Deployment runs as, ``cilium-gitops`` is
the entry point, no secret is built in, and every path the service writes is a volume (so the
root file system can be read-only, as the Deployment mounts it). Where ``docker`` or ``podman``
can build and run images: the image is built (on a base made from Debian packages with
``mmdebstrap`` when the default base cannot be pulled), and ``--version`` and the demo run in it
as its user, on a read-only root, without capabilities or network. Otherwise that test is
skipped and says why.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from typing import TYPE_CHECKING

import pytest
import yaml
from conftest import ROOT
from deploy_support import BASE

if TYPE_CHECKING:
    from pathlib import Path

CONTAINERFILE = ROOT / "Containerfile"
IGNORE = ROOT / ".dockerignore"
IMAGE = "localhost/cilium-gitops:test"
DEBIAN_BASE = "localhost/cilium-gitops-test-base:bookworm"
# What a slim Python base holds that the Containerfile relies on, built from Debian packages.
DEBIAN_PACKAGES = "python3,python3-venv,ca-certificates"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    text = CONTAINERFILE.read_text(encoding="utf-8")
    logical = re.sub(
        r"\\\n",
        " ",
        "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")),
    )
    found = []
    for line in logical.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            found.append((keyword.upper(), " ".join(rest.split())))
    return found


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last:]


def deployment() -> dict[str, object]:
    loaded: dict[str, object] = yaml.safe_load((BASE / "deployment.yaml").read_text())
    return loaded


def test_the_base_is_an_argument_and_a_slim_python() -> None:
    """ARG BASE before the first FROM; every stage starts from it; the default is a slim Python."""
    steps = instructions()
    assert steps[0][0] == "ARG"
    name, _, default = steps[0][1].partition("=")
    assert name == "BASE"
    assert re.fullmatch(r"[\w./-]*python:3\.(1[1-9])-slim[\w.-]*", default), default
    froms = [args for keyword, args in steps if keyword == "FROM"]
    assert len(froms) == 2
    assert all(args.split()[0] == "${BASE}" for args in froms)


def test_the_package_is_installed_from_the_checkout_with_git_and_ssh() -> None:
    """The wheel is built from the copied sources; the final stage installs git and ssh."""
    steps = instructions()
    copied = [
        args.split()[:-1] for keyword, args in steps if keyword == "COPY" and "--from" not in args
    ]
    assert sorted(s for sources in copied for s in sources) == sorted(
        ["pyproject.toml", "README.md", "reconciler", "templates", "sample-repo"]
    )
    runs = " ".join(args for keyword, args in steps if keyword == "RUN")
    assert "pip install --no-cache-dir --disable-pip-version-check /src" in runs
    installs = [
        args for keyword, args in final_stage() if keyword == "RUN" and "apt-get install" in args
    ]
    assert len(installs) == 1
    assert {"git", "openssh-client"} <= set(installs[0].split())
    assert ("ENTRYPOINT", '["cilium-gitops"]') in final_stage()


def test_it_runs_as_the_deployments_non_root_user() -> None:
    """USER is numeric, not root, and the uid and gid the Deployment's pod runs as."""
    users = [args for keyword, args in final_stage() if keyword == "USER"]
    assert len(users) == 1
    uid, _, gid = users[0].partition(":")
    assert uid.isdigit()
    assert gid.isdigit()
    assert int(uid) != 0
    pod = deployment()["spec"]["template"]["spec"]  # type: ignore[index]
    assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]) == (  # type: ignore[index]
        int(uid),
        int(gid),
    )
    assert f"useradd --uid {uid} --gid {gid}" in " ".join(a for k, a in final_stage() if k == "RUN")


def test_every_written_path_is_a_volume_the_deployment_mounts() -> None:
    """HOME, the workdir and /tmp are VOLUMEs, and writable emptyDirs on a read-only root."""
    stage = final_stage()
    (volumes,) = [json.loads(args) for keyword, args in stage if keyword == "VOLUME"]
    env = " ".join(args for keyword, args in stage if keyword == "ENV")
    home = re.search(r"\bHOME=(\S+)", env)
    workdir = re.search(r"\bCILIUM_GITOPS_WORKDIR=(\S+)", env)
    assert home is not None
    assert workdir is not None
    assert home[1] in volumes
    assert "/tmp" in volumes  # noqa: S108 - the image's /tmp, which must be a volume
    assert any(workdir[1].startswith(v + "/") for v in volumes)
    pod = deployment()["spec"]["template"]["spec"]  # type: ignore[index]
    (container,) = pod["containers"]  # type: ignore[index]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    empty = {v["name"] for v in pod["volumes"] if "emptyDir" in v}  # type: ignore[index]
    writable = {
        m["mountPath"]
        for m in container["volumeMounts"]
        if m["name"] in empty and not m.get("readOnly")
    }
    assert set(volumes) <= writable
    pod_env = {e["name"]: e["value"] for e in container["env"]}
    assert any(pod_env["CILIUM_GITOPS_WORKDIR"].startswith(v + "/") for v in volumes)


def test_no_secret_is_built_in() -> None:
    """No ENV or ARG names a secret; the build context is an allowlist of the sources."""
    for keyword, args in instructions():
        if keyword in {"ENV", "ARG"}:
            assert not re.search(r"(?i)(token|password|secret|passphrase|_key)\w*=", args), args
    lines = [
        line
        for line in IGNORE.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    assert lines[0] == "*"  # everything is left out, then the sources are let in
    allowed = {line.removeprefix("!").rstrip("/") for line in lines if line.startswith("!")}
    assert allowed == {"pyproject.toml", "README.md", "reconciler", "templates", "sample-repo"}
    secrets = [
        p
        for p in (ROOT / "sample-repo").rglob("*")
        if p.is_file() and re.search(r"(?i)(id_|\.pem$|\.key$|token)", p.name)
    ]
    assert secrets == []


# -- where an engine runs ----------------------------------------------------------------------


def _engine() -> tuple[str, str]:
    """A container engine that answers ``info``, or why none does."""
    reasons = []
    for name in ("docker", "podman"):
        path = shutil.which(name)
        if path is None:
            reasons.append(f"{name}: not installed")
            continue
        info = subprocess.run(
            [path, "info"], capture_output=True, text=True, check=False, timeout=60
        )
        if info.returncode == 0:
            return path, ""
        last = (info.stderr.strip().splitlines() or ["no output"])[-1]
        reasons.append(f"{name}: `{name} info` failed: {last}")
    return "", "; ".join(reasons)


def _run(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, check=False, timeout=timeout)


def _has_image(engine: str, image: str) -> bool:
    return _run(engine, "image", "inspect", image, timeout=60).returncode == 0


def _debian_base(engine: str, folder: Path) -> str:
    """A slim-Python-like base from Debian packages; it trusts the CA bundle pip is told to."""
    if _has_image(engine, DEBIAN_BASE):
        return DEBIAN_BASE
    mmdebstrap = shutil.which("mmdebstrap")
    if mmdebstrap is None:
        pytest.skip("the default base cannot be pulled and mmdebstrap is not installed")
    tarball = folder / "base.tar"
    args = [mmdebstrap, "--variant=minbase", f"--include={DEBIAN_PACKAGES}"]
    # A host that reaches PyPI through a proxy with its own CA tells pip so; so must the base.
    cert = os.environ.get("PIP_CERT")
    changes = ["--change", 'CMD ["python3"]']
    if cert:
        args.append(f"--customize-hook=copy-in {cert} /etc/ssl/certs/")
        changes += ["--change", f"ENV PIP_CERT=/etc/ssl/certs/{os.path.basename(cert)}"]  # noqa: PTH119
    built = _run(*args, "bookworm", str(tarball), "http://deb.debian.org/debian")
    if built.returncode != 0:
        pytest.skip(f"mmdebstrap could not build a base: {built.stderr.strip()[-300:]}")
    imported = _run(engine, "import", *changes, str(tarball), DEBIAN_BASE)
    assert imported.returncode == 0, imported.stderr
    return DEBIAN_BASE


def _flags(engine: str, base: str) -> tuple[list[str], list[str]]:
    """The engine's global flags and ``run`` flags that start a container on this machine.

    Tried in order: none; limits no higher than this process's own (where raising a limit is
    not permitted, an engine asking for more fails); and runc as the runtime (crun refuses a
    host with cgroups v1 and v2 mounted at once).
    """
    limits = []
    for name, flag in (("nofile", "RLIMIT_NOFILE"), ("nproc", "RLIMIT_NPROC")):
        import resource  # noqa: PLC0415 - POSIX only, like the engines

        hard = resource.getrlimit(getattr(resource, flag))[1]
        value = min(hard if hard != resource.RLIM_INFINITY else 10_000, 10_000)
        limits += ["--ulimit", f"{name}={value}:{value}"]
    candidates: list[tuple[list[str], list[str]]] = [([], []), ([], limits)]
    if shutil.which("runc") and engine.endswith("podman"):
        candidates.append((["--runtime", "runc"], limits))
    tried = []
    for global_flags, run_flags in candidates:
        probe = _run(engine, *global_flags, "run", "--rm", *run_flags, base, "python3", "--version")
        if probe.returncode == 0:
            return global_flags, run_flags
        tried.append((probe.stderr.strip().splitlines() or ["?"])[-1])
    pytest.skip(f"{engine} cannot start a container here: {' / '.join(tried)}")


@pytest.mark.slow
def test_the_image_builds_and_runs_the_demo_read_only(tmp_path: Path) -> None:
    """Built from the checkout; --version, then the demo as its user on a read-only root."""
    engine, why = _engine()
    if not engine:
        pytest.skip(f"no container engine can build and run images here: {why}")
    default = instructions()[0][1].partition("=")[2]
    base = default
    if not _has_image(engine, default) and _run(engine, "pull", default).returncode != 0:
        base = _debian_base(engine, tmp_path)
    global_flags, run_flags = _flags(engine, base)
    # podman would keep the build stage as an untagged image; docker's BuildKit keeps none.
    layers = ["--layers=false"] if engine.endswith("podman") else []
    build = _run(
        engine, *global_flags, "build", *layers, "--network", "host", *run_flags,
        "--build-arg", f"BASE={base}", "-f", str(CONTAINERFILE), "-t", IMAGE, str(ROOT),
    )  # fmt: skip
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    try:
        _runs_as_built(engine, global_flags, run_flags)
    finally:
        _run(engine, "image", "rm", IMAGE, timeout=120)  # the Debian base stays, for next time


def _runs_as_built(engine: str, global_flags: list[str], run_flags: list[str]) -> None:
    run = [engine, *global_flags, "run", "--rm", *run_flags]
    version = _run(*run, IMAGE, "--version", timeout=120)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == "cilium-gitops, version 0.1.0"
    locked = [*run, "--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges"]
    demo = _run(*locked, "--network", "none", IMAGE, "demo", timeout=600)
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert "no commit: the repository already matches" in demo.stdout
    assert "look around:" in demo.stdout
    where = _run(
        *locked, "--entrypoint", "sh", IMAGE, "-c",
        'id -u; touch /opt/cilium-gitops/x 2>/dev/null || echo read-only;'
        ' touch "$HOME/x" /tmp/x /var/lib/cilium-gitops/x && echo written',
        timeout=120,
    )  # fmt: skip
    assert where.stdout.split() == ["65532", "read-only", "written"], where.stderr
