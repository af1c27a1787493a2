"""The kube API gateway (R5, R20): ``/clusters/{clusterId}/…`` with each user's rights.

``kubectl`` (with a per-user kubeconfig), the web console and scripts reach every
managed cluster through one address. The gateway authenticates the Shoal user
(an API token or a short-lived gateway token), authorises the request by the
user's project role through ``iam.authz.require``, and forwards it with the
cluster's stored credential — impersonating the user so the cluster's own RBAC
and audit see the real person — streaming both ways without buffering.

Modules
    ``requestinfo``  a Kubernetes request path -> verb, resource, namespace; the verb -> Shoal action
    ``status``       refusals as Kubernetes ``Status`` objects (so kubectl prints a clean message)
    ``tokens``       gateway tokens: issue, resolve, list, revoke (``api_tokens`` rows of kind ``gateway``)
    ``lookup``       caller and cluster resolution with short-lived caches
    ``audit``        batched, sampled audit of every proxied request
    ``proxy``        the plain ASGI application (HTTP streaming and websocket relay)
    ``kubeconfig``   the per-user kubeconfig pointing at the gateway
    ``tls``          the generated CA and certificate HTTPS uses by default; certificate expiry
    ``models``       per-cluster gateway settings (impersonation)

Nothing here imports HTTP types at package import time, so ``store.metadata``
can import ``gateway.models`` without pulling in the web stack.
"""
