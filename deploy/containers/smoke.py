"""The container smoke test's checks (deploy/containers/smoke.sh runs them against the compose stack).

`journey`: what a person does, from the host through the published ports on 127.0.0.1: load the web app and
every module it imports, sign in through REST, enroll, complete a lesson, upload a media file and download it
from the URL the API hands out, read the certificate; prints the learner's email, whose welcome email
smoke.sh then finds in the log.

`pods`: each Deployment of deploy/kustomize/base, run from the same image with `docker run` flags that mirror
its pod security context (read-only root, its non-root user, every capability dropped, no privilege
escalation, tmpfs only where the manifest mounts an emptyDir), must answer every probe on the manifest's path
and port. It joins the stack's network with the running service's settings.
"""

import argparse
import hashlib
import json
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # the tests' PNG maker, so the upload is a real image

from tests.support.files import png  # noqa: E402

DOCKER = "/usr/bin/docker"  # Debian's client, as smoke.sh uses
IMAGES = {"coursegraph/python": "coursegraph-app:ci", "coursegraph/router": "coursegraph-router:ci"}

CREATE_COURSE = """mutation($input: CreateCourseInput!) {
  createCourse(input: $input) { course { id modules { lessons { id } } } errors { code message } }
}"""
PUBLISH_COURSE = "mutation($id: ID!) { publishCourse(id: $id) { errors { code message } } }"
COMPLETE_LESSON = """mutation($c: ID!, $l: ID!) {
  completeLesson(courseId: $c, lessonId: $l) { enrollment { status certificate { code } } }
}"""
VERIFY = "query($code: String!) { verifyCertificate(code: $code) { code holder { name } course { title } } }"


class Journey:
    def __init__(self, rest: str, router: str, web: str) -> None:
        self.rest_url, self.router_url, self.web_url = rest, router, web

    def rest(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = httpx.request(method, self.rest_url + path, headers=headers, timeout=30, **kwargs)
        assert response.is_success, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()["data"]

    def graphql(self, query: str, variables: dict[str, Any], token: str) -> dict[str, Any]:
        response = httpx.post(
            self.router_url,
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        body: dict[str, Any] = response.json()
        assert response.is_success, body
        assert not body.get("errors"), body
        data: dict[str, Any] = body["data"]
        return data

    def sign_in(self, email: str, name: str) -> dict[str, Any]:
        tokens: dict[str, Any] = self.rest("POST", "/auth/dev", json={"email": email, "name": name})
        return tokens

    def web_app(self) -> None:
        """The web app's page, its config, and every module its import map names: the image carries them."""
        page = httpx.get(self.web_url + "/app/", timeout=30)
        assert page.status_code == 200, f"GET /app/: {page.status_code}"
        found = re.search(r'<script type="importmap">(.*?)</script>', page.text, re.S)
        assert found, "the app's page has no import map"
        modules = json.loads(found.group(1))["imports"]
        for path in ["/app/config.json", "/app/main.js", *modules.values()]:
            response = httpx.get(self.web_url + path, timeout=30)
            assert response.status_code == 200, f"GET {path}: {response.status_code}"
        print(f"web app served with its {len(modules)} modules", file=sys.stderr)

    def run(self) -> str:
        self.web_app()
        tag = uuid.uuid4().hex[:8]
        admin = self.sign_in("admin@example.org", "Admin")
        teacher = self.sign_in(f"teacher-{tag}@example.org", "Smoke Teacher")
        self.rest(
            "PUT", f"/users/{teacher['user']['id']}", admin["access_token"], json={"role": "instructor"}
        )
        teacher = self.rest("POST", "/auth/refresh", json={"refresh_token": teacher["refresh_token"]})
        token = teacher["access_token"]
        print("signed in through REST (admin, instructor)", file=sys.stderr)

        lesson = {"title": "The only lesson", "content": "Containers, for real.", "mediaUrl": None}
        created = self.graphql(
            CREATE_COURSE,
            {
                "input": {
                    "title": f"Smoke {tag}",
                    "description": "",
                    "modules": [{"title": "M", "lessons": [lesson]}],
                }
            },
            token,
        )["createCourse"]
        assert not created["errors"], created
        course_id, lesson_id = created["course"]["id"], created["course"]["modules"][0]["lessons"][0]["id"]
        assert not self.graphql(PUBLISH_COURSE, {"id": course_id}, token)["publishCourse"]["errors"]

        content = png(50_000)
        media = self.rest(
            "POST", "/media/upload", token, files={"file": ("diagram.png", content, "image/png")}
        )
        url = self.rest("GET", f"/media/{media['id']}/url", token)["url"]
        try:
            fetched = httpx.get(url, timeout=30)  # from the host, as a browser would
        except httpx.HTTPError as error:
            raise AssertionError(f"download URL {url} not fetchable from the host: {error!r}") from error
        assert fetched.status_code == 200, (
            f"download URL {url} not fetchable from the host: {fetched.status_code}"
        )
        assert hashlib.sha256(fetched.content).hexdigest() == hashlib.sha256(content).hexdigest()
        print(f"uploaded and downloaded media from the host ({url.split('?')[0]})", file=sys.stderr)

        learner_email = f"learner-{tag}@example.org"
        learner = self.sign_in(learner_email, "Smoke Learner")["access_token"]
        self.rest("POST", f"/courses/{course_id}/enroll", learner)
        done = self.graphql(COMPLETE_LESSON, {"c": course_id, "l": lesson_id}, learner)
        enrollment = done["completeLesson"]["enrollment"]
        assert enrollment["status"] == "COMPLETED", enrollment
        assert enrollment["certificate"], enrollment
        code = enrollment["certificate"]["code"]
        certificate = self.graphql(VERIFY, {"code": code}, learner)["verifyCertificate"]
        assert certificate["holder"]["name"] == "Smoke Learner", certificate
        print(f"enrolled, completed the lesson, read certificate {code}", file=sys.stderr)
        return learner_email


def docker(*args: str) -> str:
    # Our own docker client with arguments from our manifests and the stack we started.
    return subprocess.run([DOCKER, *args], check=True, capture_output=True, text=True).stdout.strip()  # noqa: S603


def deployments() -> list[dict[str, Any]]:
    found = []
    for manifest in sorted((REPO / "deploy" / "kustomize" / "base").glob("*.yaml")):
        found += [d for d in yaml.safe_load_all(manifest.read_text()) if d and d["kind"] == "Deployment"]
    return found


def pod_check(deployment: dict[str, Any], network: str) -> list[str]:
    """Run the Deployment's container as its pod spec says; the probes it fails (empty: it passes)."""
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    context, security = pod["securityContext"], container["securityContext"]
    # What the flags below mirror: a manifest that stopped promising it fails here, not silently.
    assert security["readOnlyRootFilesystem"], security
    assert security["capabilities"]["drop"] == ["ALL"], security
    assert security["allowPrivilegeEscalation"] is False, security
    assert context["runAsNonRoot"], context
    empty_dirs = {v["name"] for v in pod.get("volumes", []) if "emptyDir" in v}
    tmpfs = [m["mountPath"] for m in container.get("volumeMounts", []) if m["name"] in empty_dirs]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    name = container["name"]
    # The compose service of the same name carries the settings (stores, secrets) this network needs.
    running = json.loads(docker("inspect", f"coursegraph-smoke-{name}-1"))[0]
    # No --init: the kubelet runs the entrypoint as PID 1 (and docker-init would show in `docker diff`).
    flags = ["--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges"]
    flags += ["--user", f"{context['runAsUser']}:{context['runAsGroup']}", "--network", network]
    flags += [f"--tmpfs={path}" for path in tmpfs]
    flags += [f"--env={line}" for line in running["Config"]["Env"]]
    flags += [f"-v={m['Source']}:{m['Destination']}:ro" for m in running["Mounts"] if m["Type"] == "bind"]
    flags += [f"--publish=127.0.0.1::{port}" for port in set(ports.values())]
    scratch = f"pod-check-{name}"
    docker(
        "run", "-d", "--rm", "--name", scratch, *flags, IMAGES[container["image"]], *container.get("args", [])
    )
    try:
        probes = [container[k]["httpGet"] for k in ("startupProbe", "livenessProbe", "readinessProbe")]
        failing = []
        for probe in probes:
            port = ports.get(probe["port"], probe["port"])
            host_port = docker("port", scratch, str(port)).splitlines()[0].rpartition(":")[2]
            url = f"http://127.0.0.1:{host_port}{probe['path']}"
            deadline, status = time.monotonic() + 90, None
            while time.monotonic() < deadline:
                try:
                    status = httpx.get(url, timeout=3).status_code
                except httpx.HTTPError as error:
                    status = type(error).__name__
                if status == 200:
                    break
                time.sleep(1)
            if status != 200:
                failing.append(f"{name}: {probe['path']} on port {port} answered {status}")
        # Read-only root: nothing may have changed in the container's own filesystem but the mount points
        # docker itself makes for the files it mounts (a secret under /run/secrets).
        mounted = [m["Destination"] for m in running["Mounts"] if m["Type"] == "bind"]
        changed = [
            line
            for line in docker("diff", scratch).splitlines()
            if not any(d == line[2:] or d.startswith(line[2:] + "/") for d in mounted)
        ]
        if changed:
            failing.append(f"{name}: wrote outside its tmpfs: {changed[:5]}")
        if failing:
            logs = subprocess.run([DOCKER, "logs", "--tail", "20", scratch], capture_output=True, text=True)  # noqa: S603
            print(logs.stdout + logs.stderr, file=sys.stderr)
        return failing
    finally:
        subprocess.run([DOCKER, "rm", "-f", scratch], capture_output=True, check=False)  # noqa: S603


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    journey = commands.add_parser("journey")
    journey.add_argument("--rest", required=True)
    journey.add_argument("--router", required=True)
    journey.add_argument("--web", required=True)
    pods = commands.add_parser("pods")
    pods.add_argument("--network", required=True)
    args = parser.parse_args()
    if args.command == "journey":
        print(Journey(args.rest, args.router, args.web).run())
        return
    failing = []
    for deployment in deployments():
        problems = pod_check(deployment, args.network)
        print(
            f"pod check {deployment['metadata']['name']}: {'ok' if not problems else 'FAILED'}",
            file=sys.stderr,
        )
        failing += problems
    if failing:
        sys.exit("pod-security check failed:\n  " + "\n  ".join(failing))


if __name__ == "__main__":
    main()
