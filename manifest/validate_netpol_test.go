package manifest

import "testing"

func TestValidateNetworkPolicy(t *testing.T) {
	const obj = "NetworkPolicy default/np"
	src := `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: np
  namespace: default
spec:
  podSelector:
    matchLabels: {app: web}
  policyTypes: [Ingress, Egress, Ingress, Sideways]
  ingress:
  - from:
    - podSelector: {matchLabels: {role: client}}
      namespaceSelector: {matchLabels: {team: a}}
    - ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16, 192.168.0.0/24, nope, 10.0.0.0/8]}
    - ipBlock: {cidr: 10.0.0.300/8}
    - ipBlock: {cidr: "fd00::/8"}
    - ipBlock: {cidr: 10.0.0.0/8}
      podSelector: {}
    - {}
    - podSelector:
        matchExpressions: [{key: app, operator: In}]
    ports:
    - {port: 80, endPort: 90}
    - {port: http, endPort: 90}
    - {endPort: 90}
    - {port: 100, endPort: 90}
    - {protocol: ICMP, port: 70000}
    - {protocol: UDP, port: dns}
  egress:
  - to:
    - namespaceSelector: {}
    ports:
    - {port: "-bad-"}
`
	e, i := "spec.egress[0].", "spec.ingress[0]."
	want := []wantErr{
		{File: "np.yaml", Line: 9, Object: obj, Field: "spec.policyTypes[2]", Msg: "listed twice"},
		{File: "np.yaml", Line: 9, Object: obj, Field: "spec.policyTypes[3]", Msg: "must be Ingress or Egress"},
		{File: "np.yaml", Line: 14, Object: obj, Field: i + "from[1].ipBlock.except[1]", Msg: "not strictly inside the cidr 10.0.0.0/8"},
		{File: "np.yaml", Line: 14, Object: obj, Field: i + "from[1].ipBlock.except[2]", Msg: `"nope" is not a CIDR`},
		{File: "np.yaml", Line: 14, Object: obj, Field: i + "from[1].ipBlock.except[3]", Msg: "not strictly inside"},
		{File: "np.yaml", Line: 15, Object: obj, Field: i + "from[2].ipBlock.cidr", Msg: "is not a CIDR"},
		{File: "np.yaml", Line: 16, Object: obj, Field: i + "from[3].ipBlock.cidr", Msg: "IPv6 is not supported"},
		{File: "np.yaml", Line: 17, Object: obj, Field: i + "from[4]", Msg: "ipBlock cannot be combined"},
		{File: "np.yaml", Line: 19, Object: obj, Field: i + "from[5]", Msg: "a peer needs"},
		{File: "np.yaml", Line: 20, Object: obj, Field: i + "from[6].podSelector", Msg: "invalid selector"},
		{File: "np.yaml", Line: 24, Object: obj, Field: i + "ports[1].endPort", Msg: "needs a numeric port"},
		{File: "np.yaml", Line: 25, Object: obj, Field: i + "ports[2].endPort", Msg: "needs a numeric port"},
		{File: "np.yaml", Line: 26, Object: obj, Field: i + "ports[3].endPort", Msg: "endPort 90 is below port 100"},
		{File: "np.yaml", Line: 27, Object: obj, Field: i + "ports[4].port", Msg: "between 1 and 65535"},
		{File: "np.yaml", Line: 27, Object: obj, Field: i + "ports[4].protocol", Msg: "must be TCP, UDP or SCTP"},
		{File: "np.yaml", Line: 33, Object: obj, Field: e + "ports[0].port", Msg: "hyphen"},
	}
	checkErrors(t, Validate(decodeAll(t, map[string]string{"np.yaml": src})), want)
}

func TestValidateNetworkPolicyAccepted(t *testing.T) {
	src := `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: np, namespace: default}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {team: a}}
      podSelector: {matchLabels: {role: client}}
    - ipBlock: {cidr: 10.42.0.0/16, except: [10.42.1.0/24]}
    ports:
    - {protocol: TCP, port: 8000, endPort: 8100}
    - {port: http}
  egress:
  - {}
`
	checkErrors(t, Validate(decodeAll(t, map[string]string{"np.yaml": src})), nil)
}
