package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/tug-dev/tug/api/pki"
)

// issueNodeCertCommand is `tugd issue-node-cert`: a client certificate a
// remote node agent presents to --agent-listen.
func issueNodeCertCommand() *cobra.Command {
	var dataDir, node, out string
	cmd := &cobra.Command{
		Use:   "issue-node-cert --node NAME --out DIR",
		Short: "write ca.crt, node.crt/key (client, CN=system:node:NAME, O=system:nodes) and node-serving.crt/key (its log listener) for a remote node agent",
		Long: `issue-node-cert signs a client certificate for one node with the cluster CA
under --data-dir/pki (creating the CA at the first use, as the server does at its
first start with --agent-listen). Copy DIR to the node and start it with
tugd agent --server https://SERVER:7444 --cert-dir DIR --node-name NAME.`,
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if node == "" || out == "" {
				return errors.New("--node and --out are required")
			}
			ca, err := pki.LoadOrCreateCA(filepath.Join(dataDir, "pki"), time.Now())
			if err != nil {
				return err
			}
			if err := ca.IssueNode(node, out, time.Now()); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s, %s, %s, %s and %s for node %s to %s\n", pki.CACert, pki.NodeCert, pki.NodeKey, pki.NodeServingCert, pki.NodeServingKey, node, out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data-dir", "/var/lib/tug", "the server's data directory (its CA is under pki/)")
	f.StringVar(&node, "node", "", "name of the node, as it registers (its --node-name)")
	f.StringVar(&out, "out", "", "directory to write the certificate files to (created, mode 0700)")
	return cmd
}
