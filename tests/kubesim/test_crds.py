"""CustomResourceDefinitions: apply one, then serve, print, patch and delete its objects."""

from __future__ import annotations

import json

from tests.kubesim.conftest import Kubectl

CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.shop.example.com}
spec:
  group: shop.example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd], categories: [all]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Color, type: string, jsonPath: .spec.color}
    - {name: Size, type: integer, jsonPath: .spec.size, priority: 1}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
"""

WIDGET = """\
apiVersion: shop.example.com/v1
kind: Widget
metadata: {name: w1, namespace: default}
spec: {color: COLOR, size: 3}
"""


def test_crd_lifecycle(kubectl: Kubectl) -> None:
    assert "created" in kubectl("apply", "-f", "-", stdin=CRD).stdout
    kubectl("wait", "--for=condition=Established", "crd/widgets.shop.example.com", "--timeout=10s")
    created = kubectl("apply", "-f", "-", stdin=WIDGET.replace("COLOR", "red")).stdout
    assert "widget.shop.example.com/w1 created" in created
    assert "unchanged" in kubectl("apply", "-f", "-", stdin=WIDGET.replace("COLOR", "red")).stdout
    assert "configured" in kubectl("apply", "-f", "-", stdin=WIDGET.replace("COLOR", "blue")).stdout
    rows = kubectl("get", "widgets").stdout.splitlines()
    assert rows[0].split() == ["NAME", "COLOR", "AGE"]
    assert rows[1].split()[:2] == ["w1", "blue"]
    wide = kubectl("get", "wd", "-o", "wide").stdout.splitlines()
    assert wide[0].split() == ["NAME", "COLOR", "SIZE", "AGE"] and wide[1].split()[2] == "3"
    assert "widget.shop.example.com/w1" in kubectl("get", "all").stdout
    resources = kubectl("api-resources", "--api-group=shop.example.com").stdout
    assert "widgets" in resources and "wd" in resources
    obj = json.loads(kubectl("get", "widget", "w1", "-o", "json").stdout)
    assert obj["spec"] == {"color": "blue", "size": 3} and obj["metadata"]["generation"] == 2
    kubectl("delete", "crd", "widgets.shop.example.com")
    gone = kubectl("get", "widgets", check=False)
    # kubectl still has the kind in its discovery cache; the server no longer serves it
    assert gone.returncode != 0 and "the server could not find the requested resource" in gone.stderr
