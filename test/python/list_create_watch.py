"""The official Python client against the API double: list, create and watch through a kubeconfig.

Run by test/kube-double/python.test.ts with Debian's /usr/bin/python3 and python3-kubernetes.
Usage: list_create_watch.py KUBECONFIG NAMESPACE. Prints one line per step; exits non-zero on failure.
"""
import sys
import threading

from kubernetes import client, config, watch


def main() -> None:
    kubeconfig, namespace = sys.argv[1], sys.argv[2]
    config.load_kube_config(config_file=kubeconfig)
    core = client.CoreV1Api()

    names = sorted(ns.metadata.name for ns in core.list_namespace().items)
    print("namespaces " + ",".join(names), flush=True)

    created = core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="from-python", labels={"made-by": "python"}), data={"k": "v"})
    )
    print("created " + created.metadata.name + " uid=" + ("yes" if created.metadata.uid else "no"), flush=True)

    listed = core.list_namespaced_config_map(namespace, label_selector="made-by=python")
    print("listed " + ",".join(cm.metadata.name for cm in listed.items), flush=True)

    w = watch.Watch()
    seen = []

    def later() -> None:
        core.create_namespaced_config_map(namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="watched", labels={"made-by": "python"})))

    timer = threading.Timer(0.5, later)
    timer.start()
    for event in w.stream(core.list_namespaced_config_map, namespace, label_selector="made-by=python",
                          resource_version=listed.metadata.resource_version, timeout_seconds=10):
        seen.append(event["type"] + " " + event["object"].metadata.name)
        if event["object"].metadata.name == "watched":
            w.stop()
    timer.join()
    print("watched " + ",".join(seen), flush=True)


if __name__ == "__main__":
    main()
