"""``kubesim serve``: run the simulator as a process for benchmarks, demos and scripts.

Writes ``DIR/ca.crt`` and, per virtual cluster, ``admin.kubeconfig``,
``viewer.kubeconfig`` and ``admin-cert.kubeconfig`` (in ``DIR`` for one cluster,
in ``DIR/<cluster>/`` for several), then prints one line::

    kubesim ready url=https://127.0.0.1:PORT clusters=K out=DIR

Clusters share the port and are addressed as ``URL/clusters/<name>``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from kubesim.runner import Simulator

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kubesim", description="In-memory Kubernetes API server.")
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the simulated API over HTTPS")
    serve.add_argument("--host", default="127.0.0.1", help="listen address (loopback by default)")
    serve.add_argument("--port", type=int, default=0, help="listen port (0 = any free port)")
    serve.add_argument("--nodes", type=int, default=3, help="nodes per virtual cluster")
    serve.add_argument("--clusters", type=int, default=1, help="number of virtual clusters")
    serve.add_argument("--out", required=True, help="directory for ca.crt and kubeconfigs")
    serve.add_argument("--heartbeat", type=float, default=10.0,
                       help="seconds between node lease renewals (0 = none)")
    serve.add_argument("--identity-seed", default=None,
                       help="derive kube-system UIDs from this seed (same seed = same cluster identity)")
    serve.add_argument("--no-workloads", action="store_true",
                       help="skip the seeded kube-proxy DaemonSet and coredns Deployment")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    sim = Simulator(nodes=args.nodes, clusters=args.clusters, host=args.host, port=args.port,
                    out_dir=args.out, seed_workloads=not args.no_workloads, heartbeat=args.heartbeat,
                    identity_seed=args.identity_seed)

    async def run() -> None:
        serving = asyncio.ensure_future(sim.serve())
        while sim._server is None or not sim._server.started:
            if serving.done():
                serving.result()
                return
            await asyncio.sleep(0.02)
        print(f"kubesim ready url={sim.url} clusters={len(sim.clusters)} out={sim.out_dir}", flush=True)
        await serving

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
