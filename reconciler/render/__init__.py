"""Desired policy -> the files Flux reads: canonical YAML, the managed tree's contract.

``canonical_yaml`` is the deterministic emitter; ``manifest.Renderer`` renders one policy to its
file's bytes (header, checksum line, document) and fingerprints it; ``tree`` is the on-disk
contract (folders, kustomization files, what is ours) and the read-only ``scan`` of a tree;
``templates`` loads the user's header and commit-message templates.

Pure but for ``tree.scan`` reading files. Imports ``desired`` and nothing else of ours but the
exception tree. Re-exports nothing: import from the modules.
"""
