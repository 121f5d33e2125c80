"""For the Python integration tests: run under tests/integ/lib.sh's harness.

    import pyharness; pyharness.under_lib_sh(__file__)    # first thing, before other imports

The first call re-runs the script under bash with the Ceph cluster and s3lb up (lib.sh's
need_ceph, cluster_up, s3lb_up), so setup, teardown and the environment (S3LB_ENDPOINT,
S3LB_HOST, S3LB_PORT, S3LB_PID, credentials, INTEG_TMP) are the same as for the shell tests; in
that child it returns at once.
"""
import os
import sys


def under_lib_sh(script, python=None):
    if os.environ.get("S3LB_INTEG_CHILD") == "1":
        return
    here = os.path.dirname(os.path.abspath(__file__))
    wrapper = (
        'set -euo pipefail; . "$1"; shift; need_ceph; cluster_up; s3lb_up; '
        'rc=0; S3LB_INTEG_CHILD=1 "$@" || rc=$?; exit "$rc"'
    )
    os.environ["S3LB_INTEG_NAME"] = os.path.basename(script)
    os.execvp("bash", ["bash", "-c", wrapper, "bash", os.path.join(here, "lib.sh"),
                       python or sys.executable, os.path.abspath(script)] + sys.argv[1:])
