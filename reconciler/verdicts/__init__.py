"""Verdicts: the answer Cilium gives to one flow, worked out offline from the policy files.

The enforcement model and what is built on it, one module per step, pure (no git, no disk, no
network: callers hand over parsed documents and flow lines):

* ``identity``      endpoints and the security identity (labels) each side sees of the other;
* ``selectors``     Kubernetes label selectors with Cilium's label sources (``k8s:``, ``any:``);
* ``ports``         ports, named ports, ``endPort`` ranges, protocols and ICMP types;
* ``l7``            HTTP rules (Envoy's RE2 full matches) and DNS names and patterns;
* ``rules``         a CiliumNetworkPolicy or CiliumClusterwideNetworkPolicy read into rules,
                    with Cilium's namespace scoping of selectors (``ParseToCiliumRule``);
* ``netpol``        a Kubernetes NetworkPolicy translated as Cilium translates it;
* ``subjects``      the rules indexed by who they can select, and each endpoint's view;
* ``engine``        the verdict of a flow (both the source's egress and the destination's
                    ingress), with the policy and rule that decided it, or "cannot decide";
                    ``requests`` decides the request (L7) on an allowed connection and
                    ``verdict`` holds the question and the answer;
* ``policy_files``  policy documents found in file contents (what ``test``, ``replay`` and the
                    review hand over), and the engine built on them;
* ``policytest``    the PolicyTest file format and its run; ``policytest_formats`` prints it;
* ``hubble``        Hubble flow lines (``-o jsonpb`` or ``-o json``) deduplicated into flows;
* ``replaying``     those flows under two revisions (or one, against what Hubble recorded);
  ``replay_formats`` prints it;
* ``workloads`` and ``reachability``: the pod templates of a repository and the pairs whose
  end-to-end verdict a change flips, for the review's "What can now reach what".

Uses ``validate`` (the YAML reader and the text escapes); used by ``review`` and ``commands``.
Re-exports nothing: import from the modules.
"""
