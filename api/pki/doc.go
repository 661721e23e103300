// Package pki is the cluster's small certificate authority for remote node
// agents, in the manner of k3s and the kubelet's client certificates.
//
// At its first start with --agent-listen, tugd creates an ECDSA P-256 CA
// under <data-dir>/pki (ca.crt, ca.key, mode 0600 for keys) and a serving
// certificate (server.crt, server.key) whose SANs are the listener's host
// and 127.0.0.1; the serving certificate is re-issued when the names change
// or it nears expiry. `tugd issue-node-cert` calls CA.IssueNode, which
// writes ca.crt, node.crt and node.key for one node: CN=system:node:NAME,
// O=system:nodes, client-auth only, valid one year.
//
// The agent listener requires and verifies a client certificate signed by
// the CA (ServerTLS); NodeName turns a verified certificate into the node
// identity that the API's NodeRestriction rules check. A node trusts only
// the CA in its certificate directory (ClientTLS).
//
// Logs flow the other way, as from kube-apiserver to the kubelet: IssueNode
// also writes node-serving.crt/key (CN=system:node:NAME, server-auth, the
// node's name as DNS SAN), which the node's log listener serves with
// (NodeServingTLS); the server connects with server-client.crt/key from its
// PKI directory (ServerClientCertificate: CN=system:tug-server,
// O=system:masters), verifying the node's certificate against the CA under
// the node's name (NodeLogClientTLS with ServerName set). The listener
// serves only that client (IsServerClient): a node cannot read another's
// logs.
package pki
