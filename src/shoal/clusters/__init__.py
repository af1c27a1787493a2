"""Managed clusters (R9, R12, R17, R19, R20): import by kubeconfig, lifecycle, health, overview.

Modules
    ``models``    tables: clusters, cluster_nodes, cluster_id_counters
    ``settings``  ``ClusterSettings`` (SHOAL_CLUSTER_*): check timeouts, health loop pacing
    ``check``     the kubeconfig check (R19): parse -> DNS -> TCP -> TLS -> /version -> authn ->
                  cluster-admin -> duplicate -> client certificate expiry
    ``service``   import, list, show, rotate the credential, delete (authorisation, audit)
    ``importing`` the import task's steps (sync cluster info, sync nodes) and its on-finish hook
    ``health``    the health loop flipping RUNNING <-> CONNECT-FAILURE
    ``overview``  the live overview of a cluster (R12)
"""
