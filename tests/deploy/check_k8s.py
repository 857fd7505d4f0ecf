#!/usr/bin/python3
"""check_k8s.py: deploy/k8s/ parses, each object passes a schema check, and the pieces fit together.

Usage: check_k8s.py K8S_DIR MEDIC_BIN

The schema is the Kubernetes API as Debian's python3-kubernetes models it (generated from the
API's OpenAPI spec): every field must be one the kind has, of its type, and every required field
present. No kubeconform or kubeval is packaged for Debian 12, and kubectl validates only against a
live API server. On top of the schema, medic's own rules: three replicas behind a headless service,
probes on /v1/health, a PodDisruptionBudget that keeps a quorum, non-root pods, a ConfigMap entry per
pod that `medic check-config` accepts, and Secret keys and RBAC that the StatefulSet's references
find. Prints every problem; exits 1 if there is any.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

try:
    import yaml
    import kubernetes.client as kc
    from kubernetes.client.configuration import Configuration
except ImportError as e:
    print(f"SKIPPED: {e.name} is not installed (scripts/bootstrap installs python3-yaml and python3-kubernetes)")
    sys.exit(77)

problems = []


def bad(where, what):
    problems.append(f"{where}: {what}")


def model_for(api_version, kind):
    version = api_version.split("/")[-1]
    return getattr(kc, version[0].upper() + version[1:] + kind, None)


_required_cache = {}


def required_fields(cls):
    """The attributes whose setter refuses None: the generated models' required fields."""
    if cls not in _required_cache:
        req = set()
        for attr in cls.openapi_types:
            obj = cls.__new__(cls)
            obj.local_vars_configuration = Configuration()
            obj.local_vars_configuration.client_side_validation = True
            try:
                setattr(obj, attr, None)
            except ValueError:
                req.add(attr)
        _required_cache[cls] = req
    return _required_cache[cls]


def check_value(value, typ, where):
    if typ == "object":
        return
    if typ.startswith("list["):
        if not isinstance(value, list):
            return bad(where, f"must be a list ({typ})")
        for i, v in enumerate(value):
            check_value(v, typ[5:-1], f"{where}[{i}]")
        return
    if typ.startswith("dict("):
        if not isinstance(value, dict):
            return bad(where, f"must be a map ({typ})")
        inner = typ[typ.index(",") + 1:-1].strip()
        for k, v in value.items():
            check_value(v, inner, f"{where}.{k}")
        return
    simple = {"str": str, "int": int, "bool": bool, "float": (int, float), "datetime": str, "date": str}
    if typ in simple:
        ok = isinstance(value, simple[typ]) and not (typ == "int" and isinstance(value, bool))
        if not ok:
            bad(where, f"must be {typ}, not {type(value).__name__} {value!r}")
        return
    cls = getattr(kc, typ, None)
    if cls is None:
        return bad(where, f"unknown type {typ}")
    check_object(value, cls, where)


def check_object(obj, cls, where):
    if not isinstance(obj, dict):
        return bad(where, f"must be an object ({cls.__name__})")
    by_json = {j: a for a, j in cls.attribute_map.items()}
    for key, value in obj.items():
        if key not in by_json:
            bad(f"{where}.{key}", f"no such field in {cls.__name__}")
            continue
        if value is None:
            continue
        check_value(value, cls.openapi_types[by_json[key]], f"{where}.{key}")
    for attr in required_fields(cls):
        if cls.attribute_map[attr] not in obj:
            bad(where, f"{cls.attribute_map[attr]} is required in {cls.__name__}")


def dig(obj, *path, default=None):
    for p in path:
        if isinstance(obj, dict) and p in obj:
            obj = obj[p]
        elif isinstance(obj, list) and isinstance(p, int) and p < len(obj):
            obj = obj[p]
        else:
            return default
    return obj


def load(k8s_dir):
    docs = []
    for name in sorted(os.listdir(k8s_dir)):
        if not name.endswith((".yaml", ".yml")):
            continue
        path = os.path.join(k8s_dir, name)
        try:
            with open(path) as f:
                for i, d in enumerate(yaml.safe_load_all(f)):
                    if d is not None:
                        docs.append((f"{name}#{i}", name, d))
        except yaml.YAMLError as e:
            bad(name, f"does not parse: {e}")
    return docs


def check_kustomization(k8s_dir, docs):
    kust = [d for _, _, d in docs if d.get("kind") == "Kustomization"]
    if not kust:
        return bad("kustomization.yaml", "missing")
    listed = kust[0].get("resources", [])
    files = {name for _, name, d in docs if d.get("kind") != "Kustomization"}
    for r in listed:
        if not os.path.exists(os.path.join(k8s_dir, r)):
            bad("kustomization.yaml", f"lists {r}, which does not exist")
    for f in sorted(files - set(listed)):
        bad("kustomization.yaml", f"does not list {f}")


def check_configs(cm, medic_bin, secret_keys):
    data = cm.get("data", {})
    env = dict(os.environ, MEDIC_CLUSTER_SECRET="x" * 32, MEDIC_ADMIN_TOKEN="y" * 32)
    for name, text in data.items():
        try:
            cfg = json.loads(text)
        except ValueError as e:
            bad(f"ConfigMap {name}", f"not JSON: {e}")
            continue
        with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
            f.write(text)
            f.flush()
            r = subprocess.run([medic_bin, "check-config", f.name], env=env, capture_output=True, text=True)
        if r.returncode != 0:
            bad(f"ConfigMap {name}", f"medic check-config: {r.stderr.strip()}")
        if f"{dig(cfg, 'node', 'id')}.json" != name:
            bad(f"ConfigMap {name}", f"node.id {dig(cfg, 'node', 'id')!r} does not match the key (the pod picks it by name)")
        for var in re.findall(r"\$\{([A-Z_]+)\}", text):
            if var not in ("MEDIC_CLUSTER_SECRET", "MEDIC_ADMIN_TOKEN"):
                bad(f"ConfigMap {name}", f"references ${{{var}}}, which the StatefulSet does not set")
    return data


def check_statefulset(sts, by_kind, medic_bin):
    where = "StatefulSet " + dig(sts, "metadata", "name", default="?")
    spec = sts.get("spec", {})
    if spec.get("replicas") != 3:
        bad(where, "replicas must be 3")
    svc = [s for s in by_kind.get("Service", []) if dig(s, "metadata", "name") == spec.get("serviceName")]
    if not svc or dig(svc[0], "spec", "clusterIP") != "None":
        bad(where, f"serviceName {spec.get('serviceName')!r} must name a headless Service (clusterIP: None)")
    labels = dig(spec, "template", "metadata", "labels", default={})
    for k, v in dig(spec, "selector", "matchLabels", default={}).items():
        if labels.get(k) != v:
            bad(where, f"selector {k}={v} does not match the pod template's labels")
    pod = dig(spec, "template", "spec", default={})
    if dig(pod, "securityContext", "runAsNonRoot") is not True:
        bad(where, "pods must set securityContext.runAsNonRoot: true")
    c = dig(pod, "containers", 0, default={})
    for probe in ("readinessProbe", "livenessProbe"):
        if dig(c, probe, "httpGet", "path") != "/v1/health":
            bad(where, f"{probe} must GET /v1/health")
    mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
    claims = {dig(v, "metadata", "name") for v in spec.get("volumeClaimTemplates", [])}
    if mounts.get("/var/lib/medic") not in claims:
        bad(where, "/var/lib/medic (the data dir) must be a volumeClaimTemplate")
    cms = {dig(m, "metadata", "name"): m for m in by_kind.get("ConfigMap", [])}
    cm_name = next((dig(v, "configMap", "name") for v in pod.get("volumes", []) if "configMap" in v), None)
    if cm_name not in cms:
        return bad(where, f"mounts ConfigMap {cm_name!r}, which is not defined")
    secrets = {dig(s, "metadata", "name"): s for s in by_kind.get("Secret", [])}
    for e in c.get("env", []):
        ref = dig(e, "valueFrom", "secretKeyRef")
        if ref and ref.get("key") not in dig(secrets.get(ref.get("name"), {}), "stringData", default={}):
            bad(where, f"env {e['name']}: Secret {ref.get('name')} has no key {ref.get('key')}")
    data = check_configs(cms[cm_name], medic_bin, secrets)
    for i in range(spec.get("replicas", 0)):
        if f"{dig(sts, 'metadata', 'name')}-{i}.json" not in data:
            bad(where, f"ConfigMap {cm_name} has no config for pod {dig(sts, 'metadata', 'name')}-{i}")
    sa = pod.get("serviceAccountName")
    bound = [b for b in by_kind.get("RoleBinding", [])
             if any(s.get("kind") == "ServiceAccount" and s.get("name") == sa for s in b.get("subjects", []))]
    if not any(dig(sa_, "metadata", "name") == sa for sa_ in by_kind.get("ServiceAccount", [])) or not bound:
        bad(where, f"serviceAccountName {sa!r} needs a ServiceAccount and a RoleBinding (the exec actuator's kubectl)")
    roles = {(dig(r, "metadata", "namespace"), dig(r, "metadata", "name")): r for r in by_kind.get("Role", [])}
    for b in bound:
        role = roles.get((dig(b, "metadata", "namespace"), dig(b, "roleRef", "name")))
        verbs = {v for r in dig(role, "rules", default=[]) if "deployments" in r.get("resources", []) for v in r.get("verbs", [])}
        if "patch" not in verbs:
            bad(f"RoleBinding {dig(b, 'metadata', 'name')}", "its Role must allow patch on deployments (kubectl rollout restart)")


def check_pdb(pdb, by_kind):
    where = "PodDisruptionBudget " + dig(pdb, "metadata", "name", default="?")
    sts = by_kind.get("StatefulSet", [{}])[0]
    replicas = dig(sts, "spec", "replicas", default=3)
    quorum = replicas // 2 + 1
    if dig(pdb, "spec", "minAvailable") != quorum:
        bad(where, f"minAvailable must be {quorum}, a quorum of {replicas}")
    if dig(pdb, "spec", "selector", "matchLabels") != dig(sts, "spec", "selector", "matchLabels"):
        bad(where, "its selector must be the StatefulSet's")


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: check_k8s.py K8S_DIR MEDIC_BIN")
    k8s_dir, medic_bin = sys.argv[1], sys.argv[2]
    docs = load(k8s_dir)
    by_kind = {}
    for where, _, d in docs:
        if not isinstance(d, dict) or "apiVersion" not in d or "kind" not in d:
            bad(where, "needs apiVersion and kind")
            continue
        by_kind.setdefault(d["kind"], []).append(d)
        if d["kind"] == "Kustomization":
            continue
        cls = model_for(d["apiVersion"], d["kind"])
        if cls is None:
            bad(where, f"unknown apiVersion/kind {d['apiVersion']} {d['kind']}")
            continue
        check_object(d, cls, f"{where} {d['kind']}")
    check_kustomization(k8s_dir, docs)
    for kind in ("StatefulSet", "PodDisruptionBudget", "ConfigMap", "Secret", "Role", "RoleBinding", "ServiceAccount"):
        if kind not in by_kind:
            bad(k8s_dir, f"no {kind}")
    for sts in by_kind.get("StatefulSet", []):
        check_statefulset(sts, by_kind, medic_bin)
    for pdb in by_kind.get("PodDisruptionBudget", []):
        check_pdb(pdb, by_kind)
    for p in problems:
        print(p)
    print(f"check_k8s: {len(docs)} objects, {len(problems)} problems")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
