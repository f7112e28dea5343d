"""The CRD schemas ``validate.structure`` checks against, shipped as package data.

One JSON file per Cilium release and kind: ``cnp-<version>.json`` (CiliumNetworkPolicy) and
``ccnp-<version>.json`` (CiliumClusterwideNetworkPolicy), each the ``openAPIV3Schema`` of the
CRD's ``v2`` version with descriptions removed. ``extract`` (re)writes them from the CRD files
of a Cilium checkout and, with ``--check``, tells CI when the shipped copies are stale.
"""
