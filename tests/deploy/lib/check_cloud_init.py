"""Checks deploy/cloud-init.yaml: valid cloud-config (cloud-init's JSON schema)
that installs Redis with the settings kakaobot's unit relies on.

Usage: check_cloud_init.py CLOUD_INIT_YAML SCHEMA_JSON SETUP_SCRIPT_OUT

Prints a one-line summary and exits 0, or prints every problem and exits 1.
Writes the embedded kakaobot-host-setup script to SETUP_SCRIPT_OUT so the
caller can shellcheck it.
"""

import json
import sys

import jsonschema
import yaml


def main() -> int:
    path, schema_path, script_out = sys.argv[1:4]
    problems = []
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if not text.startswith("#cloud-config\n"):
        problems.append("the first line must be '#cloud-config' (cloud-init ignores the file otherwise)")
    doc = yaml.safe_load(text)
    if not isinstance(doc, dict):
        print(f"{path}: not a YAML mapping")
        return 1

    with open(schema_path, encoding="utf-8") as f:
        schema = json.load(f)
    validator = jsonschema.Draft4Validator(schema)
    for err in sorted(validator.iter_errors(doc), key=lambda e: list(e.path)):
        where = "/".join(str(p) for p in err.path) or "(top)"
        problems.append(f"schema: {where}: {err.message}")

    packages = doc.get("packages") or []
    for pkg in ("redis-server", "unattended-upgrades", "curl"):
        if pkg not in packages:
            problems.append(f"packages: {pkg} is missing")

    files = {f.get("path"): f.get("content", "") for f in doc.get("write_files") or []}
    redis_conf = files.get("/etc/redis/kakaobot.conf", "")
    for line in (
        "bind 127.0.0.1 -::1",
        "appendonly yes",
        "appendfsync everysec",
        "maxmemory 256mb",
        "maxmemory-policy volatile-lru",
    ):
        if line not in redis_conf.splitlines():
            problems.append(f"/etc/redis/kakaobot.conf: '{line}' is missing")
    auto = files.get("/etc/apt/apt.conf.d/20auto-upgrades", "")
    if 'APT::Periodic::Unattended-Upgrade "1";' not in auto:
        problems.append("unattended upgrades are not enabled in /etc/apt/apt.conf.d/20auto-upgrades")
    setup = files.get("/usr/local/sbin/kakaobot-host-setup", "")
    if not setup:
        problems.append("write_files lacks /usr/local/sbin/kakaobot-host-setup")
    for needle in ("include /etc/redis/kakaobot.conf", "/etc/kakaobot"):
        if needle not in setup:
            problems.append(f"kakaobot-host-setup does not mention {needle}")
    runcmd = doc.get("runcmd") or []
    if ["/usr/local/sbin/kakaobot-host-setup"] not in runcmd:
        problems.append("runcmd does not run /usr/local/sbin/kakaobot-host-setup")
    with open(script_out, "w", encoding="utf-8") as f:
        f.write(setup)

    if problems:
        print("\n".join(problems))
        return 1
    print(
        f"valid cloud-config ({len(doc)} keys, schema {schema.get('$schema', '?')}); "
        "redis-server on localhost with appendonly/everysec and maxmemory/volatile-lru, "
        "unattended upgrades, /etc/kakaobot"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
