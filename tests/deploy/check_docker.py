#!/usr/bin/python3
"""check_docker.py: deploy/docker/ without a container engine (none runs on the test machines).

Usage: check_docker.py REPO_DIR MEDIC_BIN

The Dockerfile: its build stage runs the project's own build as CI does (scripts/bootstrap
--build-only, then `make install`, whose configure flags are the Makefile's RELEASE_FLAGS, the same
the `test` target compiles, followed by `cmake --install`); the final stage is Debian 12, runs as a
non-root user, keeps the data dir in a VOLUME, has a HEALTHCHECK on /v1/health, and installs every
runtime library package the binary links (its ELF NEEDED entries, mapped to packages with dpkg -S)
and no -dev package or compiler. compose.yml: parses, names existing files, stages and volumes, and
each node's config passes `medic check-config`. Prints every problem; exits 1 if there is any.
"""
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile

try:
    import yaml
except ImportError:
    print("SKIPPED: python3-yaml is not installed (scripts/bootstrap installs it)")
    sys.exit(77)

problems = []


def bad(where, what):
    problems.append(f"{where}: {what}")


def instructions(path):
    """(line, INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out, buf, start = [], "", 0
    with open(path) as f:
        for n, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if not buf and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if buf and line.lstrip().startswith("#"):
                continue
            if not buf:
                start = n
            if line.endswith("\\"):
                buf += line[:-1] + " "
                continue
            buf += line
            word, _, rest = buf.strip().partition(" ")
            out.append((start, word.upper(), rest.strip()))
            buf = ""
    return out


def stages(instrs):
    result, cur = [], None
    for n, word, rest in instrs:
        if word == "FROM":
            m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?", rest, re.I)
            cur = {"image": m.group(1), "name": m.group(2) or str(len(result)), "line": n, "instrs": []}
            result.append(cur)
        elif cur is not None:
            cur["instrs"].append((n, word, rest))
    return result


def makefile_target(makefile, target):
    lines, on = [], False
    with open(makefile) as f:
        for line in f:
            if re.match(rf"^{re.escape(target)}:", line):
                on = True
                continue
            if on and line.startswith("\t"):
                lines.append(line.strip())
            elif on:
                break
    return lines


def check_build_stage(repo, st):
    where = f"Dockerfile stage {st['name']} (line {st['line']})"
    runs = [rest for _, w, rest in st["instrs"] if w == "RUN"]
    cmds = [c.strip() for r in runs for c in re.split(r"&&|;", r)]
    boot = [i for i, c in enumerate(cmds) if c.startswith("scripts/bootstrap")]
    inst = [i for i, c in enumerate(cmds) if re.match(r"make\b.*\binstall\b", c)]
    if not boot or shlex.split(cmds[boot[0]])[1:2] != ["--build-only"]:
        bad(where, "must run `scripts/bootstrap --build-only` (the project's installer, build packages only)")
    if not inst:
        bad(where, "must build with `make install PREFIX=...` (the Makefile's release build and cmake --install)")
    elif boot and boot[0] > inst[0]:
        bad(where, "runs make install before scripts/bootstrap")
    for c in cmds:
        if re.match(r"cmake\s", c) and "pkg-config" not in c:
            bad(where, f"runs cmake itself ({c!r}): use `make install` so the flags stay the Makefile's")
    makefile = os.path.join(repo, "Makefile")
    flags = None
    with open(makefile) as f:
        m = re.search(r"^RELEASE_FLAGS\s*=\s*(.*)$", f.read(), re.M)
        flags = m.group(1).split() if m else None
    if flags is None or "-DCMAKE_BUILD_TYPE=Release" not in flags or "-DMEDIC_TESTS=OFF" not in flags:
        bad("Makefile", "RELEASE_FLAGS must be the packaged build (-DCMAKE_BUILD_TYPE=Release -DMEDIC_TESTS=OFF)")
    install = makefile_target(makefile, "install")
    test = makefile_target(makefile, "test")
    if not any("cmake -S" in l and "$(RELEASE_FLAGS)" in l for l in install) or not any("cmake --install" in l for l in install):
        bad("Makefile install", "must configure with $(RELEASE_FLAGS) and run cmake --install")
    if not any("cmake -S" in l and "$(RELEASE_FLAGS)" in l for l in test):
        bad("Makefile test", "must build $(RELEASE_FLAGS) too, so CI compiles what the image ships")
    with open(os.path.join(repo, ".ci", "run")) as f:
        if "make test" not in f.read():
            bad(".ci/run", "CI no longer runs make test; update this check")


def needed_packages(binary):
    """Debian packages of the shared libraries the binary names directly (ELF NEEDED)."""
    out = subprocess.run(["readelf", "-d", binary], capture_output=True, text=True, check=True).stdout
    sonames = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)
    ldd = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
    paths = dict(re.findall(r"^\s*(\S+) => (\S+)", ldd, re.M))
    pkgs = {}
    for so in sonames:
        path = os.path.realpath(paths.get(so, so))
        r = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True)
        if r.returncode != 0:
            # merged /usr: dpkg may know the /lib path
            r = subprocess.run(["dpkg", "-S", path.replace("/usr/lib/", "/lib/", 1)], capture_output=True, text=True)
        if r.returncode != 0:
            bad(binary, f"cannot find the package of {so} ({path})")
            continue
        pkgs[so] = r.stdout.split(":")[0]
    return pkgs


def check_final_stage(st, medic_bin):
    where = f"Dockerfile final stage {st['name']} (line {st['line']})"
    by = {}
    for _, w, rest in st["instrs"]:
        by.setdefault(w, []).append(rest)
    user = (by.get("USER") or ["root"])[-1].split(":")[0]
    if user in ("root", "0"):
        bad(where, "must run as a non-root USER")
    if not any("/var/lib/medic" in v for v in by.get("VOLUME", [])):
        bad(where, "the data dir /var/lib/medic must be a VOLUME")
    hc = " ".join(by.get("HEALTHCHECK", []))
    if not hc or not ("/v1/health" in hc or re.search(r"medic\"?,?\s*\"?health", hc)):
        bad(where, "needs a HEALTHCHECK on /v1/health (medic health)")
    exposed = " ".join(by.get("EXPOSE", [])).split()
    for port in ("8700", "8710"):
        if port not in exposed:
            bad(where, f"must EXPOSE {port}")
    if not any("medic" in e for e in by.get("ENTRYPOINT", [])):
        bad(where, "ENTRYPOINT must run medic")
    if not any(re.search(r"--from=\S+\s+\S*/bin/medic\s", c + " ") for c in by.get("COPY", [])):
        bad(where, "must COPY the installed bin/medic from the build stage")
    runs = " ".join(by.get("RUN", []))
    m = re.search(r"apt-get install ((?:[^&;])*)", runs)
    installed = set(m.group(1).split()) if m else set()
    for p in installed:
        if p.endswith("-dev") or p in ("gcc", "cmake", "make", "build-essential", "clang"):
            bad(where, f"installs {p}: the final image holds runtime libraries only")
    base = {"libc6"}  # in every Debian image
    for so, pkg in sorted(needed_packages(medic_bin).items()):
        if pkg in base or re.match(r"lib(asan|ubsan|lsan|tsan)\d*$", pkg):
            continue  # the sanitizer runtimes exist only in the test build this check runs on
        if pkg not in installed:
            bad(where, f"medic needs {so} from package {pkg}, which the final stage does not install")


def check_compose(repo, medic_bin, dockerfile_stages):
    ddir = os.path.join(repo, "deploy", "docker")
    path = os.path.join(ddir, "compose.yml")
    try:
        with open(path) as f:
            doc = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        return bad("compose.yml", f"does not parse: {e}")
    services = doc.get("services") or {}
    volumes = doc.get("volumes") or {}
    if "demo" not in services:
        bad("compose.yml", "needs the demo service")
    nodes = [n for n, s in services.items() if "/etc/medic/medic.json" in " ".join(map(str, s.get("volumes", [])))]
    if len(nodes) != 3:
        bad("compose.yml", f"needs three medic nodes, has {nodes}")
    env = dict(os.environ, MEDIC_CLUSTER_SECRET="x" * 32, MEDIC_ADMIN_TOKEN="y" * 32)
    for name, s in services.items():
        where = f"compose.yml service {name}"
        b = s.get("build")
        if b:
            ctx = os.path.normpath(os.path.join(ddir, b.get("context", ".")))
            if not os.path.exists(os.path.join(ctx, b.get("dockerfile", "Dockerfile"))):
                bad(where, f"build.dockerfile {b.get('dockerfile')} does not exist in {ctx}")
            if b.get("target") and b["target"] not in dockerfile_stages:
                bad(where, f"build.target {b['target']} is not a Dockerfile stage")
        for v in s.get("volumes", []):
            src, _, rest = str(v).partition(":")
            dst = rest.split(":")[0]
            if src.startswith((".", "/")):
                if not os.path.exists(os.path.join(ddir, src)):
                    bad(where, f"mounts {src}, which does not exist")
            elif src not in volumes:
                bad(where, f"volume {src} is not declared under volumes:")
            if dst == "/etc/medic/medic.json":
                check_node_config(os.path.join(ddir, src), medic_bin, env, services, where)
        if name in nodes and not any(str(v).split(":")[1:2] == ["/var/lib/medic"] for v in s.get("volumes", [])):
            bad(where, "the data dir /var/lib/medic must be a volume")


def check_node_config(path, medic_bin, env, services, where):
    if not os.path.exists(path):
        return
    r = subprocess.run([medic_bin, "check-config", path], env=env, capture_output=True, text=True)
    if r.returncode != 0:
        return bad(where, f"medic check-config: {r.stderr.strip()}")
    with open(path) as f:
        cfg = json.load(f)
    for p in cfg.get("cluster", {}).get("peers", []):
        host = re.sub(r"^[a-z+]+://", "", p["address"]).rsplit(":", 1)[0]
        if host not in services:
            bad(where, f"peer {p['id']} at {host}, which is no compose service")


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: check_docker.py REPO_DIR MEDIC_BIN")
    repo, medic_bin = sys.argv[1], sys.argv[2]
    dockerfile = os.path.join(repo, "deploy", "docker", "Dockerfile")
    sts = stages(instructions(dockerfile))
    for st in sts:
        if not re.match(r"debian:(12|bookworm)(-slim)?$", st["image"]):
            bad(f"Dockerfile line {st['line']}", f"FROM {st['image']}: every stage is Debian 12")
    final = sts[-1] if sts else None
    copied_from = [re.search(r"--from=(\S+)", c).group(1) for _, w, c in (final["instrs"] if final else [])
                   if w == "COPY" and "--from=" in c]
    build = [s for s in sts if s["name"] in copied_from]
    if not final or not build:
        bad("Dockerfile", "needs a build stage and a final stage that copies from it")
    else:
        check_build_stage(repo, build[0])
        check_final_stage(final, medic_bin)
    check_compose(repo, medic_bin, {s["name"] for s in sts})
    for p in problems:
        print(p)
    print(f"check_docker: {len(sts)} stages, {len(problems)} problems")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
