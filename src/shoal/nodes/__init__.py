"""Node management on every cluster (R16): list, detail, cordon/uncordon, drain, labels, taints, remove.

Created and imported clusters alike: every call goes through ``shoal.kube``
(``kube.nodes`` for nodes, pods, evictions and disruption budgets).

Modules
    ``validation``  label keys/values and taints by Kubernetes' own rules; kubectl's ``k=v``/``k-`` syntax
    ``sync``        node records (``cluster_nodes``) kept in step with the cluster; statuses
    ``drain``       which pods a drain touches and why; the ``shoal-DrainNodes`` task and its steps
    ``service``     list, detail, cordon, drain, labels, taints, remove (authorisation, audit)
"""
