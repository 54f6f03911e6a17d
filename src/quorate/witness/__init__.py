"""`quorate witness`: the quorum witness daemon, a third machine that breaks ties for clusters without shared storage.

The decisions are the pure arbiter's (`quorate.core.witness_server`); this package is its shell: the clusters it
serves (`clusters`), the authenticated UDP service (`service`) and the command line (`cli`).
"""
